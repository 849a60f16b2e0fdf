#include "hal/driver_registry.h"

#include <atomic>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace spk::hal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FakeDevice final : public Device {
 public:
  explicit FakeDevice(DeviceInfo info) : info_(std::move(info)) {}
  const DeviceInfo& info() const override { return info_; }
  Status Reset() override { return Status::Ok(); }
  StatusOr<ProgramId> Load(const format::BoardImage&, const Partition&) override {
    return UnimplementedError("fake");
  }
  Status Unload(ProgramId) override { return UnimplementedError("fake"); }
  Status ResetState(ProgramId) override { return UnimplementedError("fake"); }
  Status WriteInputs(ProgramId, uint32_t, uint32_t, std::span<const int32_t>) override {
    return UnimplementedError("fake");
  }
  StatusOr<RunStats> Run(ProgramId, uint32_t) override { return UnimplementedError("fake"); }
  StatusOr<std::vector<int32_t>> ReadOutputs(ProgramId, uint32_t) override {
    return UnimplementedError("fake");
  }
  StatusOr<Telemetry> ReadTelemetry() override { return Telemetry{}; }
  Health CheckHealth() override { return Health{}; }

 private:
  DeviceInfo info_;
};

// A driver with a fixed list of devices, or a bus that fails to scan.
class FakeDriver final : public Driver {
 public:
  FakeDriver(std::string name, std::vector<std::string> ids, Status scan = Status())
      : name_(std::move(name)), ids_(std::move(ids)), scan_(std::move(scan)) {}
  std::string_view name() const override { return name_; }
  StatusOr<std::vector<DeviceDescriptor>> Enumerate() override {
    ++enumerations;
    if (!scan_.ok()) return scan_;
    std::vector<DeviceDescriptor> out;
    for (const std::string& id : ids_) out.push_back({.id = id, .description = "fake " + id});
    return out;
  }
  StatusOr<std::unique_ptr<Device>> Open(std::string_view id) override {
    for (const std::string& known : ids_) {
      if (known == id) {
        DeviceInfo info;
        info.id = known;
        info.driver = name_;
        return std::unique_ptr<Device>(std::make_unique<FakeDevice>(info));
      }
    }
    return NotFoundError("no device " + std::string(id));
  }
  void SetHotplugListener(HotplugListener listener) override {
    std::lock_guard<std::mutex> lock(mu_);
    listener_ = std::move(listener);
  }
  // What the driver's bus thread would do on an arrival or a removal.
  void Fire(const std::string& id, HotplugEvent event) {
    std::lock_guard<std::mutex> lock(mu_);
    if (listener_) listener_({.id = id}, event);
  }
  std::atomic<int> enumerations{0};

 private:
  std::string name_;
  std::vector<std::string> ids_;
  Status scan_;
  std::mutex mu_;
  HotplugListener listener_;  // guarded by mu_
};

// A driver of boards that never come or go: it keeps Driver's default.
class FixedDriver final : public Driver {
 public:
  std::string_view name() const override { return "fixed"; }
  StatusOr<std::vector<DeviceDescriptor>> Enumerate() override {
    return std::vector<DeviceDescriptor>{};
  }
  StatusOr<std::unique_ptr<Device>> Open(std::string_view) override {
    return NotFoundError("none");
  }
};

TEST(DriverRegistryTest, RegistersAndFindsDrivers) {
  DriverRegistry registry;
  ASSERT_TRUE(
      registry.Register(std::make_unique<FakeDriver>("sim", std::vector<std::string>{"sim0"}))
          .ok());
  ASSERT_TRUE(
      registry.Register(std::make_unique<FakeDriver>("loihi3", std::vector<std::string>{})).ok());
  EXPECT_THAT(registry.DriverNames(), ElementsAre("loihi3", "sim"));
  auto sim = registry.Find("sim");
  ASSERT_TRUE(sim.ok());
  EXPECT_EQ((*sim)->name(), "sim");
  auto missing = registry.Find("cuda");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("no driver \"cuda\" (registered: loihi3, sim)"));
}

TEST(DriverRegistryTest, DuplicateAndInvalidRegistrationsAreRefused) {
  DriverRegistry registry;
  ASSERT_TRUE(
      registry.Register(std::make_unique<FakeDriver>("sim", std::vector<std::string>{"a"})).ok());
  Status again =
      registry.Register(std::make_unique<FakeDriver>("sim", std::vector<std::string>{"b"}));
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(again.message()), HasSubstr("\"sim\""));
  // The first registration stays.
  EXPECT_TRUE(registry.Open("sim", "a").ok());
  EXPECT_EQ(registry.Register(nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Register(std::make_unique<FakeDriver>("", std::vector<std::string>{})).code(),
            StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(DriverRegistry().Find("x").status().message()),
              HasSubstr("registered: none"));
}

TEST(DriverRegistryTest, EnumeratesAcrossDriversAndKeepsGoingPastFailures) {
  DriverRegistry registry;
  ASSERT_TRUE(
      registry
          .Register(std::make_unique<FakeDriver>("sim", std::vector<std::string>{"sim0", "sim1"}))
          .ok());
  ASSERT_TRUE(registry
                  .Register(std::make_unique<FakeDriver>("loihi3", std::vector<std::string>{},
                                                         UnavailableError("no USB access")))
                  .ok());
  ASSERT_TRUE(
      registry.Register(std::make_unique<FakeDriver>("virtual", std::vector<std::string>{"vb0"}))
          .ok());
  Enumeration found = registry.EnumerateAll();
  ASSERT_EQ(found.devices.size(), 3u);
  EXPECT_EQ(found.devices[0].driver, "sim");
  EXPECT_EQ(found.devices[0].id, "sim0");
  EXPECT_EQ(found.devices[1].id, "sim1");
  EXPECT_EQ(found.devices[2].driver, "virtual");
  EXPECT_EQ(found.devices[2].description, "fake vb0");
  ASSERT_EQ(found.errors.size(), 1u);
  EXPECT_EQ(found.errors[0].code(), StatusCode::kUnavailable);
  EXPECT_EQ(found.errors[0].message(), "driver \"loihi3\": no USB access");
}

TEST(DriverRegistryTest, OpensByNameAndByUri) {
  DriverRegistry registry;
  ASSERT_TRUE(
      registry.Register(std::make_unique<FakeDriver>("sim", std::vector<std::string>{"sim0"}))
          .ok());
  auto device = registry.Open("sim", "sim0");
  ASSERT_TRUE(device.ok()) << device.status();
  EXPECT_EQ((*device)->info().id, "sim0");
  auto by_uri = registry.OpenUri("sim:sim0");
  ASSERT_TRUE(by_uri.ok());
  EXPECT_EQ((*by_uri)->info().driver, "sim");
  EXPECT_EQ(registry.Open("sim", "sim9").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(registry.Open("usb", "x").status().code(), StatusCode::kNotFound);
  for (const char* bad : {"sim0", ":sim0", "sim:", ""}) {
    EXPECT_EQ(registry.OpenUri(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(DriverRegistryTest, HotplugEventsReachTheListenerNamedByDriver) {
  DriverRegistry registry;
  auto owned = std::make_unique<FakeDriver>("loihi3", std::vector<std::string>{});
  FakeDriver* usb = owned.get();
  ASSERT_TRUE(registry.Register(std::move(owned)).ok());
  ASSERT_TRUE(registry.Register(std::make_unique<FixedDriver>()).ok());
  std::vector<std::pair<DeviceDescriptor, HotplugEvent>> seen;
  registry.SetHotplugListener(
      [&](const DeviceDescriptor& board, HotplugEvent event) { seen.emplace_back(board, event); });
  usb->Fire("usb-1-4", HotplugEvent::kLeft);
  usb->Fire("usb-1-4", HotplugEvent::kArrived);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].first.id, "usb-1-4");
  EXPECT_EQ(seen[0].first.driver, "loihi3");
  EXPECT_EQ(seen[0].second, HotplugEvent::kLeft);
  EXPECT_EQ(seen[1].second, HotplugEvent::kArrived);
  // An empty listener stops the calls.
  registry.SetHotplugListener(nullptr);
  usb->Fire("usb-1-4", HotplugEvent::kLeft);
  EXPECT_EQ(seen.size(), 2u);
}

TEST(DriverRegistryTest, ConcurrentUseIsSafe) {
  DriverRegistry registry;
  std::vector<std::thread> threads;
  std::atomic<int> registered{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        std::string name = "d" + std::to_string(i % 10);
        if (registry.Register(std::make_unique<FakeDriver>(name, std::vector<std::string>{"x"}))
                .ok()) {
          ++registered;
        }
        (void)registry.Find(name);
        Enumeration e = registry.EnumerateAll();
        EXPECT_TRUE(e.errors.empty());
        (void)registry.Open(name, "x");
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(registered.load(), 10);
  EXPECT_EQ(registry.DriverNames().size(), 10u);
}

}  // namespace
}  // namespace spk::hal

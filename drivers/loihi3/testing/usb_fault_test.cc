// Faults injected through the virtual board and the umockdev testbed, seen
// through the real driver and libusb: unplug mid-transfer, stalled
// endpoints, a hung board, corrupt answers, a failing self-test, and boards
// of versions the driver cannot drive.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "drivers/loihi3/testing/usb_testbed.h"
#include "drivers/loihi3/usb_driver.h"
#include "hal/cts/echo_image.h"
#include "hal/driver_registry.h"
#include "sim/sim_test_util.h"

namespace spk::loihi3 {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kSteps = 8;

class UsbFaultTest : public ::testing::Test {
 protected:
  void TearDown() override {
    device_.reset();
    driver_.reset();
    testbed_.reset();
  }

  // A two-chip test board behind the testbed, and the driver (not opened).
  void Plug(VirtualBoardOptions board_options = {}, UsbDriverOptions driver_options = Options()) {
    auto board = VirtualBoard::Create(sim::testing::TestChip(), sim::testing::TestBoard(2),
                                      std::move(board_options));
    ASSERT_TRUE(board.ok()) << board.status();
    auto testbed = testing::UsbTestbed::Create(std::move(board).value());
    ASSERT_TRUE(testbed.ok()) << testbed.status();
    testbed_ = std::move(testbed).value();
    auto driver = UsbDriver::Create(driver_options);
    ASSERT_TRUE(driver.ok()) << driver.status();
    driver_ = std::move(driver).value();
  }

  // Timeouts long enough that a loaded CI machine does not trip them on
  // healthy traffic; the hung-board test shortens its own.
  static UsbDriverOptions Options() {
    UsbDriverOptions o;
    o.hotplug = false;
    o.link.timeout = std::chrono::milliseconds(2000);
    o.link.reset_timeout = std::chrono::milliseconds(4000);
    o.link.retries = 3;
    return o;
  }

  StatusOr<std::unique_ptr<hal::Device>> OpenOnly() {
    SPK_ASSIGN_OR_RETURN(auto found, driver_->Enumerate());
    if (found.size() != 1) return NotFoundError("expected one board");
    return driver_->Open(found[0].id);
  }

  // Plugs, opens, and loads a one-core echo program.
  void Open(VirtualBoardOptions board_options = {}, UsbDriverOptions driver_options = Options()) {
    Plug(std::move(board_options), driver_options);
    if (HasFatalFailure()) return;
    auto device = OpenOnly();
    ASSERT_TRUE(device.ok()) << device.status();
    device_ = std::move(device).value();
    usb_ = static_cast<UsbDevice*>(device_.get());
    auto program = device_->Load(hal::cts::MakeEchoImage("test", 1), hal::Partition{{0}});
    ASSERT_TRUE(program.ok()) << program.status();
    program_ = *program;
  }

  // One echo run; checks the output when it succeeds.
  Status EchoRun(uint32_t seed) {
    const std::vector<int32_t> input = hal::cts::MakeEchoInput(seed, kSteps);
    SPK_RETURN_IF_ERROR(device_->ResetState(program_));
    SPK_RETURN_IF_ERROR(device_->WriteInputs(program_, 0, kSteps, input));
    SPK_ASSIGN_OR_RETURN(hal::RunStats stats, device_->Run(program_, kSteps));
    SPK_ASSIGN_OR_RETURN(std::vector<int32_t> out, device_->ReadOutputs(program_, 0));
    EXPECT_EQ(stats.steps, kSteps);
    EXPECT_EQ(out, hal::cts::ExpectedEchoOutput(input, kSteps, 1));
    return Status::Ok();
  }

  std::unique_ptr<testing::UsbTestbed> testbed_;
  std::unique_ptr<UsbDriver> driver_;
  std::unique_ptr<hal::Device> device_;
  UsbDevice* usb_ = nullptr;  // device_, as the USB device it is
  hal::ProgramId program_ = 0;
};

TEST_F(UsbFaultTest, BoardIsFoundByTheConfiguredIdsOnly) {
  UsbDriverOptions other = Options();
  other.product_id = 0x0002;
  Plug({}, other);
  auto found = driver_->Enumerate();
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found->empty());
  EXPECT_EQ(driver_->Open("usb-1-4").status().code(), StatusCode::kNotFound);
}

// The udev rule in systemd/ hands exactly the driver's default ids to the
// spiked group: a change to one without the other would leave boards
// unreadable to the daemon.
TEST(UdevRuleTest, GivesTheDriversDefaultIdsToTheSpikedGroup) {
  std::ifstream in(SPK_SOURCE_DIR "/systemd/70-spiked.rules");
  ASSERT_TRUE(in) << "cannot read systemd/70-spiked.rules";
  std::stringstream text;
  text << in.rdbuf();
  char ids[64];
  std::snprintf(ids, sizeof ids, "ATTR{idVendor}==\"%04x\", ATTR{idProduct}==\"%04x\"",
                kDefaultVendorId, kDefaultProductId);
  EXPECT_THAT(text.str(), HasSubstr(ids));
  EXPECT_THAT(text.str(), HasSubstr("GROUP=\"spiked\", MODE=\"0660\""));
  EXPECT_THAT(text.str(), ::testing::Not(HasSubstr("TAG+=\"uaccess\"")));
}

TEST_F(UsbFaultTest, RegisteredInTheHalLikeAnyDriver) {
  Plug();
  driver_.reset();
  hal::DriverRegistry registry;
  ASSERT_TRUE(RegisterLoihi3Driver(registry, Options()).ok());
  EXPECT_EQ(registry.DriverNames(), std::vector<std::string>{"loihi3"});
  hal::Enumeration all = registry.EnumerateAll();
  ASSERT_EQ(all.devices.size(), 1u);
  EXPECT_EQ(all.devices[0].driver, "loihi3");
  auto device = registry.OpenUri("loihi3:" + all.devices[0].id);
  ASSERT_TRUE(device.ok()) << device.status();
  EXPECT_EQ((*device)->info().serial, "VB-0001");
  EXPECT_EQ(registry.OpenUri("loihi3:" + all.devices[0].id).status().code(),
            StatusCode::kUnavailable);  // open already
}

TEST_F(UsbFaultTest, UnplugMidTransferIsUnavailableAndGone) {
  Open();
  ASSERT_TRUE(EchoRun(1).ok());
  testbed_->UnplugDuringNextRead();
  const Status run = device_->Run(program_, kSteps).status();
  EXPECT_EQ(run.code(), StatusCode::kUnavailable) << run;
  EXPECT_THAT(std::string(run.message()), HasSubstr("unplugged"));
  EXPECT_THAT(std::string(run.message()), HasSubstr("RUN program"));
  EXPECT_EQ(device_->CheckHealth().state, hal::HealthState::kGone);
  EXPECT_EQ(device_->ReadTelemetry().status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(device_->Reset().code(), StatusCode::kUnavailable);
}

TEST_F(UsbFaultTest, HotplugRemovalAndArrival) {
  UsbDriverOptions options = Options();
  options.hotplug = true;
  Open({}, options);
  if (!driver_->hotplug_active()) GTEST_SKIP() << "this libusb has no hotplug support";
  // Shared with the listener, which may outlive this scope if an assertion
  // returns early.
  struct Events {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::pair<std::string, bool>> seen;
  };
  auto shared = std::make_shared<Events>();
  driver_->SetHotplugListener(
      [shared](const hal::DeviceDescriptor& board, hal::HotplugEvent event) {
        std::lock_guard<std::mutex> lock(shared->mu);
        shared->seen.emplace_back(board.id, event == hal::HotplugEvent::kArrived);
        shared->cv.notify_all();
      });
  std::mutex& mu = shared->mu;
  std::condition_variable& cv = shared->cv;
  std::vector<std::pair<std::string, bool>>& events = shared->seen;
  testbed_->Unplug();
  {
    std::unique_lock<std::mutex> lock(mu);
    // Generous: only a lost event makes this wait the whole time.
    cv.wait_for(lock, std::chrono::seconds(20), [&] { return !events.empty(); });
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].first, device_->info().id);
    EXPECT_FALSE(events[0].second);
  }
  EXPECT_EQ(device_->CheckHealth().state, hal::HealthState::kGone);
  EXPECT_EQ(device_->Run(program_, 1).status().code(), StatusCode::kUnavailable);

  // Plugged back in: the arrival is reported, and the board opens again
  // once the gone device is closed.
  const std::string id = device_->info().id;
  device_.reset();
  testbed_->Replug();
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(20), [&] { return events.size() >= 2; });
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1].first, id);
    EXPECT_TRUE(events[1].second);
  }
  auto again = driver_->Open(id);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->CheckHealth().state, hal::HealthState::kOk);
}

TEST_F(UsbFaultTest, StalledEndpointsAreClearedAndRetried) {
  Open();
  testbed_->StallNext(/*in=*/false);
  ASSERT_TRUE(EchoRun(2).ok());
  EXPECT_EQ(usb_->retries(), 1u);
  testbed_->StallNext(/*in=*/true);
  ASSERT_TRUE(EchoRun(3).ok());
  EXPECT_EQ(usb_->retries(), 2u);
  // A stall that does not clear gives up after the bounded retries.
  testbed_->StallNext(/*in=*/false, 100);
  const Status s = device_->Run(program_, kSteps).status();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("stalled"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("4 attempts"));
}

TEST_F(UsbFaultTest, HungBoardTimesOutNamingBoardAndStep) {
  UsbDriverOptions quick = Options();
  quick.link.timeout = std::chrono::milliseconds(300);
  Open({}, quick);
  testbed_->board().SetFaults({.hang = true});
  const Status s = device_->Run(program_, kSteps).status();
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("usb-1-4"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("VB-0001"));
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("RUN program " + std::to_string(program_) + ", 8 steps"));
  EXPECT_EQ(device_->CheckHealth().state, hal::HealthState::kDegraded);
  // Once the board answers again, so does the device.
  testbed_->board().SetFaults({});
  EXPECT_TRUE(EchoRun(4).ok());
  EXPECT_EQ(device_->CheckHealth().state, hal::HealthState::kOk);
}

TEST_F(UsbFaultTest, CorruptAnswerIsAskedAgainAndNotExecutedTwice) {
  Open();
  auto before = device_->ReadTelemetry();
  ASSERT_TRUE(before.ok());
  testbed_->board().SetFaults({.corrupt_responses = 1});
  ASSERT_TRUE(device_->Run(program_, kSteps).ok());
  EXPECT_EQ(usb_->retries(), 1u);
  EXPECT_EQ(testbed_->board().counters().replayed, 1u);
  auto after = device_->ReadTelemetry();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->steps_total, before->steps_total + kSteps) << "the RUN ran twice";
  // Answers that never arrive intact: DATA_LOSS after the bounded retries.
  testbed_->board().SetFaults({.corrupt_responses = 100});
  const Status s = device_->Run(program_, kSteps).status();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("CRC"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("4 attempts"));
  testbed_->board().SetFaults({});
  EXPECT_TRUE(EchoRun(5).ok());
}

// A checked reset waits for the board to answer again after its port reset
// (re-enumeration), within reset_timeout, then identifies and self-tests it.
TEST_F(UsbFaultTest, ResetWaitsForTheBoardToComeBack) {
  UsbDriverOptions options = Options();
  options.link.timeout = std::chrono::milliseconds(300);
  options.link.reset_timeout = std::chrono::milliseconds(8000);
  Open({}, options);
  // More than one IDENTIFY's attempts: the reset must ask again.
  testbed_->IgnoreRequestsAfterReset(options.link.retries + 2);
  const uint64_t resets = testbed_->board().counters().resets;
  ASSERT_TRUE(device_->Reset().ok());
  EXPECT_EQ(testbed_->board().counters().resets, resets + 1);
  EXPECT_EQ(device_->CheckHealth().state, hal::HealthState::kOk);
  auto program = device_->Load(hal::cts::MakeEchoImage("test", 1), hal::Partition{{0}});
  ASSERT_TRUE(program.ok()) << program.status();
  program_ = *program;
  EXPECT_TRUE(EchoRun(3).ok());
}

TEST_F(UsbFaultTest, ResetOfABoardThatDoesNotComeBackFails) {
  UsbDriverOptions options = Options();
  options.link.timeout = std::chrono::milliseconds(200);
  options.link.reset_timeout = std::chrono::milliseconds(1000);
  Open({}, options);
  testbed_->IgnoreRequestsAfterReset(1000);
  const Status s = device_->Reset();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("reset of board usb-1-4"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("IDENTIFY"));
  EXPECT_EQ(device_->CheckHealth().state, hal::HealthState::kFailed);
}

TEST_F(UsbFaultTest, ResetThatFindsAnotherBoardFails) {
  Open();
  testbed_->board().SetFaults({.identify_serial = "VB-0002"});
  const Status s = device_->Reset();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("serial VB-0002"));
  const hal::Health health = device_->CheckHealth();
  EXPECT_EQ(health.state, hal::HealthState::kFailed);
  EXPECT_THAT(health.detail, HasSubstr("VB-0002"));
}

TEST_F(UsbFaultTest, FailedSelfTestFailsTheReset) {
  Open();
  testbed_->board().SetFaults({.fail_self_test = true});
  const Status s = device_->Reset();
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("SELF_TEST"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("self-test failed"));
  const hal::Health health = device_->CheckHealth();
  EXPECT_EQ(health.state, hal::HealthState::kFailed);
  EXPECT_THAT(health.detail, HasSubstr("self-test failed"));
  // A reset that passes clears it, and the board works again.
  testbed_->board().SetFaults({});
  ASSERT_TRUE(device_->Reset().ok());
  EXPECT_EQ(device_->CheckHealth().state, hal::HealthState::kOk);
  auto program = device_->Load(hal::cts::MakeEchoImage("test", 1), hal::Partition{{0}});
  ASSERT_TRUE(program.ok());
  program_ = *program;
  EXPECT_TRUE(EchoRun(6).ok());
}

TEST_F(UsbFaultTest, OldFirmwareIsFailedPreconditionNamingVersions) {
  Plug({.firmware_version = "0.9.0"});
  const Status s = OpenOnly().status();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("firmware 0.9.0"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("firmware >= 1.0.0"));
  // The refused board is not left open.
  TearDown();
  UsbDriverOptions strict = Options();
  strict.link.min_firmware = "1.1.0";
  Plug({}, strict);
  const Status t = OpenOnly().status();
  EXPECT_EQ(t.code(), StatusCode::kFailedPrecondition) << t;
  EXPECT_THAT(std::string(t.message()), HasSubstr("firmware >= 1.1.0"));
}

TEST_F(UsbFaultTest, OtherProtocolMajorIsFailedPreconditionNamingVersions) {
  Plug({.protocol_major = 2, .protocol_minor = 0});
  const Status s = OpenOnly().status();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("2.0"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("board protocol 1.x"));
}

TEST_F(UsbFaultTest, BoardNeedingANewerHostSaysSo) {
  Plug({.protocol_minor = 4, .min_host_minor = 3});
  const Status s = OpenOnly().status();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("hosts of 1.3"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("update spiked"));
}

}  // namespace
}  // namespace spk::loihi3

// Only the echo images of hal/cts are used here; its suite runs in
// usb_cts_test.
namespace spk::hal::cts {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(HalConformanceTest);
}  // namespace spk::hal::cts

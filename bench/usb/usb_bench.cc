// The USB board driver's cost: transfer throughput and per-timestep overhead
// through the real driver and libusb to the virtual board served by umockdev,
// against the in-process emulator driver (sim) on the same board profile, in
// the same run. Both sides run the same echo program (hal/cts/echo_image.h),
// so the chip work is identical and the difference is the link: framing,
// CRCs, copies, libusb and umockdev's ioctl emulation.
//
//   usb_bench [--repeats R] [--quick]
//
// umockdev serves the device node as a regular file, so libusb polls it in a
// busy loop: the numbers bound the driver's own overhead from above and say
// nothing about a real USB link's bandwidth. Build in Release.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "drivers/loihi3/testing/usb_testbed.h"
#include "drivers/loihi3/usb_driver.h"
#include "hal/cts/echo_image.h"
#include "hal/format/board_image_io.h"
#include "sim/sim_driver.h"

namespace spk::bench {
namespace {

constexpr char kBoard[] = "kapoho-point-8";
constexpr uint32_t kWidth = 256;  // echo neurons per core
constexpr uint32_t kCores = 4;

struct Options {
  int repeats = 3;
  bool quick = false;
};

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best wall time of `repeats` runs of `body`, in seconds.
double Best(int repeats, const std::function<void()>& body) {
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const double start = Now();
    body();
    best = std::min(best, Now() - start);
  }
  return best;
}

void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "usb_bench: %s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

struct Side {
  std::string name;
  hal::Device* device = nullptr;
  hal::ProgramId program = 0;
};

struct Row {
  std::string metric;
  std::string unit;
  bool higher_is_better = false;
  double sim = 0;
  double usb = 0;
};

// Measures one metric on a side; returns the value in the row's unit.
struct Workload {
  uint32_t big_steps;   // steps per bulk write / read
  int transfers;        // bulk writes or reads per measurement
  int single_steps;     // Run(1) calls per measurement
  uint32_t long_steps;  // steps of the long run
  int loads;            // loads per measurement
};

std::vector<double> Measure(Side& side, const Workload& w, int repeats,
                            const hal::format::BoardImage& image, size_t image_bytes) {
  hal::Device& d = *side.device;
  const uint32_t per_step = kWidth;  // input port width
  const std::vector<int32_t> input = hal::cts::MakeEchoInput(1, w.big_steps, kWidth);
  const double in_bytes = 4.0 * per_step * w.big_steps * w.transfers;
  const double out_bytes = 4.0 * kCores * kWidth * w.big_steps * w.transfers;

  std::vector<double> out;
  // Host -> board: WRITE_INPUTS of big_steps steps at a time.
  double t = Best(repeats, [&] {
    for (int i = 0; i < w.transfers; ++i) {
      Check(d.WriteInputs(side.program, 0, w.big_steps, input), "WriteInputs");
      Check(d.ResetState(side.program), "ResetState");  // drops the queued input
    }
  });
  out.push_back(in_bytes / t / 1e6);
  // Board -> host: READ_OUTPUTS of a big_steps run.
  Check(d.WriteInputs(side.program, 0, w.big_steps, input), "WriteInputs");
  Check(d.Run(side.program, w.big_steps).status(), "Run");
  t = Best(repeats, [&] {
    for (int i = 0; i < w.transfers; ++i) {
      Check(d.ReadOutputs(side.program, 0).status(), "ReadOutputs");
    }
  });
  out.push_back(out_bytes / t / 1e6);
  // Per-timestep overhead: one step per call.
  t = Best(repeats, [&] {
    for (int i = 0; i < w.single_steps; ++i) Check(d.Run(side.program, 1).status(), "Run");
  });
  out.push_back(t / w.single_steps * 1e6);
  // A long run: the per-step cost when the link is amortised.
  t = Best(repeats, [&] { Check(d.Run(side.program, w.long_steps).status(), "Run"); });
  out.push_back(t / w.long_steps * 1e6);
  // Image load (chunked and verified on the board) + unload.
  std::vector<uint32_t> cores;
  for (uint32_t c = 0; c < kCores; ++c) cores.push_back(kCores + c);
  t = Best(repeats, [&] {
    for (int i = 0; i < w.loads; ++i) {
      auto p = d.Load(image, hal::Partition{cores});
      Check(p.status(), "Load");
      Check(d.Unload(*p), "Unload");
    }
  });
  out.push_back(image_bytes * static_cast<double>(w.loads) / t / 1e6);
  return out;
}

int Main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      options.quick = true;
      options.repeats = 1;
    } else if (std::strcmp(argv[i], "--repeats") == 0 && i + 1 < argc) {
      options.repeats = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: usb_bench [--repeats R] [--quick]\n");
      return 2;
    }
  }
  const Workload w = options.quick ? Workload{64, 2, 20, 64, 1} : Workload{1024, 16, 500, 2048, 8};

  // The testbed comes first: libusb must start inside it.
  auto board = loihi3::VirtualBoard::CreateFromProfiles(kBoard);
  Check(board.status(), "virtual board");
  auto testbed = loihi3::testing::UsbTestbed::Create(std::move(board).value());
  Check(testbed.status(), "testbed");
  loihi3::UsbDriverOptions usb_options;
  usb_options.hotplug = false;
  auto usb_driver = loihi3::UsbDriver::Create(usb_options);
  Check(usb_driver.status(), "usb driver");
  auto found = (*usb_driver)->Enumerate();
  Check(found.status(), "Enumerate");
  if (found->empty()) Check(UnavailableError("no board in the testbed"), "Enumerate");
  auto usb_device = (*usb_driver)->Open((*found)[0].id);
  Check(usb_device.status(), "Open usb");
  auto sim_driver = sim::SimDriver::CreateFromProfiles(kBoard);
  Check(sim_driver.status(), "sim driver");
  auto sim_device = (*sim_driver)->Open("sim0");
  Check(sim_device.status(), "Open sim");

  const std::string chip = (*sim_device)->info().chip_profile;
  const hal::format::BoardImage image = hal::cts::MakeEchoImage(chip, kCores, kWidth);
  auto bytes = hal::format::WriteBoardImage(image);
  Check(bytes.status(), "WriteBoardImage");

  std::vector<Side> sides = {{"sim", sim_device->get()}, {"loihi3", usb_device->get()}};
  std::vector<std::vector<double>> results;
  for (Side& side : sides) {
    std::vector<uint32_t> cores;
    for (uint32_t c = 0; c < kCores; ++c) cores.push_back(c);
    auto p = side.device->Load(image, hal::Partition{cores});
    Check(p.status(), "Load");
    side.program = *p;
    results.push_back(Measure(side, w, options.repeats, image, bytes->size()));
  }

  const std::vector<Row> rows = {
      {"WRITE_INPUTS, " + std::to_string(w.big_steps) + " steps x " + std::to_string(kWidth) +
           " values",
       "MB/s", true},
      {"READ_OUTPUTS, " + std::to_string(w.big_steps) + " steps x " +
           std::to_string(kCores * kWidth) + " values",
       "MB/s", true},
      {"Run(1): per-timestep overhead", "us/call", false},
      {"Run(" + std::to_string(w.long_steps) + ")", "us/step", false},
      {"Load + Unload, " + std::to_string(bytes->size() / 1024) + " KiB image", "MB/s", true},
  };
  std::printf("usb_bench: %s, echo program of %u cores x %u neurons, best of %d%s\n", kBoard,
              kCores, kWidth, options.repeats,
              options.quick ? " (--quick: not a measurement)" : "");
  std::printf(
      "| metric | unit | sim (in-process) | loihi3 (libusb + umockdev) | cost of the link |\n");
  std::printf("|---|---|---:|---:|---:|\n");
  for (size_t i = 0; i < rows.size(); ++i) {
    const double sim = results[0][i];
    const double usb = results[1][i];
    // "How many times worse" either way round.
    const double ratio = rows[i].higher_is_better ? sim / usb : usb / sim;
    std::printf("| %s | %s | %.2f | %.2f | %.1fx |\n", rows[i].metric.c_str(), rows[i].unit.c_str(),
                sim, usb, ratio);
  }
  // The USB device must go before its driver, and the driver before the testbed.
  usb_device->reset();
  usb_driver->reset();
  return 0;
}

}  // namespace
}  // namespace spk::bench

int main(int argc, char** argv) { return spk::bench::Main(argc, argv); }

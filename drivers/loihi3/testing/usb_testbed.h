// UsbTestbed: serves a VirtualBoard to the real libusb as a USB device, through
// umockdev (an emulated sysfs and device node, and an ioctl handler that
// answers the usbdevfs requests libusb makes: URBs in, URBs reaped).
//
// Bulk OUT URBs feed the board's Receive; bulk IN URBs wait until the board
// has something to Send. Transport faults are injected here, board faults on
// the board (VirtualBoard::SetFaults): a stalled endpoint (the next URB ends
// with EPIPE), an unplug (in-flight URBs end with ESHUTDOWN, every later
// ioctl fails ENODEV, and a "remove" uevent tells libusb's hotplug), and an
// unplug in the middle of the next IN transfer.
//
// The process must run under umockdev's preload library (the tests link
// umockdev-preload, which umockdev_in_mock_environment() does not detect, so
// Create cannot check: without it libusb simply sees no board). One testbed at a time
// per process; create it before any libusb context and destroy it after.
//
// A child process sees the board too when it runs under the preload with
// UMOCKDEV_DIR set to root_dir() (a daemon exec'd by a test): its ioctls
// and uevents cross from and to this process over sockets in that
// directory, so the handler, the board and the fault knobs all stay here.
// This process still needs the preload: Unplug and Replug find the device
// for their uevents in the emulated sysfs.
//
// Ownership: owns the board, the umockdev testbed and the handler.
//
// Thread safety: the handler runs on umockdev's thread; its state is guarded
// by a mutex, and the fault methods may be called from any thread.
#ifndef SPK_DRIVERS_LOIHI3_TESTING_USB_TESTBED_H_
#define SPK_DRIVERS_LOIHI3_TESTING_USB_TESTBED_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "base/status.h"
#include "drivers/loihi3/virtual/virtual_board.h"

namespace spk::loihi3::testing {

struct UsbTestbedOptions {
  uint16_t vendor_id = 0x1209;
  uint16_t product_id = 0x0001;
};

class UsbTestbed {
 public:
  static StatusOr<std::unique_ptr<UsbTestbed>> Create(std::unique_ptr<VirtualBoard> board,
                                                      UsbTestbedOptions options = {});
  ~UsbTestbed();
  UsbTestbed(const UsbTestbed&) = delete;
  UsbTestbed& operator=(const UsbTestbed&) = delete;

  VirtualBoard& board() { return *board_; }
  // The testbed's directory: the UMOCKDEV_DIR a child process needs.
  std::string root_dir() const;

  // The next `count` URBs on the IN (or OUT) endpoint end with EPIPE.
  void StallNext(bool in, int count = 1);
  // Unplugs now: fails in-flight URBs, then every ioctl, and sends "remove"
  // unless `announce` is false (a board that dies without a hotplug event).
  void Unplug(bool announce = true);
  // Plugs the board back in after Unplug: ioctls work again and an "add"
  // uevent tells libusb's hotplug. The board keeps its state.
  void Replug();
  // After the next port reset, the board ignores this many requests (their
  // OUT transfers complete, no answer comes), as a board still
  // re-enumerating would.
  void IgnoreRequestsAfterReset(int count);
  // Unplugs as soon as the next IN URB is submitted, before it is answered.
  void UnplugDuringNextRead();
  // Ioctls the handler has answered (to see that traffic went through it).
  uint64_t urbs_submitted() const;

  struct State;  // the handler's, defined in the .cc

 private:
  UsbTestbed(std::unique_ptr<VirtualBoard> board, void* testbed, void* handler,
             std::unique_ptr<State> state);

  std::unique_ptr<VirtualBoard> board_;
  void* testbed_;  // UMockdevTestbed*, owned
  void* handler_;  // UMockdevIoctlBase*, owned
  std::unique_ptr<State> state_;
};

}  // namespace spk::loihi3::testing

#endif  // SPK_DRIVERS_LOIHI3_TESTING_USB_TESTBED_H_

#include "drivers/loihi3/testing/usb_testbed.h"

#include <linux/ioctl.h>
#include <linux/usbdevice_fs.h>
#include <umockdev.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

namespace spk::loihi3::testing {
namespace {

constexpr char kDevNode[] = "/dev/bus/usb/001/002";
constexpr char kSysPath[] = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-4";

struct Urb {
  UMockdevIoctlData* urb = nullptr;     // the usbdevfs_urb, a reference we hold
  UMockdevIoctlData* buffer = nullptr;  // its data buffer, a reference we hold
  bool in = false;
};

usbdevfs_urb* Fields(const Urb& u) { return reinterpret_cast<usbdevfs_urb*>(u.urb->data); }

void Release(Urb& u) {
  if (u.buffer != nullptr) umockdev_ioctl_data_unref(u.buffer);
  if (u.urb != nullptr) umockdev_ioctl_data_unref(u.urb);
  u = {};
}

std::string Hex(const std::vector<uint8_t>& bytes) {
  std::string out;
  char b[3];
  for (uint8_t x : bytes) {
    std::snprintf(b, sizeof(b), "%02X", x);
    out += b;
  }
  return out;
}

// Device descriptor, then one configuration with one vendor-specific
// interface holding bulk OUT 0x01 and bulk IN 0x81.
std::vector<uint8_t> Descriptors(uint16_t vid, uint16_t pid) {
  auto lo = [](uint16_t v) { return static_cast<uint8_t>(v & 0xFF); };
  auto hi = [](uint16_t v) { return static_cast<uint8_t>(v >> 8); };
  return {0x12, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x40, lo(vid), hi(vid), lo(pid), hi(pid), 0x00,
          0x01, 0x00, 0x00, 0x00, 0x01,
          // configuration: 32 bytes in all, 1 interface, value 1, bus powered
          0x09, 0x02, 0x20, 0x00, 0x01, 0x01, 0x00, 0x80, 0x32,
          // interface 0, 2 endpoints, vendor class
          0x09, 0x04, 0x00, 0x00, 0x02, 0xFF, 0x00, 0x00, 0x00,
          // bulk OUT 0x01 and bulk IN 0x81, 512-byte packets
          0x07, 0x05, 0x01, 0x02, 0x00, 0x02, 0x00, 0x07, 0x05, 0x81, 0x02, 0x00, 0x02, 0x00};
}

}  // namespace

struct UsbTestbed::State {
  VirtualBoard* board = nullptr;  // borrowed from the testbed
  std::mutex mu;
  // Guarded by mu:
  std::deque<Urb> waiting_in;  // IN URBs the board has not answered yet
  std::deque<Urb> done;        // finished URBs for libusb to reap
  bool gone = false;
  bool unplug_on_read = false;
  int stall_in = 0;
  int stall_out = 0;
  int ignore_after_reset = 0;  // armed by IgnoreRequestsAfterReset
  int ignoring = 0;            // requests still to ignore
  uint64_t submitted = 0;

  void Finish(Urb u, int status, int actual) {  // requires mu
    Fields(u)->status = status;
    Fields(u)->actual_length = actual;
    done.push_back(u);
  }
  void ServeReads() {  // requires mu
    while (!waiting_in.empty() && board->HasOutput()) {
      Urb u = waiting_in.front();
      waiting_in.pop_front();
      std::vector<uint8_t> data = board->Send(static_cast<size_t>(u.buffer->data_len));
      std::memcpy(u.buffer->data, data.data(), data.size());
      Finish(u, 0, static_cast<int>(data.size()));
    }
  }
  void Disconnect() {  // requires mu: as the kernel does on unplug
    gone = true;
    while (!waiting_in.empty()) {
      Finish(waiting_in.front(), -ESHUTDOWN, 0);
      waiting_in.pop_front();
    }
  }
};

namespace {

gboolean HandleIoctl(UMockdevIoctlBase*, UMockdevIoctlClient* client, gpointer user_data) {
  auto* s = static_cast<UsbTestbed::State*>(user_data);
  const gulong request = umockdev_ioctl_client_get_request(client);
  UMockdevIoctlData* arg = umockdev_ioctl_client_get_arg(client);
  std::lock_guard<std::mutex> lock(s->mu);

  switch (request) {
    case USBDEVFS_GET_CAPABILITIES: {
      UMockdevIoctlData* caps = umockdev_ioctl_data_resolve(arg, 0, sizeof(guint32), nullptr);
      // One URB per transfer, and URBs may be reaped after a disconnect.
      const guint32 value = USBDEVFS_CAP_BULK_SCATTER_GATHER | USBDEVFS_CAP_NO_PACKET_SIZE_LIM |
                            USBDEVFS_CAP_REAP_AFTER_DISCONNECT;
      std::memcpy(caps->data, &value, sizeof(value));
      umockdev_ioctl_data_unref(caps);
      umockdev_ioctl_client_complete(client, 0, 0);
      return TRUE;
    }
    case USBDEVFS_RESET:
      if (!s->gone) {
        s->ignoring = s->ignore_after_reset;
        s->ignore_after_reset = 0;
      }
      [[fallthrough]];
    case USBDEVFS_CLAIMINTERFACE:
    case USBDEVFS_RELEASEINTERFACE:
    case USBDEVFS_CLEAR_HALT:
    case USBDEVFS_RESETEP:
    case USBDEVFS_DISCONNECT_CLAIM:  // libusb re-claims this way after a reset
      if (s->gone) {
        umockdev_ioctl_client_complete(client, -1, ENODEV);
      } else {
        umockdev_ioctl_client_complete(client, 0, 0);
      }
      return TRUE;

    case USBDEVFS_SUBMITURB: {
      if (s->gone) {
        umockdev_ioctl_client_complete(client, -1, ENODEV);
        return TRUE;
      }
      Urb u;
      u.urb = umockdev_ioctl_data_resolve(arg, 0, sizeof(usbdevfs_urb), nullptr);
      if (u.urb != nullptr) {
        u.buffer =
            umockdev_ioctl_data_resolve(u.urb, G_STRUCT_OFFSET(usbdevfs_urb, buffer),
                                        static_cast<gsize>(Fields(u)->buffer_length), nullptr);
      }
      if (u.urb == nullptr || u.buffer == nullptr) {
        // The client's memory cannot be read: it is being killed mid-ioctl
        // (a test tearing its daemon down). Nothing to serve.
        Release(u);
        umockdev_ioctl_client_complete(client, -1, EFAULT);
        return TRUE;
      }
      usbdevfs_urb* f = Fields(u);
      u.in = (f->endpoint & 0x80) != 0;
      ++s->submitted;
      // Answer the ioctl at once; the URB finishes later (or never).
      umockdev_ioctl_client_complete(client, 0, 0);
      int& stall = u.in ? s->stall_in : s->stall_out;
      if (stall > 0) {
        --stall;
        s->Finish(u, -EPIPE, 0);
      } else if (u.in) {
        s->waiting_in.push_back(u);
        if (s->unplug_on_read) {
          s->unplug_on_read = false;
          s->Disconnect();
        }
      } else {
        if (s->ignoring > 0) {
          --s->ignoring;
        } else {
          s->board->Receive(
              std::span<const uint8_t>(u.buffer->data, static_cast<size_t>(u.buffer->data_len)));
        }
        s->Finish(u, 0, u.buffer->data_len);
      }
      s->ServeReads();
      return TRUE;
    }

    case USBDEVFS_REAPURB:
    case USBDEVFS_REAPURBNDELAY: {
      s->ServeReads();
      if (s->done.empty()) {
        umockdev_ioctl_client_complete(client, -1, s->gone ? ENODEV : EAGAIN);
        return TRUE;
      }
      Urb u = s->done.front();
      s->done.pop_front();
      // libusb finds its transfer from the URB's own address.
      UMockdevIoctlData* ptr = umockdev_ioctl_data_resolve(arg, 0, sizeof(gpointer), nullptr);
      umockdev_ioctl_data_set_ptr(ptr, 0, u.urb);
      umockdev_ioctl_data_unref(ptr);
      umockdev_ioctl_client_complete(client, 0, 0);
      Release(u);
      return TRUE;
    }

    case USBDEVFS_DISCARDURB: {
      gulong address = 0;
      std::memcpy(&address, arg->data, sizeof(address));
      auto it = std::find_if(s->waiting_in.begin(), s->waiting_in.end(),
                             [&](const Urb& u) { return u.urb->client_addr == address; });
      if (it == s->waiting_in.end()) {
        umockdev_ioctl_client_complete(client, -1, EINVAL);
        return TRUE;
      }
      Urb u = *it;
      s->waiting_in.erase(it);
      s->Finish(u, -ENOENT, 0);  // a discarded URB is still reaped
      umockdev_ioctl_client_complete(client, 0, 0);
      return TRUE;
    }

    default:
      if (s->gone) {
        umockdev_ioctl_client_complete(client, -1, ENODEV);
        return TRUE;
      }
      return FALSE;
  }
}

}  // namespace

StatusOr<std::unique_ptr<UsbTestbed>> UsbTestbed::Create(std::unique_ptr<VirtualBoard> board,
                                                         UsbTestbedOptions options) {
  auto state = std::make_unique<State>();
  state->board = board.get();
  UMockdevTestbed* testbed = umockdev_testbed_new();
  UMockdevIoctlBase* handler = umockdev_ioctl_base_new();
  g_signal_connect_after(handler, "handle-ioctl", G_CALLBACK(HandleIoctl), state.get());
  std::unique_ptr<UsbTestbed> out(
      new UsbTestbed(std::move(board), testbed, handler, std::move(state)));

  GError* error = nullptr;
  if (!umockdev_testbed_attach_ioctl(testbed, kDevNode, handler, &error)) {
    const std::string why = error != nullptr ? error->message : "unknown";
    g_clear_error(&error);
    return InternalError("umockdev cannot attach the ioctl handler: " + why);
  }
  const std::string description =
      std::string("P: ") + (kSysPath + 4) + "\nN: " + (kDevNode + 5) +
      "\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nE: DRIVER=usb\nE: BUSNUM=001\nE: DEVNUM=002\n"
      "E: DEVNAME=" +
      kDevNode +
      "\nA: busnum=1\\n\nA: devnum=2\\n\nA: bConfigurationValue=1\\n\nA: speed=480\\n\n"
      "H: descriptors=" +
      Hex(Descriptors(options.vendor_id, options.product_id)) + "\n";
  if (!umockdev_testbed_add_from_string(testbed, description.c_str(), &error)) {
    const std::string why = error != nullptr ? error->message : "unknown";
    g_clear_error(&error);
    return InternalError("umockdev cannot add the board: " + why);
  }
  return out;
}

UsbTestbed::UsbTestbed(std::unique_ptr<VirtualBoard> board, void* testbed, void* handler,
                       std::unique_ptr<State> state)
    : board_(std::move(board)), testbed_(testbed), handler_(handler), state_(std::move(state)) {}

UsbTestbed::~UsbTestbed() {
  g_object_unref(static_cast<UMockdevIoctlBase*>(handler_));
  g_object_unref(static_cast<UMockdevTestbed*>(testbed_));
  std::lock_guard<std::mutex> lock(state_->mu);
  for (Urb& u : state_->waiting_in) Release(u);
  for (Urb& u : state_->done) Release(u);
}

std::string UsbTestbed::root_dir() const {
  gchar* dir = umockdev_testbed_get_root_dir(static_cast<UMockdevTestbed*>(testbed_));
  std::string out = dir != nullptr ? dir : "";
  g_free(dir);
  return out;
}

void UsbTestbed::StallNext(bool in, int count) {
  std::lock_guard<std::mutex> lock(state_->mu);
  (in ? state_->stall_in : state_->stall_out) += count;
}

void UsbTestbed::Unplug(bool announce) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->Disconnect();
  }
  if (announce) {
    umockdev_testbed_uevent(static_cast<UMockdevTestbed*>(testbed_), kSysPath, "remove");
  }
}

void UsbTestbed::Replug() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->gone = false;
  }
  umockdev_testbed_uevent(static_cast<UMockdevTestbed*>(testbed_), kSysPath, "add");
}

void UsbTestbed::IgnoreRequestsAfterReset(int count) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->ignore_after_reset = count;
}

void UsbTestbed::UnplugDuringNextRead() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->unplug_on_read = true;
}

uint64_t UsbTestbed::urbs_submitted() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->submitted;
}

}  // namespace spk::loihi3::testing

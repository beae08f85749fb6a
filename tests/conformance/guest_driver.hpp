// What the conformance suite (conformance.cpp) needs of a device: a driver
// of it as a guest runs one, through the guest's window — preferably a
// stock driver's accesses replayed (the NE2000's is Linux's ne2k-pci over
// lib8390). A device joins the suite with one line in devices.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <span>
#include <string_view>
#include <vector>

#include "hooks/hooked_ports.hpp"
#include "hw/net/mac_address.hpp"
#include "tests/conformance/frames.hpp"

namespace vpio::conformance {

class GuestDriver {
 public:
  virtual ~GuestDriver() = default;
  // Probes the card and opens it: ready to send, and to receive frames for
  // its own MAC and broadcast. False: the probe failed.
  virtual bool open() = 0;
  // The MAC the driver read from the card.
  virtual hw::MacAddress mac() const = 0;
  // Hands the driver one frame (60..1514 bytes, its source the guest's
  // MAC) to send. False: the driver is busy (the suite services it and
  // tries again).
  virtual bool send(const Bytes& frame) = 0;
  // Runs the driver's interrupt handler (or its poll) once: sends what it
  // has queued, collects what the card received.
  virtual void service() = 0;
  // The frames received since the last call, in order.
  virtual std::vector<Bytes> take_received() = 0;
  // What the driver complained of (a stock driver's printk warnings).
  virtual std::vector<std::string> complaints() const { return {}; }
};

struct ConformanceDevice {
  std::string_view kind;  // the device table's name (devices/registry.cpp)
  // A fresh driver instance (a module loaded) on the guest's window, with
  // the guest's RAM (guest-physical 0 at ram[0]) for a bus master's
  // buffers; a driver of a device that is no bus master ignores it.
  std::unique_ptr<GuestDriver> (*driver)(PassthroughWindow& window, std::span<std::uint8_t> ram);
  // The length a frame of `wanted` bytes (60..1514) can have on this device,
  // for a device that carries lengths only in units (the suite sends and
  // expects frames of that length); null: every length as wanted.
  std::size_t (*frame_size)(std::size_t wanted) = nullptr;
};

inline std::size_t carried_size(const ConformanceDevice& device, std::size_t wanted) {
  return device.frame_size != nullptr ? device.frame_size(wanted) : wanted;
}

inline void PrintTo(const ConformanceDevice& device, std::ostream* out) { *out << device.kind; }

// devices.cpp: every device the suite runs.
std::vector<ConformanceDevice> conformance_devices();

}  // namespace vpio::conformance

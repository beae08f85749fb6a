// The device-model API (docs/model-authoring.md): what a device's VPIO model
// answers, for one guest, about every access the guest makes to its window.
//   1. Is the device reusable now: may it be handed to another guest, or
//      does an operation of this guest still run on it? (reusable())
//   2. Is a DMA about to begin, and where? The model's own decision for an
//      access names the checked operation it starts, as DmaTargets
//      (dmm/dma.hpp): validated against what is the guest's and translated
//      to what the device is programmed with. The monitor's core checks
//      them again against the guest's share before the device runs them.
//   3. Which accesses stay hooked? (hooked()) The rest go direct to the
//      device with no model code on the path.
// A model knows one guest's view of the device only: no KVM, no monitor,
// no other guest. Its device-specific decisions and registers are its own
// (devices/<name>/); this is what every model has in common.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dmm/dma.hpp"
#include "hooks/hooked_ports.hpp"

namespace vpio::dmm {

inline constexpr std::size_t kMaxWindowPorts = PassthroughWindow::kMaxPorts;
using PortSet = std::bitset<kMaxWindowPorts>;

// Question 3's answer: the ports of the window whose reads, and whose
// writes, go through the monitor. A port may be hooked in one direction and
// not the other (a device that bounds writes by a count but not reads).
struct HookedAccesses {
  PortSet reads;
  PortSet writes;
  // The device's MMIO window, if it has one: the byte ranges whose accesses
  // go direct, both ways; every other byte is hooked. A page left with no
  // hooked byte is exit-free where the device can map it
  // (hooks/mmio_window.hpp).
  struct ByteRange {
    std::uint32_t offset = 0;
    std::uint32_t bytes = 0;
  };
  std::vector<ByteRange> mmio_direct;
  static HookedAccesses all() noexcept {
    HookedAccesses h;
    h.reads.set();
    h.writes.set();
    return h;
  }
};

class DeviceModel {
 public:
  virtual ~DeviceModel() = default;
  // Question 1.
  virtual bool reusable() const noexcept = 0;
  // Question 3, now.
  virtual HookedAccesses hooked() const noexcept = 0;
};

// The violation code the core reports when a target the model passed lies
// outside the guest's share (a model bug caught): the address is the
// target's, as the guest named it. Models number their own codes below it.
inline constexpr std::uint16_t kViolationOutsideShare = 0xff;

}  // namespace vpio::dmm

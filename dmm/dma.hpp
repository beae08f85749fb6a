// What a checked operation makes the physical device touch, and what a
// guest's share lets it touch (docs/model-authoring.md, question 2). A
// device's model validates and translates each DMA of a guest and names its
// targets; before the operation runs on the device, the monitor's core
// checks every target again against the guest's share, which the device's
// monitor declared when it added the guest. The two checks are independent:
// a model that translates wrongly is caught by the core, and the guest gets
// a violation instead of the device touching what is not its own.
// Device-generic; knows nothing of KVM.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dmm/guest_memory.hpp"

namespace vpio::dmm {

enum class DmaSpace : std::uint8_t {
  device_memory,  // the device's own memory (a card that works in its own buffer)
  guest_ram,      // the guest's RAM (a bus master)
};

enum class DmaDirection : std::uint8_t {
  device_reads,   // the device reads the range (a transmit)
  device_writes,  // the device writes it (a receive, a remote write into card memory)
};

// One range a checked operation makes the device touch.
struct DmaTarget {
  DmaSpace space = DmaSpace::device_memory;
  DmaDirection direction = DmaDirection::device_reads;
  // Where the guest put it, in its own view: an address of its virtual
  // device's memory, or guest-physical.
  std::uint64_t guest_address = 0;
  // What the device is programmed with: the translated address on the
  // device, or the DMA address (IOVA) the device reaches the guest's RAM at.
  std::uint64_t device_address = 0;
  std::uint64_t bytes = 0;
};

// A range of the device's own memory, as the device addresses it.
struct DeviceRange {
  std::uint64_t address = 0;
  std::uint64_t bytes = 0;
};

// What one guest's operations may make the device touch: ranges of the
// device's memory that are this guest's, and the guest's RAM through its
// DMA window. The device's monitor declares it when it adds the guest.
struct DmaShare {
  std::vector<DeviceRange> device_memory;
  const GuestMemory* ram = nullptr;  // none: the device never reaches guest RAM

  // The share of a guest whose operations touch one range of the device's
  // memory and never the guest's RAM.
  static DmaShare device_range(std::uint64_t address, std::uint64_t bytes) {
    return {{DeviceRange{address, bytes}}, nullptr};
  }
};

// Whether `target` lies wholly in `share`: a device-memory target inside
// one of its ranges; a guest-RAM target inside the guest's RAM, programmed
// with exactly the DMA address the guest's RAM has there. Empty targets
// touch nothing and are held.
bool share_holds(const DmaShare& share, const DmaTarget& target) noexcept;

// "device memory 0x4000+0x600 (guest 0x4000), device writes" for messages.
std::string describe(const DmaTarget& target);

}  // namespace vpio::dmm

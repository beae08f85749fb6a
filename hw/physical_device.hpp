// The device side of passthrough: a device that guests reach through the
// monitor, whether vpio's own chip standing in for hardware or a real card
// behind host port I/O. It knows nothing of guests.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "hw/dma_bus.hpp"
#include "hw/memory_mapped.hpp"
#include "hw/net/network_chip.hpp"

namespace vpio::hw {

class PhysicalDevice : public MemoryMapped {
 public:
  virtual ~PhysicalDevice() = default;
  virtual std::string describe() const = 0;
  // Accesses at an offset in the device's I/O window; size 1, 2 or 4.
  virtual std::uint32_t read(std::uint16_t offset, unsigned size) = 0;
  virtual void write(std::uint16_t offset, unsigned size, std::uint32_t value) = 0;
  // rep ins/outs: data.size() / size elements.
  virtual void read_string(std::uint16_t offset, unsigned size, std::span<std::uint8_t> data) = 0;
  virtual void write_string(std::uint16_t offset, unsigned size,
                            std::span<const std::uint8_t> data) = 0;
  // Its MMIO window, if it has one: see hw::MemoryMapped.
  // Called (from any thread) when the device raises its interrupt. A device
  // without interrupt delivery to userspace calls it from its poller.
  virtual void set_interrupt_handler(std::function<void()> handler) = 0;
  // What the device's DMA reaches from now on (null: nothing); the bus
  // outlives its registration. A device that never masters the bus
  // ignores it.
  virtual void set_dma_bus(DmaBus* bus) { (void)bus; }

  // What the device counts of itself, by name, for --stats (a host card
  // whose interrupt is polled: its polls and edges). Most count nothing.
  struct Count {
    const char* name;
    std::uint64_t value;
  };
  virtual std::vector<Count> counts() const { return {}; }
};

// An emulated chip standing in for a physical device (`hw=chip`): the VMM
// puts its chip on a wire and reads its counts.
class StandInDevice : public PhysicalDevice {
 public:
  virtual NetworkChip& network_chip() noexcept = 0;
};

}  // namespace vpio::hw

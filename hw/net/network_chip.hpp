// What the VMM needs of an emulated network chip, whatever the chip: a
// guest's own card in emulate mode, or the chip standing in for hardware
// behind passthrough and VPIO. It is reached by port I/O at offsets of its
// window, hears frames (FrameSink), puts its own on a transmit sink, and
// drives an interrupt line. Each device's chip implements it
// (devices/<name>/).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <utility>

#include "hw/dma_bus.hpp"
#include "hw/memory_mapped.hpp"
#include "hw/net/frame_sink.hpp"

namespace vpio::hw {

struct NetworkChipCounts {
  std::uint64_t frames_sent = 0;      // put on the wire
  std::uint64_t frames_received = 0;  // stored for the guest
  std::uint64_t frames_dropped = 0;   // heard but not stored (no room, not receiving)
  std::uint64_t bad_programming = 0;  // programming the chip refused
};

// Thread safety: every member may be called from any thread; the transmit
// sink and the interrupt line are called with no lock of the chip's held.
class NetworkChip : public FrameSink, public MemoryMapped {
 public:
  // size is 1, 2 or 4; the string forms move data.size() / size elements.
  virtual std::uint32_t read(std::uint16_t offset, unsigned size) = 0;
  virtual void write(std::uint16_t offset, unsigned size, std::uint32_t value) = 0;
  virtual void read_string(std::uint16_t offset, unsigned size, std::span<std::uint8_t> out) = 0;
  virtual void write_string(std::uint16_t offset, unsigned size,
                            std::span<const std::uint8_t> in) = 0;
  // Where the chip's frames go; null: nowhere. The sink outlives it.
  virtual void set_transmit_sink(FrameSink* sink) = 0;
  // Called with the line's new level whenever it changes, and once at
  // registration if it is asserted.
  virtual void set_irq_line(std::function<void(bool asserted)> line) = 0;
  virtual NetworkChipCounts counts() const = 0;
  // Where a bus master's DMA goes (its guest's RAM, or what a monitor mapped
  // for it); null: nowhere, every DMA faults. The bus outlives it. A chip
  // that never masters the bus ignores it.
  virtual void set_dma_bus(DmaBus* bus) { (void)bus; }
};

// A chip's line as an edge-triggered (ISA) interrupt: `raise` once each
// time the line rises.
inline std::function<void(bool asserted)> on_rising_edge(std::function<void()> raise) {
  return [raise = std::move(raise)](bool asserted) {
    if (asserted && raise) raise();
  };
}

}  // namespace vpio::hw

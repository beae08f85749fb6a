// What a shared bus master's DMA reaches: an I/O virtual address space the
// monitor lays out, as an IOMMU does. Each guest's RAM (and the monitor's
// own buffers) is mapped at a window of its own; a DMA that is not wholly
// inside one window touches nothing and is counted as a fault, the
// IOMMU's fault log. So even a model that translated wrongly cannot make
// the device reach what the monitor did not map.
// Also the view a guest's own shadow card has: its RAM at guest-physical
// addresses, nothing else (GuestRamBus).
// Device-generic; knows nothing of KVM.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "dmm/guest_memory.hpp"
#include "hw/dma_bus.hpp"

namespace vpio::dmm {

class IovaSpace final : public hw::DmaBus {
 public:
  // Addresses the device can put on the bus: [0, limit) (2^32 for a card
  // with 32-bit DMA addresses).
  explicit IovaSpace(std::uint64_t limit) : limit_(limit) {}

  // Maps `host` at the lowest free address from `from`, aligned to `align`
  // (a power of two), and returns that address. Throws std::invalid_argument
  // naming `what` when no room is left below the limit.
  std::uint64_t map(std::span<std::uint8_t> host, std::uint64_t from, std::uint64_t align,
                    const std::string& what);
  // `memory`'s ranges mapped each at a window of its own (map()): the same
  // guest RAM with the DMA address the device reaches each range at.
  GuestMemory map_guest(const GuestMemory& memory, const std::string& guest);

  bool dma_read(std::uint64_t address, std::span<std::uint8_t> out) override;
  bool dma_write(std::uint64_t address, std::span<const std::uint8_t> in) override;
  bool mirror_into(hw::IommuMapper* iommu) override;

  // DMAs refused: not wholly inside one window.
  std::uint64_t faults() const;

 private:
  struct Window {
    std::uint64_t iova;
    std::span<std::uint8_t> host;
  };
  std::uint8_t* find_locked(std::uint64_t address, std::size_t bytes) const noexcept;

  const std::uint64_t limit_;
  mutable std::mutex mutex_;
  std::vector<Window> windows_;  // sorted by iova
  std::uint64_t faults_ = 0;
  hw::IommuMapper* mirror_ = nullptr;
};

// A guest's RAM at guest-physical addresses, and nothing else: the DMA a
// guest's shadow card makes into its guest (a received frame into its ring).
class GuestRamBus final : public hw::DmaBus {
 public:
  explicit GuestRamBus(const GuestMemory& memory) noexcept : memory_(memory) {}
  bool dma_read(std::uint64_t address, std::span<std::uint8_t> out) override;
  bool dma_write(std::uint64_t address, std::span<const std::uint8_t> in) override;
  // Each RAM range at its guest-physical address.
  bool mirror_into(hw::IommuMapper* iommu) override;

 private:
  const GuestMemory& memory_;
};

}  // namespace vpio::dmm

// What a card's DMA reaches when the card is one guest's alone (its own
// emulated card, or a physical card given whole by passthrough): the
// guest's RAM at guest-physical addresses, and nothing else, as in a machine
// whose IOMMU maps the guest's RAM at IOVA = guest-physical. A DMA that
// would touch anything past RAM is refused whole.
#pragma once

#include <cstring>

#include "hw/dma_bus.hpp"
#include "vmm/guest_memory.hpp"

namespace vpio {

class RamDmaBus final : public hw::DmaBus {
 public:
  explicit RamDmaBus(const GuestMemory& memory) noexcept : memory_(memory) {}

  bool dma_read(std::uint64_t address, std::span<std::uint8_t> out) override {
    if (out.empty()) return true;
    const std::span<std::uint8_t> ram = memory_.bytes(address, out.size());
    if (ram.empty()) return false;
    std::memcpy(out.data(), ram.data(), out.size());
    return true;
  }
  bool dma_write(std::uint64_t address, std::span<const std::uint8_t> in) override {
    if (in.empty()) return true;
    const std::span<std::uint8_t> ram = memory_.bytes(address, in.size());
    if (ram.empty()) return false;
    std::memcpy(ram.data(), in.data(), in.size());
    return true;
  }

 private:
  const GuestMemory& memory_;
};

}  // namespace vpio

// What a bus master reaches when it reads or writes memory by DMA: bytes at
// DMA addresses. For a guest's own emulated card it is the guest's RAM at
// guest-physical addresses; for a card shared by guests it is what the
// monitor mapped for the card (an IOMMU's view). The chip that masters the
// bus knows nothing of either.
#pragma once

#include <cstdint>
#include <span>

namespace vpio::hw {

// A real IOMMU (a VFIO container) that a bus's windows are mirrored into,
// so that the physical device reaches exactly what the bus maps.
class IommuMapper {
 public:
  // Maps `host` at DMA address `address`. The IOMMU maps whole pages: both
  // must be page-aligned; a size that is not a page multiple is rounded up
  // (the owner of `host` allocates whole pages). Throws when it cannot.
  virtual void map_window(std::uint64_t address, std::span<std::uint8_t> host) = 0;

 protected:
  ~IommuMapper() = default;
};

class DmaBus {
 public:
  virtual ~DmaBus() = default;
  // Copies all of [address, address + out.size()) into `out` and returns
  // true; or returns false, having copied nothing, when any byte of it is
  // not memory the device may reach (on a real bus: a master abort, or an
  // IOMMU fault). Called with the chip's lock held: never calls the chip.
  virtual bool dma_read(std::uint64_t address, std::span<std::uint8_t> out) = 0;
  // The same for a write: all of `in` lands, or none of it.
  virtual bool dma_write(std::uint64_t address, std::span<const std::uint8_t> in) = 0;
  // Mirrors every window of this bus into `iommu`, those mapped now at once
  // and later ones as they are mapped; null stops. Returns false for a bus
  // that has no windows to tell (a device behind a real IOMMU cannot use it).
  virtual bool mirror_into(IommuMapper* iommu) {
    (void)iommu;
    return false;
  }
};

}  // namespace vpio::hw

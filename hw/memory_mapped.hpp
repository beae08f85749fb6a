// What a device offers in memory space, besides its port window: one MMIO
// window (a PCI memory BAR), reached by accesses at offsets in it, some of
// whose pages may be plain host memory a guest can map and touch with no
// exit (a VFIO device's mmap'd BAR, or an emulated chip's buffer page).
// Both a chip (hw::NetworkChip) and a physical device (hw::PhysicalDevice)
// may have one; by default neither has.
#pragma once

#include <cstdint>

namespace vpio::hw {

// The unit a guest maps: an x86 page. (Not a member of MemoryMapped, whose
// derived chips have pages of their own: an NE2000's are 256 bytes.)
inline constexpr std::uint32_t kMmioPageBytes = 4096;

class MemoryMapped {
 public:
  virtual ~MemoryMapped() = default;
  // The window's size in bytes; 0 for none.
  virtual std::uint32_t mmio_bytes() const noexcept { return 0; }
  // An access at an offset of the window: size 1, 2, 4 or 8, the value
  // little-endian in the low bytes. With no window: all ones, ignored.
  virtual std::uint64_t mmio_read(std::uint32_t offset, unsigned size) {
    (void)offset;
    return size >= 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * size)) - 1;
  }
  virtual void mmio_write(std::uint32_t offset, unsigned size, std::uint64_t value) {
    (void)offset, (void)size, (void)value;
  }
  // The host memory behind page `page` (kMmioPageBytes, page-aligned) if a
  // guest may map it: accesses to it then reach the device with no exit and
  // no call here. nullptr for a page reached only by accesses (registers).
  // The memory lives as long as the device.
  virtual std::uint8_t* mmio_page(std::uint32_t page) noexcept {
    (void)page;
    return nullptr;
  }
};

}  // namespace vpio::hw

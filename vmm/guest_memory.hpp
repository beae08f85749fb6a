// Guest RAM: one anonymous mapping, guest-physical 0 up to its size, with
// bounds-checked access so that no guest-supplied address reaches beyond it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dmm/guest_memory.hpp"

namespace vpio {

class GuestMemory {
 public:
  explicit GuestMemory(std::uint64_t bytes);
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;
  ~GuestMemory();

  std::uint64_t size() const noexcept { return size_; }
  std::uint8_t* host_base() const noexcept { return base_; }

  // True when [gpa, gpa + length) lies inside RAM; safe against wrap-around.
  bool contains(std::uint64_t gpa, std::uint64_t length) const noexcept {
    return gpa <= size_ && length <= size_ - gpa;
  }
  // The bytes at [gpa, gpa + length), or an empty span when any is outside.
  std::span<std::uint8_t> bytes(std::uint64_t gpa, std::uint64_t length) const noexcept;

  template <typename T>
  bool write(std::uint64_t gpa, const T& value) noexcept;

 private:
  std::uint8_t* base_ = nullptr;
  std::uint64_t size_ = 0;
};

// The same RAM as devices and their models see it: one range from
// guest-physical 0, its DMA address the guest-physical one (no IOMMU).
inline dmm::GuestMemory dmm_view(const GuestMemory& memory) {
  return dmm::GuestMemory({dmm::RamRange{0, memory.size(), memory.host_base(), 0}});
}

template <typename T>
bool GuestMemory::write(std::uint64_t gpa, const T& value) noexcept {
  auto dst = bytes(gpa, sizeof(T));
  if (dst.empty()) return false;
  __builtin_memcpy(dst.data(), &value, sizeof(T));
  return true;
}

}  // namespace vpio

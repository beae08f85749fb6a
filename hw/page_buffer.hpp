// Host memory in whole, page-aligned pages, zeroed: what an IOMMU can map
// for a device's DMA (it maps pages, never parts of one).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>

#include "hw/memory_mapped.hpp"

namespace vpio::hw {

class PageBuffer {
 public:
  // At least `bytes`, rounded up to whole pages.
  explicit PageBuffer(std::size_t bytes)
      : size_((bytes + kMmioPageBytes - 1) / kMmioPageBytes * kMmioPageBytes),
        memory_(static_cast<std::uint8_t*>(std::aligned_alloc(kMmioPageBytes, size_))) {
    if (!memory_) throw std::bad_alloc();
    std::memset(memory_.get(), 0, size_);
  }

  std::uint8_t* data() noexcept { return memory_.get(); }
  const std::uint8_t* data() const noexcept { return memory_.get(); }
  std::size_t size() const noexcept { return size_; }
  std::span<std::uint8_t> span() noexcept { return {memory_.get(), size_}; }

 private:
  struct Free {
    void operator()(std::uint8_t* p) const noexcept { std::free(p); }
  };
  std::size_t size_;
  std::unique_ptr<std::uint8_t, Free> memory_;
};

}  // namespace vpio::hw

// A shared bus master's I/O virtual address space, and a guest's RAM bus.
#include "dmm/iova_space.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "hw/hex.hpp"

namespace vpio::dmm {

std::uint64_t IovaSpace::map(std::span<std::uint8_t> host, std::uint64_t from, std::uint64_t align,
                             const std::string& what) {
  std::lock_guard lock(mutex_);
  std::uint64_t at = (from + align - 1) & ~(align - 1);
  for (const Window& w : windows_) {
    if (at + host.size() <= w.iova) break;
    at = std::max(at, (w.iova + w.host.size() + align - 1) & ~(align - 1));
  }
  if (host.empty() || at + host.size() > limit_ || at + host.size() < at)
    throw std::invalid_argument(what + " (" + hw::hex(host.size()) +
                                " bytes) does not fit in the device's DMA addresses below " +
                                hw::hex(limit_));
  if (mirror_ != nullptr) mirror_->map_window(at, host);  // before the bus has it
  windows_.push_back({at, host});
  std::sort(windows_.begin(), windows_.end(),
            [](const Window& a, const Window& b) { return a.iova < b.iova; });
  return at;
}

bool IovaSpace::mirror_into(hw::IommuMapper* iommu) {
  std::lock_guard lock(mutex_);
  mirror_ = iommu;
  if (iommu != nullptr)
    for (const Window& w : windows_) iommu->map_window(w.iova, w.host);
  return true;
}

GuestMemory IovaSpace::map_guest(const GuestMemory& memory, const std::string& guest) {
  constexpr std::uint64_t kWindowAlign = 1 << 20;
  std::vector<RamRange> ranges;
  for (RamRange r : memory.ranges()) {
    if (r.host == nullptr)
      throw std::invalid_argument("guest '" + guest + "': RAM range " + hw::hex(r.guest_address) +
                                  " is not mapped here");
    r.device_address = map({r.host, static_cast<std::size_t>(r.bytes)}, kWindowAlign, kWindowAlign,
                           "the RAM of guest '" + guest + "'");
    ranges.push_back(r);
  }
  return GuestMemory(std::move(ranges));
}

std::uint8_t* IovaSpace::find_locked(std::uint64_t address, std::size_t bytes) const noexcept {
  for (const Window& w : windows_)
    if (address >= w.iova && address - w.iova <= w.host.size() &&
        bytes <= w.host.size() - (address - w.iova))
      return w.host.data() + (address - w.iova);
  return nullptr;
}

bool IovaSpace::dma_read(std::uint64_t address, std::span<std::uint8_t> out) {
  std::lock_guard lock(mutex_);
  if (out.empty()) return true;
  const std::uint8_t* host = find_locked(address, out.size());
  if (host == nullptr) return ++faults_, false;
  std::memcpy(out.data(), host, out.size());
  return true;
}

bool IovaSpace::dma_write(std::uint64_t address, std::span<const std::uint8_t> in) {
  std::lock_guard lock(mutex_);
  if (in.empty()) return true;
  std::uint8_t* host = find_locked(address, in.size());
  if (host == nullptr) return ++faults_, false;
  std::memcpy(host, in.data(), in.size());
  return true;
}

std::uint64_t IovaSpace::faults() const {
  std::lock_guard lock(mutex_);
  return faults_;
}

bool GuestRamBus::mirror_into(hw::IommuMapper* iommu) {
  if (iommu != nullptr)
    for (const RamRange& r : memory_.ranges())
      if (r.host != nullptr)
        iommu->map_window(r.guest_address, {r.host, static_cast<std::size_t>(r.bytes)});
  return true;
}

bool GuestRamBus::dma_read(std::uint64_t address, std::span<std::uint8_t> out) {
  if (out.empty()) return true;
  const std::span<std::uint8_t> ram = memory_.host_view(address, out.size());
  if (ram.empty()) return false;
  std::memcpy(out.data(), ram.data(), out.size());
  return true;
}

bool GuestRamBus::dma_write(std::uint64_t address, std::span<const std::uint8_t> in) {
  if (in.empty()) return true;
  const std::span<std::uint8_t> ram = memory_.host_view(address, in.size());
  if (ram.empty()) return false;
  std::memcpy(ram.data(), in.data(), in.size());
  return true;
}

}  // namespace vpio::dmm

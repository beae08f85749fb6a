// A guest's RAM as device models see it.
#include "dmm/guest_memory.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "hw/hex.hpp"

namespace vpio::dmm {
namespace {

bool wraps(std::uint64_t start, std::uint64_t bytes) noexcept {
  return bytes != 0 && start + (bytes - 1) < start;
}

std::string describe(const RamRange& r) {
  return "RAM range " + hw::hex(r.guest_address) + "+" + hw::hex(r.bytes);
}

}  // namespace

GuestMemory::GuestMemory(std::vector<RamRange> ranges) : ranges_(std::move(ranges)) {
  std::sort(ranges_.begin(), ranges_.end(),
            [](const RamRange& a, const RamRange& b) { return a.guest_address < b.guest_address; });
  for (std::size_t i = 0; i < ranges_.size(); ++i) {
    const RamRange& r = ranges_[i];
    if (r.bytes == 0) throw std::invalid_argument(describe(r) + " is empty");
    if (wraps(r.guest_address, r.bytes) || wraps(r.device_address, r.bytes))
      throw std::invalid_argument(describe(r) + " wraps past the end of the address space");
    if (i > 0 && ranges_[i - 1].guest_address + (ranges_[i - 1].bytes - 1) >= r.guest_address)
      throw std::invalid_argument(describe(r) + " overlaps " + describe(ranges_[i - 1]));
  }
}

const RamRange* GuestMemory::find(std::uint64_t address, std::uint64_t bytes) const noexcept {
  if (bytes == 0 || wraps(address, bytes)) return nullptr;
  const std::uint64_t last = address + (bytes - 1);
  for (const RamRange& r : ranges_) {
    const std::uint64_t r_last = r.guest_address + (r.bytes - 1);
    if (address >= r.guest_address && last <= r_last) return &r;
  }
  return nullptr;
}

std::optional<std::uint64_t> GuestMemory::translate(std::uint64_t address,
                                                    std::uint64_t bytes) const noexcept {
  const RamRange* r = find(address, bytes);
  if (r == nullptr) return std::nullopt;
  return r->device_address + (address - r->guest_address);
}

std::span<std::uint8_t> GuestMemory::host_view(std::uint64_t address,
                                               std::uint64_t bytes) const noexcept {
  const RamRange* r = find(address, bytes);
  if (r == nullptr || r->host == nullptr) return {};
  return {r->host + (address - r->guest_address), static_cast<std::size_t>(bytes)};
}

}  // namespace vpio::dmm

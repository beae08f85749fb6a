// The MMIO range map.
#include "hooks/mmio_bus.hpp"

#include <cinttypes>
#include <cstdio>
#include <stdexcept>

namespace vpio {
namespace {

std::string describe(std::uint64_t base, std::uint64_t length, const std::string& name) {
  char text[64];
  std::snprintf(text, sizeof text, "0x%" PRIx64 "-0x%" PRIx64, base, base + (length - 1));
  return "'" + name + "' (" + text + ")";
}

}  // namespace

void MmioBus::add(std::uint64_t base, std::uint64_t length, MmioDevice& device, std::string name) {
  if (length == 0 || base + (length - 1) < base)
    throw std::invalid_argument("MMIO range for '" + name +
                                "' is empty or wraps the address space");
  MmioRange range{base, length, &device, std::move(name)};
  auto next = ranges_.lower_bound(base);
  if (next != ranges_.end() && next->second.base <= range.last())
    throw std::invalid_argument(
        "MMIO range " + describe(base, length, range.name) + " overlaps " +
        describe(next->second.base, next->second.length, next->second.name));
  if (next != ranges_.begin()) {
    const MmioRange& before = std::prev(next)->second;
    if (before.last() >= base)
      throw std::invalid_argument("MMIO range " + describe(base, length, range.name) +
                                  " overlaps " + describe(before.base, before.length, before.name));
  }
  ranges_.emplace(base, std::move(range));
}

bool MmioBus::remove(std::uint64_t base, const MmioDevice& device) noexcept {
  const auto it = ranges_.find(base);
  if (it == ranges_.end() || it->second.device != &device) return false;
  ranges_.erase(it);
  return true;
}

const MmioRange* MmioBus::find(std::uint64_t address, unsigned size) const noexcept {
  auto it = ranges_.upper_bound(address);
  if (it == ranges_.begin()) return nullptr;
  const MmioRange& range = std::prev(it)->second;
  if (address > range.last()) return nullptr;
  const std::uint64_t room = range.last() - address;  // bytes after the first
  if (size == 0 || size - 1 > room) return nullptr;
  return &range;
}

}  // namespace vpio

// One address space's devices: a sorted map of non-overlapping address
// ranges, each served by one device. The port bus and the MMIO bus are each
// one of these; registering an overlap is an error naming both ranges.
#pragma once

#include <cstdint>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>

#include "hw/hex.hpp"

namespace vpio {

template <typename Address, typename Length, typename Device>
struct AddressRange {
  Address base = 0;
  Length length = 0;  // never 0
  Device* device = nullptr;
  std::string name;

  // The range's last address.
  std::uint64_t last() const noexcept { return std::uint64_t{base} + (length - 1); }
};

template <typename Address, typename Length, typename Device>
class RangeMap {
 public:
  using Range = AddressRange<Address, Length, Device>;

  // `kind` names the space in messages ("port", "MMIO"); `top` is the last
  // address a range may reach.
  RangeMap(const char* kind, std::uint64_t top) noexcept : kind_(kind), top_(top) {}

  // Throws std::invalid_argument naming both ranges on overlap, and for an
  // empty range or one that runs past `top`.
  void add(Address base, Length length, Device& device, std::string name) {
    if (length == 0 || std::uint64_t{base} > top_ || length - 1 > top_ - base)
      throw std::invalid_argument(std::string(kind_) + " range '" + name + "' at " +
                                  hw::hex(base) + " is empty or runs past " + hw::hex(top_));
    Range range{base, length, &device, std::move(name)};
    const auto next = ranges_.lower_bound(base);
    if (next != ranges_.end() && next->second.base <= range.last()) refuse(range, next->second);
    if (next != ranges_.begin() && std::prev(next)->second.last() >= base)
      refuse(range, std::prev(next)->second);
    ranges_.emplace(base, std::move(range));
  }

  // Takes away the range that starts at `base` and is served by `device`.
  // Returns whether there was one.
  bool remove(Address base, const Device& device) noexcept {
    const auto it = ranges_.find(base);
    if (it == ranges_.end() || it->second.device != &device) return false;
    ranges_.erase(it);
    return true;
  }

  // The range holding all of [address, address + size), or nullptr: an
  // access that straddles a range's end belongs to no device.
  const Range* find(std::uint64_t address, unsigned size = 1) const noexcept {
    if (size == 0 || address > top_) return nullptr;
    auto it = ranges_.upper_bound(static_cast<Address>(address));
    if (it == ranges_.begin()) return nullptr;
    const Range& range = std::prev(it)->second;
    if (address > range.last() || size - 1 > range.last() - address) return nullptr;
    return &range;
  }

  const std::map<Address, Range>& ranges() const noexcept { return ranges_; }

 private:
  static std::string describe(const Range& r) {
    return "'" + r.name + "' (" + hw::hex(r.base) + "-" + hw::hex(r.last()) + ")";
  }
  [[noreturn]] void refuse(const Range& wanted, const Range& taken) const {
    throw std::invalid_argument(std::string(kind_) + " range " + describe(wanted) + " overlaps " +
                                describe(taken));
  }

  const char* kind_;
  std::uint64_t top_;
  std::map<Address, Range> ranges_;
};

}  // namespace vpio

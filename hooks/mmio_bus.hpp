// The MMIO address space of one guest outside its RAM: a sorted map of
// non-overlapping address ranges, each served by an MmioDevice. Like the port
// bus, registering an overlap is an error.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "hooks/port_bus.hpp"

namespace vpio {

// Called on a vCPU thread on the exit path: implementations must not throw.
// `size` is 1, 2, 4 or 8; values are little-endian, in the low `size` bytes.
class MmioDevice {
 public:
  virtual ~MmioDevice() = default;
  virtual std::uint64_t mmio_read(std::uint64_t offset, unsigned size) noexcept = 0;
  virtual void mmio_write(std::uint64_t offset, unsigned size, std::uint64_t value) noexcept = 0;
  virtual IoPath last_path() const noexcept { return IoPath::emulated; }
};

struct MmioRange {
  std::uint64_t base = 0;
  std::uint64_t length = 0;
  MmioDevice* device = nullptr;
  std::string name;

  std::uint64_t last() const noexcept { return base + length - 1; }
};

class MmioBus {
 public:
  // Throws std::invalid_argument naming both ranges on overlap, and for an
  // empty range or one that wraps past the top of the address space.
  void add(std::uint64_t base, std::uint64_t length, MmioDevice& device, std::string name);
  // Takes away the range that starts at `base` and is served by `device`.
  // Returns whether there was one.
  bool remove(std::uint64_t base, const MmioDevice& device) noexcept;
  // The range holding all of [address, address + size), or nullptr: an access
  // that straddles a range's end belongs to no device.
  const MmioRange* find(std::uint64_t address, unsigned size = 1) const noexcept;
  const std::map<std::uint64_t, MmioRange>& ranges() const noexcept { return ranges_; }

 private:
  std::map<std::uint64_t, MmioRange> ranges_;
};

}  // namespace vpio

// The MMIO address space of one guest outside its RAM: a sorted map of
// non-overlapping address ranges, each served by an MmioDevice. Like the port
// bus, registering an overlap is an error.
#pragma once

#include <cstdint>

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

using MmioRange = AddressRange<std::uint64_t, std::uint64_t, MmioDevice>;

// The whole 64-bit space; an access that straddles a range's end belongs to
// no device.
class MmioBus : public RangeMap<std::uint64_t, std::uint64_t, MmioDevice> {
 public:
  MmioBus() noexcept : RangeMap("MMIO", ~std::uint64_t{0}) {}
};

}  // namespace vpio

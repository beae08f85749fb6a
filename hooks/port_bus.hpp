// The port I/O address space of one guest: a sorted map of non-overlapping
// port ranges, each served by a PortDevice. Registering an overlap is an error.
#pragma once

#include <cstdint>
#include <span>

#include "hooks/range_map.hpp"

namespace vpio {

// How an access was served: straight to a physical device, through the
// device's monitor, or by a device the VMM emulates. `coalesced`: a write
// that KVM queued without an exit and the VMM handed on, direct, later (see
// PostedWrites).
enum class IoPath : std::uint8_t { direct, hooked, emulated, coalesced };
inline constexpr unsigned kIoPaths = 4;

// A device as the bus sees it: reads and writes at an offset in its range.
// Called on a vCPU thread on the exit path: implementations must not throw.
class PortDevice {
 public:
  virtual ~PortDevice() = default;
  virtual std::uint32_t port_read(std::uint16_t offset, unsigned size) noexcept = 0;
  virtual void port_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept = 0;
  // String I/O (rep ins/outs): `data` holds data.size() / size elements.
  // The defaults loop over single accesses; devices with a FIFO may do better.
  virtual void port_read_string(std::uint16_t offset, unsigned size,
                                std::span<std::uint8_t> data) noexcept;
  virtual void port_write_string(std::uint16_t offset, unsigned size,
                                 std::span<const std::uint8_t> data) noexcept;
  // Writes KVM queued without an exit (coalesced PIO), handed over in guest
  // order before the guest's next exit is handled. The default takes them as
  // string writes; a device that counts paths says how it served them.
  virtual void port_write_posted(std::uint16_t offset, unsigned size,
                                 std::span<const std::uint8_t> data) noexcept {
    port_write_string(offset, size, data);
  }
  // How the device served the last access made on this thread's vCPU: read
  // by the exit profile right after the access.
  virtual IoPath last_path() const noexcept { return IoPath::emulated; }
};

// Where a device asks for the writes to some of its ports to be posted: KVM
// queues them without an exit, and the machine hands them to the device, in
// order, before it handles the guest's next exit. A device asks for it only
// while a write to those ports needs no answer from the VMM before the guest's
// next access: no value, no machine check at that instruction. Implemented by
// the machine; safe from any thread; a machine whose KVM cannot post ignores it.
class PostedWrites {
 public:
  virtual ~PostedWrites() = default;
  virtual void post_writes(std::uint16_t port, std::uint16_t bytes, bool on) noexcept = 0;
};

using PortRange = AddressRange<std::uint16_t, std::uint32_t, PortDevice>;

// The port space 0-0xffff: ranges of up to 0x10000 ports.
class PortBus : public RangeMap<std::uint16_t, std::uint32_t, PortDevice> {
 public:
  PortBus() noexcept : RangeMap("port", 0xffff) {}
};

// Little-endian element access for string I/O buffers.
std::uint32_t load_element(const std::uint8_t* p, unsigned size) noexcept;
void store_element(std::uint8_t* p, unsigned size, std::uint32_t value) noexcept;

// String I/O as single accesses: fills `data` element by element from
// read(), or hands each element of `data` to write(value).
template <typename Read>
void read_elements(unsigned size, std::span<std::uint8_t> data, Read read) noexcept {
  for (std::size_t i = 0; i + size <= data.size(); i += size)
    store_element(data.data() + i, size, read());
}
template <typename Write>
void write_elements(unsigned size, std::span<const std::uint8_t> data, Write write) noexcept {
  for (std::size_t i = 0; i + size <= data.size(); i += size)
    write(load_element(data.data() + i, size));
}

}  // namespace vpio

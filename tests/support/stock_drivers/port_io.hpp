// Port access for the stock NE2000 drivers the conformance tests replay
// (tests/unit/test_driver_conformance.cpp): a guest's card window driven by
// the inb/outb family, and what the drivers' replays share.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hooks/hooked_ports.hpp"
#include "devices/ne2000/ne2000.hpp"

namespace vpio::testing_support {

using Bytes = std::vector<std::uint8_t>;
using namespace devices::ne2000;

// A bound on a driver's busy-wait that on hardware runs out after a few
// jiffies or microseconds; the chip answers at once.
inline constexpr unsigned kDriverPolls = 2000;
inline constexpr std::size_t kEthZlen = 60;  // ETH_ZLEN, ETHER_MIN_LEN - ETHER_CRC_LEN
inline constexpr std::size_t kMacBytes = 6;
using Mac = std::array<std::uint8_t, kMacBytes>;

// Port access to a guest's card window by the inb/outb family (Linux's and
// iPXE's argument order: value, then port) and its rep-string forms, whose
// count is in elements.
class PortIo {
 public:
  explicit PortIo(PassthroughWindow& window) : window_(window) {}

  // What the driver would have printed: a warning or error of its own.
  const std::vector<std::string>& complaints() const { return complaints_; }

 protected:
  std::uint8_t inb(unsigned port) { return static_cast<std::uint8_t>(read(port, 1)); }
  std::uint16_t inw(unsigned port) { return static_cast<std::uint16_t>(read(port, 2)); }
  std::uint32_t inl(unsigned port) { return read(port, 4); }
  // The value as the driver computes it (a count shifted, a page): its low
  // byte or word goes out, as a C cast to u8 or u16 would make it.
  void outb(std::size_t value, unsigned port) {
    write(port, 1, static_cast<std::uint32_t>(value & 0xffu));
  }
  void outw(std::size_t value, unsigned port) {
    write(port, 2, static_cast<std::uint32_t>(value & 0xffffu));
  }
  void insb(unsigned port, std::span<std::uint8_t> buffer, std::size_t count) {
    ins(port, 1, buffer, count);
  }
  void insw(unsigned port, std::span<std::uint8_t> buffer, std::size_t count) {
    ins(port, 2, buffer, count);
  }
  void insl(unsigned port, std::span<std::uint8_t> buffer, std::size_t count) {
    ins(port, 4, buffer, count);
  }
  void outsb(unsigned port, std::span<const std::uint8_t> buffer, std::size_t count) {
    outs(port, 1, buffer, count);
  }
  void outsw(unsigned port, std::span<const std::uint8_t> buffer, std::size_t count) {
    outs(port, 2, buffer, count);
  }
  void outsl(unsigned port, std::span<const std::uint8_t> buffer, std::size_t count) {
    outs(port, 4, buffer, count);
  }
  void complain(std::string what) { complaints_.push_back(std::move(what)); }

 private:
  static std::uint16_t offset(unsigned port) { return static_cast<std::uint16_t>(port); }
  std::uint32_t read(unsigned port, unsigned size) { return window_.port_read(offset(port), size); }
  void write(unsigned port, unsigned size, std::uint32_t value) {
    window_.port_write(offset(port), size, value);
  }
  void ins(unsigned port, unsigned size, std::span<std::uint8_t> buffer, std::size_t count) {
    if (count != 0) window_.port_read_string(offset(port), size, buffer.first(count * size));
  }
  void outs(unsigned port, unsigned size, std::span<const std::uint8_t> buffer, std::size_t count) {
    if (count != 0) window_.port_write_string(offset(port), size, buffer.first(count * size));
  }

  PassthroughWindow& window_;
  std::vector<std::string> complaints_;
};

// Bytes padded with zeros to `size`, as a driver's buffer beyond its data
// (an sk_buff's tail room, a padded copy).
inline Bytes padded(const Bytes& data, std::size_t size) {
  Bytes out = data;
  if (out.size() < size) out.resize(size, 0);
  return out;
}

inline std::uint16_t le16(std::span<const std::uint8_t> bytes) {
  return static_cast<std::uint16_t>(bytes[0] | (unsigned{bytes[1]} << 8));
}

}  // namespace vpio::testing_support

// Frames as the conformance suite and the device-generic fuzz harness
// make and read them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "hw/net/mac_address.hpp"

namespace vpio::conformance {

using Bytes = std::vector<std::uint8_t>;

// A frame of `size` bytes (at least 14): destination, source, the local
// experimental EtherType, and a payload that differs with `seed`.
inline Bytes make_frame(const hw::MacAddress& to, const hw::MacAddress& from, std::size_t size,
                        unsigned seed) {
  Bytes f(size);
  std::copy(to.bytes.begin(), to.bytes.end(), f.begin());
  std::copy(from.bytes.begin(), from.bytes.end(), f.begin() + 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  for (std::size_t i = 14; i < size; ++i) f[i] = static_cast<std::uint8_t>(seed * 31 + i);
  return f;
}
inline hw::MacAddress destination_of(const Bytes& f) {
  hw::MacAddress m;
  std::copy_n(f.begin(), 6, m.bytes.begin());
  return m;
}
inline hw::MacAddress source_of(const Bytes& f) {
  hw::MacAddress m;
  std::copy_n(f.begin() + 6, 6, m.bytes.begin());
  return m;
}

}  // namespace vpio::conformance

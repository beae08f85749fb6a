// The Ethernet CRC (IEEE 802.3 CRC-32) as chips use it: the frame check
// sequence a receiving chip stores after a frame, and the six bits of it
// that index a multicast hash filter.
#pragma once

#include <cstdint>
#include <span>

namespace vpio::hw {

// The FCS of `bytes`, as the four bytes that follow them on the wire,
// least significant first.
std::uint32_t ethernet_fcs(std::span<const std::uint8_t> bytes) noexcept;

// The index (0..63) a DP8390 or an RTL8139 hashes a multicast destination
// to: the top six bits of the CRC taken MSB-first (Linux's ether_crc() >> 26).
// Bit (index & 7) of filter byte (index >> 3) accepts it.
unsigned multicast_hash_index(std::span<const std::uint8_t> destination) noexcept;

}  // namespace vpio::hw

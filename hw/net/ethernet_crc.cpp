// The reflected CRC-32 register serves both users: complemented, it is the
// FCS; its low six bits are the MSB-first CRC's top six, reversed.
#include "hw/net/ethernet_crc.hpp"

namespace vpio::hw {
namespace {

constexpr std::uint32_t kReflectedPolynomial = 0xedb88320u;

std::uint32_t crc_register(std::span<const std::uint8_t> bytes) noexcept {
  std::uint32_t crc = 0xffffffffu;
  for (const std::uint8_t byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc >> 1) ^ ((crc & 1u) != 0 ? kReflectedPolynomial : 0u);
  }
  return crc;
}

}  // namespace

std::uint32_t ethernet_fcs(std::span<const std::uint8_t> bytes) noexcept {
  return ~crc_register(bytes);
}

unsigned multicast_hash_index(std::span<const std::uint8_t> destination) noexcept {
  const std::uint32_t crc = crc_register(destination);
  unsigned index = 0;
  for (unsigned bit = 0; bit < 6; ++bit) index = (index << 1) | ((crc >> bit) & 1u);
  return index;
}

}  // namespace vpio::hw

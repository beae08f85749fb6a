// Byte helpers for programming 8-bit registers with 16-bit values.
#pragma once

#include <cstdint>

namespace vpio::hw {

constexpr std::uint8_t lo(unsigned v) noexcept { return static_cast<std::uint8_t>(v & 0xff); }
constexpr std::uint8_t hi(unsigned v) noexcept { return static_cast<std::uint8_t>((v >> 8) & 0xff); }

}  // namespace vpio::hw

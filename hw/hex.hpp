// "0x" and lowercase hex digits, as vpio's messages write port numbers,
// addresses and register values.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>

namespace vpio::hw {

inline std::string hex(std::uint64_t value) {
  char digits[16];
  const auto result = std::to_chars(digits, digits + sizeof digits, value, 16);
  return "0x" + std::string(digits, result.ptr);
}

}  // namespace vpio::hw

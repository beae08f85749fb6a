// An Ethernet station address.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vpio::hw {

struct MacAddress {
  std::array<std::uint8_t, 6> bytes{};

  // Accepts exactly "xx:xx:xx:xx:xx:xx" in hex, either case.
  static std::optional<MacAddress> parse(std::string_view text);
  std::string to_string() const;  // lower-case, colon-separated
  bool operator==(const MacAddress&) const = default;
  // Multicast or broadcast: bit 0 of the first octet.
  bool is_group() const noexcept { return (bytes[0] & 1) != 0; }
};

}  // namespace vpio::hw

#include "hw/net/mac_address.hpp"

#include <cstdio>

namespace vpio::hw {
namespace {

constexpr std::size_t kMacBytes = 6;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<MacAddress> MacAddress::parse(std::string_view text) {
  constexpr std::size_t kTextBytes = 3 * kMacBytes - 1;
  if (text.size() != kTextBytes) return std::nullopt;
  MacAddress mac;
  for (std::size_t i = 0; i < kMacBytes; ++i) {
    const std::size_t at = 3 * i;
    if (i > 0 && text[at - 1] != ':') return std::nullopt;
    const int high = hex_digit(text[at]);
    const int low = hex_digit(text[at + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    mac.bytes[i] = static_cast<std::uint8_t>(high * 16 + low);
  }
  return mac;
}

std::string MacAddress::to_string() const {
  char text[3 * kMacBytes];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2],
                bytes[3], bytes[4], bytes[5]);
  return text;
}

}  // namespace vpio::hw

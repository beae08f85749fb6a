// The port I/O range map.
#include "hooks/port_bus.hpp"

#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace vpio {
namespace {

std::string describe(std::uint16_t base, std::uint32_t length, const std::string& name) {
  char text[64];
  std::snprintf(text, sizeof text, "0x%x-0x%x", base, base + length - 1);
  return "'" + name + "' (" + text + ")";
}

}  // namespace

std::uint32_t load_element(const std::uint8_t* p, unsigned size) noexcept {
  std::uint32_t v = 0;
  std::memcpy(&v, p, size);
  return v;
}

void store_element(std::uint8_t* p, unsigned size, std::uint32_t value) noexcept {
  std::memcpy(p, &value, size);
}

void PortDevice::port_read_string(std::uint16_t offset, unsigned size,
                                  std::span<std::uint8_t> data) noexcept {
  read_elements(size, data, [&] { return port_read(offset, size); });
}

void PortDevice::port_write_string(std::uint16_t offset, unsigned size,
                                   std::span<const std::uint8_t> data) noexcept {
  write_elements(size, data, [&](std::uint32_t value) { port_write(offset, size, value); });
}

bool PortBus::remove(std::uint16_t base, const PortDevice& device) noexcept {
  const auto it = ranges_.find(base);
  if (it == ranges_.end() || it->second.device != &device) return false;
  ranges_.erase(it);
  return true;
}

void PortBus::add(std::uint16_t base, std::uint32_t length, PortDevice& device, std::string name) {
  if (length == 0 || base + length > 0x10000u)
    throw std::invalid_argument("port range " + describe(base, length, name) +
                                " is empty or runs past port 0xffff");
  auto next = ranges_.lower_bound(base);
  if (next != ranges_.end() && next->second.base < base + length)
    throw std::invalid_argument(
        "port range " + describe(base, length, name) + " overlaps " +
        describe(next->second.base, next->second.length, next->second.name));
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (prev->second.end() > base)
      throw std::invalid_argument(
          "port range " + describe(base, length, name) + " overlaps " +
          describe(prev->second.base, prev->second.length, prev->second.name));
  }
  ranges_.emplace(base, PortRange{base, length, &device, std::move(name)});
}

const PortRange* PortBus::find(std::uint16_t port) const noexcept {
  auto it = ranges_.upper_bound(port);
  if (it == ranges_.begin()) return nullptr;
  --it;
  return port < it->second.end() ? &it->second : nullptr;
}

}  // namespace vpio

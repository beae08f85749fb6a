// Port devices' string I/O, element by element.
#include "hooks/port_bus.hpp"

#include <cstring>

namespace vpio {

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

}  // namespace vpio

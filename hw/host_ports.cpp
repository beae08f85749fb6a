// The real port space: ioperm() and the in/out instructions.
#include "hw/host_ports.hpp"

#include <sys/io.h>

#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <system_error>

#include "hw/hex.hpp"

namespace vpio::hw {

namespace {

// ioperm's original bitmap: kernels before 2.6.8 grant nothing above it.
constexpr unsigned kLegacyIopermPorts = 0x400;
constexpr unsigned kPortSpace = 0x10000;

}  // namespace

void SystemPorts::request(std::uint16_t base, std::uint16_t count) {
  const std::string range = "ioperm(" + hex(base) + ", " + std::to_string(count) + " ports)";
  if (count == 0 || unsigned{base} + count > kPortSpace) {
    throw std::invalid_argument(range + ": empty or past port 0xffff");
  }
  if (::ioperm(base, count, 1) == 0) return;
  const int err = errno;
  std::string why = range + " failed";
  if (err == EPERM) {
    why += " (port I/O needs root or CAP_SYS_RAWIO)";
  } else if (err == EINVAL && unsigned{base} + count > kLegacyIopermPorts) {
    // Only this kernel's ioperm can refuse high ports; iopl would reach them
    // but opens every port and interrupt masking to the whole process.
    why += " (this kernel's ioperm grants only ports below 0x400; iopl is not supported)";
  }
  throw std::system_error(err, std::generic_category(), why);
}

// glibc's <sys/io.h> takes the value before the port.
std::uint8_t SystemPorts::inb(std::uint16_t port) { return ::inb(port); }
std::uint16_t SystemPorts::inw(std::uint16_t port) { return ::inw(port); }
std::uint32_t SystemPorts::inl(std::uint16_t port) { return ::inl(port); }
void SystemPorts::outb(std::uint16_t port, std::uint8_t value) { ::outb(value, port); }
void SystemPorts::outw(std::uint16_t port, std::uint16_t value) { ::outw(value, port); }
void SystemPorts::outl(std::uint16_t port, std::uint32_t value) { ::outl(value, port); }

void SystemPorts::ins(std::uint16_t port, unsigned size, std::span<std::uint8_t> data) {
  const unsigned long count = data.size() / size;
  switch (size) {
    case 1: ::insb(port, data.data(), count); break;
    case 2: ::insw(port, data.data(), count); break;
    case 4: ::insl(port, data.data(), count); break;
    default: break;
  }
}

void SystemPorts::outs(std::uint16_t port, unsigned size, std::span<const std::uint8_t> data) {
  const unsigned long count = data.size() / size;
  switch (size) {
    case 1: ::outsb(port, data.data(), count); break;
    case 2: ::outsw(port, data.data(), count); break;
    case 4: ::outsl(port, data.data(), count); break;
    default: break;
  }
}

}  // namespace vpio::hw

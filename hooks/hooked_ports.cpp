// The hooked-I/O list and the direct/hooked dispatch.
#include "hooks/hooked_ports.hpp"

#include <stdexcept>

namespace vpio {

void HookedIoHandler::hooked_read_string(std::uint16_t offset, unsigned size,
                                         std::span<std::uint8_t> data) noexcept {
  read_elements(size, data, [&] { return hooked_read(offset, size); });
}

void HookedIoHandler::hooked_write_string(std::uint16_t offset, unsigned size,
                                          std::span<const std::uint8_t> data) noexcept {
  write_elements(size, data, [&](std::uint32_t value) { hooked_write(offset, size, value); });
}

std::uint64_t PortCounters::count(std::uint16_t offset, IoPath path, bool write) const noexcept {
  if (offset >= counts_.size()) return 0;
  return counts_[offset][static_cast<unsigned>(path) * 2 + (write ? 1 : 0)].load(
      std::memory_order_relaxed);
}

std::uint64_t PortCounters::total(IoPath path) const noexcept {
  std::uint64_t sum = 0;
  for (std::uint16_t p = 0; p < counts_.size(); ++p)
    sum += count(p, path, false) + count(p, path, true);
  return sum;
}

std::uint64_t PortCounters::total() const noexcept {
  return total(IoPath::direct) + total(IoPath::hooked) + total(IoPath::emulated);
}

PassthroughWindow::PassthroughWindow(std::uint16_t ports, hw::PhysicalDevice& device,
                                     HookedIoHandler& monitor)
    : ports_(ports), device_(device), monitor_(monitor), counters_(ports) {
  if (ports == 0 || ports > kMaxPorts)
    throw std::invalid_argument("passthrough window of " + std::to_string(ports) +
                                " ports (1 to 256)");
}

void PassthroughWindow::hook(std::uint16_t offset) noexcept {
  if (offset < ports_) hooked_.set(offset);
}

void PassthroughWindow::unhook(std::uint16_t offset) noexcept {
  if (offset < ports_) hooked_.reset(offset);
}

void PassthroughWindow::hook_all() noexcept {
  for (std::uint16_t p = 0; p < ports_; ++p) hooked_.set(p);
}

// The device may throw (a wire failing); the exit path must not. A lost
// access is the least harm.
std::uint32_t PassthroughWindow::port_read(std::uint16_t offset, unsigned size) noexcept {
  if (hooked(offset)) {
    counters_.add(offset, IoPath::hooked, false, 1);
    return monitor_.hooked_read(offset, size);
  }
  counters_.add(offset, IoPath::direct, false, 1);
  try {
    return device_.read(offset, size);
  } catch (...) {
    return ~0u;
  }
}

void PassthroughWindow::port_write(std::uint16_t offset, unsigned size,
                                   std::uint32_t value) noexcept {
  if (hooked(offset)) {
    counters_.add(offset, IoPath::hooked, true, 1);
    monitor_.hooked_write(offset, size, value);
    return;
  }
  counters_.add(offset, IoPath::direct, true, 1);
  try {
    device_.write(offset, size, value);
  } catch (...) {
  }
}

void PassthroughWindow::port_read_string(std::uint16_t offset, unsigned size,
                                         std::span<std::uint8_t> data) noexcept {
  const std::uint64_t elements = size == 0 ? 0 : data.size() / size;
  if (hooked(offset)) {
    counters_.add(offset, IoPath::hooked, false, elements);
    monitor_.hooked_read_string(offset, size, data);
    return;
  }
  counters_.add(offset, IoPath::direct, false, elements);
  try {
    device_.read_string(offset, size, data);
  } catch (...) {
  }
}

void PassthroughWindow::port_write_string(std::uint16_t offset, unsigned size,
                                          std::span<const std::uint8_t> data) noexcept {
  const std::uint64_t elements = size == 0 ? 0 : data.size() / size;
  if (hooked(offset)) {
    counters_.add(offset, IoPath::hooked, true, elements);
    monitor_.hooked_write_string(offset, size, data);
    return;
  }
  counters_.add(offset, IoPath::direct, true, elements);
  try {
    device_.write_string(offset, size, data);
  } catch (...) {
  }
}

}  // namespace vpio

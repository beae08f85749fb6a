// The hooked-I/O list and the direct/hooked dispatch.
#include "hooks/hooked_ports.hpp"

#include <algorithm>
#include <new>
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

PortCounters::PortCounters(std::uint16_t ports)
    : ports_(ports),
      counts_(static_cast<std::uint64_t*>(
          std::calloc(std::max<std::size_t>(std::size_t{ports} * kIoPaths * 2, 1),
                      sizeof(std::uint64_t)))) {
  if (!counts_) throw std::bad_alloc();
}

std::uint64_t PortCounters::count(std::uint16_t offset, IoPath path, bool write) const noexcept {
  if (offset >= ports_) return 0;
  return std::atomic_ref<std::uint64_t>(counts_[slot(offset, path, write)])
      .load(std::memory_order_relaxed);
}

std::uint64_t PortCounters::total(IoPath path) const noexcept {
  std::uint64_t sum = 0;
  for (std::uint16_t p = 0; p < ports_; ++p)
    sum += count(p, path, false) + count(p, path, true);
  return sum;
}

std::uint64_t PortCounters::total() const noexcept {
  std::uint64_t sum = 0;
  for (unsigned path = 0; path < kIoPaths; ++path) sum += total(static_cast<IoPath>(path));
  return sum;
}

PassthroughWindow::PassthroughWindow(std::uint16_t ports, hw::PhysicalDevice& device,
                                     HookedIoHandler& monitor, std::mutex* gate)
    : ports_(ports), device_(device), gate_(gate), monitor_(monitor), counters_(ports) {
  if (ports == 0 || ports > kMaxPorts)
    throw std::invalid_argument("passthrough window of " + std::to_string(ports) +
                                " ports (1 to 256)");
}

void PassthroughWindow::post_direct_writes(PostedWrites& posted, std::uint16_t base,
                                           std::uint16_t offset, std::uint16_t bytes) {
  if (offset >= ports_ || bytes == 0 || offset + bytes > ports_)
    throw std::invalid_argument("posted writes at offset " + std::to_string(offset) + " (" +
                                std::to_string(bytes) + " bytes) outside a window of " +
                                std::to_string(ports_) + " ports");
  posted_ = &posted;
  posted_base_ = base;
  posted_offset_ = offset;
  posted_bytes_ = bytes;
  posted_placed_ = true;
  if (!writes_hooked(offset))
    posted.post_writes(static_cast<std::uint16_t>(base + offset), bytes, true);
}

void PassthroughWindow::move_posted(std::optional<std::uint16_t> base) noexcept {
  if (posted_ == nullptr) return;
  // Under the gate, so that no hook change registers or drops the range
  // between the two steps.
  std::unique_lock<std::mutex> lock;
  if (gate_ != nullptr) lock = std::unique_lock(*gate_);
  const bool direct = !writes_hooked(posted_offset_);
  if (posted_placed_ && direct)
    posted_->post_writes(static_cast<std::uint16_t>(posted_base_ + posted_offset_), posted_bytes_,
                         false);
  posted_placed_ = base.has_value();
  if (base) posted_base_ = *base;
  if (posted_placed_ && direct)
    posted_->post_writes(static_cast<std::uint16_t>(posted_base_ + posted_offset_), posted_bytes_,
                         true);
}

void PassthroughWindow::set_hooked(std::uint16_t offset, bool reads, bool writes) noexcept {
  if (offset >= ports_) return;
  hooked_reads_[offset].store(reads, std::memory_order_release);
  const bool was = hooked_writes_[offset].exchange(writes, std::memory_order_acq_rel);
  if (was != writes && posted_ != nullptr && posted_placed_ && offset == posted_offset_)
    posted_->post_writes(static_cast<std::uint16_t>(posted_base_ + offset), posted_bytes_, !writes);
}

void PassthroughWindow::hook_all() noexcept {
  for (std::uint16_t p = 0; p < ports_; ++p) hook(p);
}

// The device may throw (a wire failing); the exit path must not. A lost
// access is the least harm.
template <typename Access>
bool PassthroughWindow::run_direct(std::uint16_t offset, unsigned size, bool write,
                                   Access&& access) noexcept {
  // An access is direct only if every port it covers is: a wide one must not
  // carry a byte past the model to a hooked neighbour.
  const auto is_hooked = [&] {
    for (unsigned i = 0; i < std::max(size, 1u); ++i) {
      const auto port = static_cast<std::uint16_t>(offset + i);
      if (port >= ports_ || (write ? writes_hooked(port) : reads_hooked(port))) return true;
    }
    return false;
  };
  if (is_hooked()) return false;
  std::unique_lock<std::mutex> lock;
  if (gate_ != nullptr) {
    lock = std::unique_lock(*gate_);
    if (is_hooked()) return false;
  }
  try {
    access();
  } catch (...) {
  }
  return true;
}

std::uint32_t PassthroughWindow::port_read(std::uint16_t offset, unsigned size) noexcept {
  std::uint32_t value = ~0u;
  if (run_direct(offset, size, false, [&] { value = device_.read(offset, size); })) {
    counters_.add(offset, IoPath::direct, false, 1);
    last_path_ = IoPath::direct;
    return value;
  }
  counters_.add(offset, IoPath::hooked, false, 1);
  last_path_ = IoPath::hooked;
  return monitor_.hooked_read(offset, size);
}

void PassthroughWindow::port_write(std::uint16_t offset, unsigned size,
                                   std::uint32_t value) noexcept {
  if (run_direct(offset, size, true, [&] { device_.write(offset, size, value); })) {
    counters_.add(offset, IoPath::direct, true, 1);
    last_path_ = IoPath::direct;
    return;
  }
  counters_.add(offset, IoPath::hooked, true, 1);
  last_path_ = IoPath::hooked;
  monitor_.hooked_write(offset, size, value);
}

void PassthroughWindow::port_read_string(std::uint16_t offset, unsigned size,
                                         std::span<std::uint8_t> data) noexcept {
  const std::uint64_t elements = size == 0 ? 0 : data.size() / size;
  if (run_direct(offset, size, false, [&] { device_.read_string(offset, size, data); })) {
    counters_.add(offset, IoPath::direct, false, elements);
    last_path_ = IoPath::direct;
    return;
  }
  counters_.add(offset, IoPath::hooked, false, elements);
  last_path_ = IoPath::hooked;
  monitor_.hooked_read_string(offset, size, data);
}

void PassthroughWindow::port_write_string(std::uint16_t offset, unsigned size,
                                          std::span<const std::uint8_t> data) noexcept {
  write_string(offset, size, data, IoPath::direct);
}

void PassthroughWindow::port_write_posted(std::uint16_t offset, unsigned size,
                                          std::span<const std::uint8_t> data) noexcept {
  write_string(offset, size, data, IoPath::coalesced);
}

void PassthroughWindow::write_string(std::uint16_t offset, unsigned size,
                                     std::span<const std::uint8_t> data,
                                     IoPath direct_path) noexcept {
  const std::uint64_t elements = size == 0 ? 0 : data.size() / size;
  if (run_direct(offset, size, true, [&] { device_.write_string(offset, size, data); })) {
    counters_.add(offset, direct_path, true, elements);
    last_path_ = direct_path;
    return;
  }
  counters_.add(offset, IoPath::hooked, true, elements);
  last_path_ = IoPath::hooked;
  monitor_.hooked_write_string(offset, size, data);
}

}  // namespace vpio

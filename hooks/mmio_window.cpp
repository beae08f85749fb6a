// The MMIO window: direct/hooked dispatch per byte, and exit-free pages.
#include "hooks/mmio_window.hpp"

#include <stdexcept>
#include <string>

namespace vpio {
namespace {

constexpr std::uint64_t all_ones(unsigned size) noexcept {
  return size >= 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * size)) - 1;
}

constexpr bool valid_size(unsigned size) noexcept {
  return size == 1 || size == 2 || size == 4 || size == 8;
}

std::uint32_t checked_bytes(const hw::MemoryMapped& device, const std::string& name) {
  const std::uint32_t bytes = device.mmio_bytes();
  if (bytes < 8 || bytes > MmioWindow::kMaxBytes || bytes % 8 != 0)
    throw std::invalid_argument(name + ": an MMIO window of " +
                                std::to_string(bytes) + " bytes (8 to " +
                                std::to_string(MmioWindow::kMaxBytes) + ", a multiple of 8)");
  return bytes;
}

}  // namespace

MmioWindow::MmioWindow(hw::MemoryMapped& device, const std::string& name,
                       HookedMmioHandler& monitor, std::mutex* gate)
    : device_(device),
      monitor_(monitor),
      gate_(gate),
      bytes_(checked_bytes(device, name)),
      flags_(bytes_, kReadHooked | kWriteHooked),
      counters_(static_cast<std::uint16_t>(bytes_ / 4)),
      mapped_((bytes_ + kPageBytes - 1) / kPageBytes, false) {}

MmioWindow::~MmioWindow() {
  std::lock_guard lock(mapping_mutex_);
  unmap_all();
}

void MmioWindow::set_hooked(std::uint32_t offset, std::uint32_t length, bool reads,
                            bool writes) noexcept {
  if (offset >= bytes_) return;
  const std::uint32_t end = length > bytes_ - offset ? bytes_ : offset + length;
  if (end == offset) return;
  const auto value = static_cast<std::uint8_t>((reads ? kReadHooked : 0) |
                                               (writes ? kWriteHooked : 0));
  std::lock_guard lock(mapping_mutex_);
  const std::uint32_t first_page = offset / kPageBytes, last_page = (end - 1) / kPageBytes;
  // A page gaining a hook loses its mapping before the hook is in force...
  if (value != 0)
    for (std::uint32_t page = first_page; page <= last_page; ++page)
      if (mapped_[page]) {
        mapper_->unmap_page(*base_ + std::uint64_t{page} * kPageBytes);
        mapped_[page] = false;
      }
  for (std::uint32_t i = offset; i < end; ++i) flags_at(i).store(value, std::memory_order_release);
  // ...and one left with none is mapped once nothing in it is hooked.
  for (std::uint32_t page = first_page; page <= last_page; ++page) sync_page(page);
}

void MmioWindow::place(std::optional<std::uint64_t> base, PageMapper* mapper) noexcept {
  std::unique_lock<std::mutex> gate;
  if (gate_ != nullptr) gate = std::unique_lock(*gate_);
  std::lock_guard lock(mapping_mutex_);
  unmap_all();
  base_ = base;
  mapper_ = mapper;
  for (std::uint32_t page = 0; page < mapped_.size(); ++page) sync_page(page);
}

bool MmioWindow::page_mapped(std::uint32_t page) const noexcept {
  std::lock_guard lock(mapping_mutex_);
  return page < mapped_.size() && mapped_[page];
}

std::uint32_t MmioWindow::pages_mapped() const noexcept {
  std::lock_guard lock(mapping_mutex_);
  std::uint32_t n = 0;
  for (bool m : mapped_) n += m ? 1 : 0;
  return n;
}

bool MmioWindow::page_may_map(std::uint32_t page) const noexcept {
  // Only whole pages: a window smaller than a page shares its page with
  // whatever the guest puts beside it.
  if (!base_ || mapper_ == nullptr || *base_ % kPageBytes != 0) return false;
  const std::uint64_t first = std::uint64_t{page} * kPageBytes;
  if (first + kPageBytes > bytes_) return false;
  if (device_.mmio_page(page) == nullptr) return false;
  for (std::uint64_t i = first; i < first + kPageBytes; ++i)
    if (flags_at(static_cast<std::uint32_t>(i)).load(std::memory_order_acquire) != 0) return false;
  return true;
}

void MmioWindow::sync_page(std::uint32_t page) noexcept {
  const bool want = page_may_map(page);
  if (want == mapped_[page]) return;
  const std::uint64_t address = *base_ + std::uint64_t{page} * kPageBytes;
  if (want) {
    mapped_[page] = mapper_->map_page(address, device_.mmio_page(page));
  } else {
    mapper_->unmap_page(address);
    mapped_[page] = false;
  }
}

void MmioWindow::unmap_all() noexcept {
  for (std::uint32_t page = 0; page < mapped_.size(); ++page)
    if (mapped_[page]) {
      mapper_->unmap_page(*base_ + std::uint64_t{page} * kPageBytes);
      mapped_[page] = false;
    }
}

bool MmioWindow::any_hooked(std::uint64_t offset, unsigned size, std::uint8_t bit) const noexcept {
  for (unsigned i = 0; i < size; ++i) {
    const std::uint64_t at = offset + i;
    if (at >= bytes_ ||
        (flags_at(static_cast<std::uint32_t>(at)).load(std::memory_order_acquire) & bit) != 0)
      return true;
  }
  return false;
}

// As PassthroughWindow::run_direct: an access is direct only if every byte
// it covers is, so a wide access never carries a byte past the model.
template <typename Access>
bool MmioWindow::run_direct(std::uint64_t offset, unsigned size, bool write,
                            Access&& access) noexcept {
  const std::uint8_t bit = write ? kWriteHooked : kReadHooked;
  if (any_hooked(offset, size, bit)) return false;
  std::unique_lock<std::mutex> lock;
  if (gate_ != nullptr) {
    lock = std::unique_lock(*gate_);
    if (any_hooked(offset, size, bit)) return false;
  }
  try {
    access();
  } catch (...) {
  }
  return true;
}

std::uint64_t MmioWindow::mmio_read(std::uint64_t offset, unsigned size) noexcept {
  // The bus hands over only accesses inside the window; a malformed one
  // still reads as an absent device.
  if (!valid_size(size) || offset >= bytes_ || size > bytes_ - offset) return all_ones(size);
  const auto at = static_cast<std::uint32_t>(offset);
  const auto dword = static_cast<std::uint16_t>(at / 4);
  std::uint64_t value = all_ones(size);
  if (run_direct(offset, size, false, [&] { value = device_.mmio_read(at, size); })) {
    counters_.add(dword, IoPath::direct, false, 1);
    last_path_ = IoPath::direct;
    return value & all_ones(size);
  }
  counters_.add(dword, IoPath::hooked, false, 1);
  last_path_ = IoPath::hooked;
  return monitor_.hooked_mmio_read(at, size) & all_ones(size);
}

void MmioWindow::mmio_write(std::uint64_t offset, unsigned size, std::uint64_t value) noexcept {
  if (!valid_size(size) || offset >= bytes_ || size > bytes_ - offset) return;
  const auto at = static_cast<std::uint32_t>(offset);
  const auto dword = static_cast<std::uint16_t>(at / 4);
  value &= all_ones(size);
  if (run_direct(offset, size, true, [&] { device_.mmio_write(at, size, value); })) {
    counters_.add(dword, IoPath::direct, true, 1);
    last_path_ = IoPath::direct;
    return;
  }
  counters_.add(dword, IoPath::hooked, true, 1);
  last_path_ = IoPath::hooked;
  monitor_.hooked_mmio_write(at, size, value);
}

}  // namespace vpio

// The MMIO window of a shared device as one guest sees it (a PCI memory BAR
// of a bus master): the MMIO twin of PassthroughWindow. Each access that
// exits is direct (forwarded to the physical device with no model code on
// the path) or hooked (through the monitor), per byte and direction as the
// model says. On top of that, a page of the window whose bytes are all
// direct, and whose device can hand out host memory for it (a VFIO BAR
// mmap'd), is mapped into the guest: accesses to it then make no exit at
// all. Hooking any byte of a mapped page takes the mapping away first.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hooks/hooked_ports.hpp"
#include "hooks/mmio_bus.hpp"
#include "hw/memory_mapped.hpp"

namespace vpio {

// What the monitor implements for hooked MMIO accesses. Called on the
// guest's vCPU thread; must not throw. Values are little-endian in the low
// `size` bytes; size 1, 2, 4 or 8.
class HookedMmioHandler {
 public:
  virtual ~HookedMmioHandler() = default;
  virtual std::uint64_t hooked_mmio_read(std::uint32_t offset, unsigned size) noexcept = 0;
  virtual void hooked_mmio_write(std::uint32_t offset, unsigned size,
                                 std::uint64_t value) noexcept = 0;
};

// Where exit-free pages go: the machine maps a page of host memory into the
// guest at a guest-physical address, and takes it away again. Safe from any
// thread. map_page() returns false when it cannot (no memory slot left):
// the page then stays served by exits, which is slower but the same.
// unmap_page() returns only when no vCPU can reach the page any more.
class PageMapper {
 public:
  virtual ~PageMapper() = default;
  virtual bool map_page(std::uint64_t guest_physical, std::uint8_t* host) noexcept = 0;
  virtual void unmap_page(std::uint64_t guest_physical) noexcept = 0;
};

class MmioWindow final : public MmioDevice {
 public:
  static constexpr std::uint32_t kPageBytes = hw::kMmioPageBytes;
  // The largest window: an e1000's register BAR.
  static constexpr std::uint32_t kMaxBytes = 128 * 1024;

  // Covers the whole MMIO window of `device` (a physical device, or a
  // guest's own chip in emulate mode), which is 8 to kMaxBytes bytes, a
  // multiple of 8; every byte hooked. With a gate, each direct access that
  // exits holds it and re-checks the list under it, as PassthroughWindow's
  // do. Throws std::invalid_argument naming `name` for a device whose
  // window is absent or out of range.
  MmioWindow(hw::MemoryMapped& device, const std::string& name, HookedMmioHandler& monitor,
             std::mutex* gate = nullptr);
  ~MmioWindow() override;
  MmioWindow(const MmioWindow&) = delete;
  MmioWindow& operator=(const MmioWindow&) = delete;

  std::uint32_t bytes() const noexcept { return bytes_; }

  // The hooked-I/O list for [offset, offset + length), per direction.
  // Bytes past the window are ignored. A page that gains a hooked byte is
  // unmapped before this returns; one left with none is mapped again.
  void set_hooked(std::uint32_t offset, std::uint32_t length, bool reads, bool writes) noexcept;
  void hook_all() noexcept { set_hooked(0, bytes_, true, true); }
  bool reads_hooked(std::uint32_t offset) const noexcept { return flag(offset, kReadHooked); }
  bool writes_hooked(std::uint32_t offset) const noexcept { return flag(offset, kWriteHooked); }

  // Where the guest sees the window now (a BAR moved), or nowhere: mapped
  // pages follow it. Call with a mapper once to start mapping exit-free
  // pages; with none, every access exits. Takes the gate.
  void place(std::optional<std::uint64_t> base, PageMapper* mapper) noexcept;
  std::optional<std::uint64_t> base() const noexcept { return base_; }
  // Whether page `page` of the window is mapped into the guest now.
  bool page_mapped(std::uint32_t page) const noexcept;
  std::uint32_t pages_mapped() const noexcept;

  // Exact counts per dword of the window (an access counts at the dword of
  // its first byte), path and direction; accesses to mapped pages make no
  // exit and are not seen.
  const PortCounters& counters() const noexcept { return counters_; }

  std::uint64_t mmio_read(std::uint64_t offset, unsigned size) noexcept override;
  void mmio_write(std::uint64_t offset, unsigned size, std::uint64_t value) noexcept override;
  IoPath last_path() const noexcept override { return last_path_; }

 private:
  static constexpr std::uint8_t kReadHooked = 1, kWriteHooked = 2;
  // The byte's flags, read or written atomically in place.
  std::atomic_ref<std::uint8_t> flags_at(std::uint32_t offset) const noexcept {
    return std::atomic_ref<std::uint8_t>(flags_[offset]);
  }
  bool flag(std::uint32_t offset, std::uint8_t bit) const noexcept {
    return offset < bytes_ && (flags_at(offset).load(std::memory_order_acquire) & bit) != 0;
  }
  bool any_hooked(std::uint64_t offset, unsigned size, std::uint8_t bit) const noexcept;
  // Whether page `page` may be mapped now: placed, a mapper, device memory
  // behind it, and no hooked byte.
  bool page_may_map(std::uint32_t page) const noexcept;
  // Brings page `page`'s mapping in line with page_may_map().
  void sync_page(std::uint32_t page) noexcept;
  void unmap_all() noexcept;
  template <typename Access>
  bool run_direct(std::uint64_t offset, unsigned size, bool write, Access&& access) noexcept;

  hw::MemoryMapped& device_;
  HookedMmioHandler& monitor_;
  std::mutex* gate_;
  std::uint32_t bytes_;
  // Per byte: kReadHooked | kWriteHooked, filled at once and then only
  // reached through flags_at(). Read without the gate on the fast path;
  // written by the monitor (under the gate when there is one).
  mutable std::vector<std::uint8_t> flags_;
  PortCounters counters_;
  // Mapping state: changed by set_hooked() and place() only, which the
  // monitor and the VMM call in turn (set_hooked under the gate, place
  // taking it), so a mutex of its own keeps the two apart.
  mutable std::mutex mapping_mutex_;
  std::optional<std::uint64_t> base_;
  PageMapper* mapper_ = nullptr;
  std::vector<bool> mapped_;
  // Written and read by the one vCPU thread this window belongs to.
  IoPath last_path_ = IoPath::direct;
};

}  // namespace vpio

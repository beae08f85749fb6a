// The hooked-I/O list of one guest over one device window, and the dispatch
// of each access to it: direct (forwarded to the physical device with no model
// code on the path) or hooked (through the monitor), with exact counters per
// port and path. The model may change the list at run time.
#pragma once

#include <array>
#include <atomic>
#include <bitset>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "hooks/port_bus.hpp"
#include "hw/physical_device.hpp"

namespace vpio {

// What the monitor implements for hooked accesses. Called on the guest's vCPU
// thread; must not throw.
class HookedIoHandler {
 public:
  virtual ~HookedIoHandler() = default;
  virtual std::uint32_t hooked_read(std::uint16_t offset, unsigned size) noexcept = 0;
  virtual void hooked_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept = 0;
  virtual void hooked_read_string(std::uint16_t offset, unsigned size,
                                  std::span<std::uint8_t> data) noexcept;
  virtual void hooked_write_string(std::uint16_t offset, unsigned size,
                                   std::span<const std::uint8_t> data) noexcept;
};

// Exact per-port, per-path access counts. Each element of a string operation
// is one access.
class PortCounters {
 public:
  explicit PortCounters(std::uint16_t ports);
  void add(std::uint16_t offset, IoPath path, bool write, std::uint64_t n) noexcept {
    if (offset < ports_)
      std::atomic_ref<std::uint64_t>(counts_[slot(offset, path, write)])
          .fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t count(std::uint16_t offset, IoPath path, bool write) const noexcept;
  std::uint64_t total(IoPath path) const noexcept;
  std::uint64_t total() const noexcept;
  std::uint16_t ports() const noexcept { return ports_; }

 private:
  static std::size_t slot(std::uint16_t offset, IoPath path, bool write) noexcept {
    return std::size_t{offset} * kIoPaths * 2 + static_cast<unsigned>(path) * 2 + (write ? 1 : 0);
  }
  struct Free {
    void operator()(std::uint64_t* p) const noexcept { std::free(p); }
  };

  std::uint16_t ports_;
  // From calloc, not a zeroed vector: an MMIO window counts each of its
  // bytes (half a MiB for two pages), and calloc's large blocks are pages
  // the kernel hands out zeroed and maps only where a count lands. Read and
  // written through std::atomic_ref.
  std::unique_ptr<std::uint64_t[], Free> counts_;
};

// The port window of a shared device as one guest sees it.
class PassthroughWindow final : public PortDevice {
 public:
  static constexpr std::uint16_t kMaxPorts = 256;

  // With a gate, each direct access holds it and re-checks the list under it,
  // so a monitor holding the gate knows no direct access is under way and
  // none will start on a port it has just hooked.
  PassthroughWindow(std::uint16_t ports, hw::PhysicalDevice& device, HookedIoHandler& monitor,
                    std::mutex* gate = nullptr);

  // Asks `posted` to post writes to [offset, offset + bytes) of this window,
  // which the guest sees at `base`, whenever `offset`'s writes are direct,
  // and to stop when they are hooked: a hooked write may need the monitor's answer at once.
  // Call once, before the guest runs. The ports past `offset` in the range
  // must be ones whose writes never need an answer either.
  void post_direct_writes(PostedWrites& posted, std::uint16_t base, std::uint16_t offset,
                          std::uint16_t bytes);
  // The guest sees the window at `base` now (a PCI BAR moved), or nowhere:
  // the posted range moves with it. No-op before post_direct_writes().
  void move_posted(std::optional<std::uint16_t> base) noexcept;

  // The hooked-I/O list, per port and direction (a device may bound one
  // direction of a port and not the other). Offsets past the window are
  // ignored.
  void set_hooked(std::uint16_t offset, bool reads, bool writes) noexcept;
  void hook(std::uint16_t offset) noexcept { set_hooked(offset, true, true); }
  void unhook(std::uint16_t offset) noexcept { set_hooked(offset, false, false); }
  void hook_all() noexcept;
  bool reads_hooked(std::uint16_t offset) const noexcept {
    return offset < ports_ && hooked_reads_[offset].load(std::memory_order_acquire);
  }
  bool writes_hooked(std::uint16_t offset) const noexcept {
    return offset < ports_ && hooked_writes_[offset].load(std::memory_order_acquire);
  }
  // Both directions.
  bool hooked(std::uint16_t offset) const noexcept {
    return reads_hooked(offset) && writes_hooked(offset);
  }
  const PortCounters& counters() const noexcept { return counters_; }
  std::uint16_t ports() const noexcept { return ports_; }

  std::uint32_t port_read(std::uint16_t offset, unsigned size) noexcept override;
  void port_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept override;
  void port_read_string(std::uint16_t offset, unsigned size,
                        std::span<std::uint8_t> data) noexcept override;
  void port_write_string(std::uint16_t offset, unsigned size,
                         std::span<const std::uint8_t> data) noexcept override;
  // Posted writes go direct if the port still is, counted as coalesced;
  // otherwise through the monitor, as any hooked write.
  void port_write_posted(std::uint16_t offset, unsigned size,
                         std::span<const std::uint8_t> data) noexcept override;
  IoPath last_path() const noexcept override { return last_path_; }

 private:
  void write_string(std::uint16_t offset, unsigned size, std::span<const std::uint8_t> data,
                    IoPath direct_path) noexcept;

  // Runs a direct access under the gate if the port is still direct for
  // this direction there.
  template <typename Access>
  bool run_direct(std::uint16_t offset, unsigned size, bool write, Access&& access) noexcept;

  std::uint16_t ports_;
  hw::PhysicalDevice& device_;
  std::mutex* gate_;
  HookedIoHandler& monitor_;
  // Read without the gate on the fast path; written under it by the monitor.
  std::array<std::atomic<bool>, kMaxPorts> hooked_reads_{};
  std::array<std::atomic<bool>, kMaxPorts> hooked_writes_{};
  PortCounters counters_;
  // The posted range, set before the guest runs; its registration follows
  // hooked_writes_[posted_offset_] (changed under the gate, so in order).
  PostedWrites* posted_ = nullptr;
  std::uint16_t posted_base_ = 0, posted_offset_ = 0, posted_bytes_ = 0;
  bool posted_placed_ = false;  // the guest sees the window somewhere
  // Written and read by the one vCPU thread this window belongs to.
  IoPath last_path_ = IoPath::direct;
};

}  // namespace vpio

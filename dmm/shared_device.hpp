// The device-generic core of a Device Modeling Monitor (docs/vpio.md): one
// physical device shared by several guests. It keeps what every shared
// device needs, whatever its registers:
//  - the gate: one lock for the monitor's state, which each guest's window
//    also holds for its direct accesses (hooks/hooked_ports.hpp);
//  - the guests' shares: each a window onto the device, hooked per port as
//    the device's model says (question 3), and their counts;
//  - ownership of the device for a checked operation (a DMA the model
//    validated, say): one guest at a time; another guest that needs the
//    device waits, and an owner that holds it past the stall limit has its
//    operation stopped and gets a violation;
//  - context switches between guests, counted and timed;
//  - violations, reported to the guest's VMM (which makes them machine
//    checks: vmm/dmm_machine_check.hpp);
//  - the service thread: when the device interrupts (or every poll
//    interval), and the device is free, the device's side reads what it
//    received and hands it on.
// What is particular to a device (its registers, how to program it, its
// model) is its driver's (DeviceDriver), outside dmm/: devices/<name>/.
// Knows nothing of KVM, and no register of any device.
#pragma once

#include <atomic>
#include <bitset>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "dmm/device_model.hpp"
#include "dmm/dma.hpp"
#include "dmm/guest_memory.hpp"
#include "dmm/violation.hpp"
#include "hooks/hooked_ports.hpp"
#include "hooks/mmio_window.hpp"
#include "hw/physical_device.hpp"

namespace vpio::dmm {

// What a guest's VMM gives the monitor to reach the guest.
struct GuestCallbacks {
  std::function<void()> raise_irq;  // the guest device's interrupt line rose
  // The model refused the guest's access: the VMM gives it a machine check.
  std::function<void(const ViolationReport&)> violation;
  // The guest's RAM: its guest-physical ranges and where each is mapped in
  // this process. Their DMA addresses are the monitor's to lay out (a bus
  // master's monitor maps them for its device: dmm/iova_space.hpp).
  GuestMemory ram;
};

struct SharingConfig {
  // A guest's checked operation that keeps the device from others longer
  // than this is stopped and the guest gets a violation.
  std::chrono::milliseconds operation_stall_limit{3000};
  // How often the device is serviced without an interrupt.
  std::chrono::microseconds poll_interval{2000};
  // False for a device whose interrupt does not reach userspace (a real ISA
  // card: polled). Then a guest waiting on its own device also makes the
  // monitor look at the device, at most once per wait_check_interval.
  bool device_interrupts = true;
  std::chrono::microseconds wait_check_interval{100};
  // False: no service thread; the device is serviced only by service_now()
  // (a harness that must run the same way every time: fuzz/).
  bool run_service_thread = true;
};

struct SharingStats {
  std::uint64_t context_switches = 0;    // the device changed hands between guests
  std::uint64_t switch_nanoseconds = 0;  // spent loading guests' contexts at those changes
  std::uint64_t services = 0;            // times the device's side serviced the device
  std::uint64_t wait_checks = 0;         // looks at a polled device when a guest waited
  std::uint64_t targets_checked = 0;     // DMA targets checked against guests' shares
  std::uint64_t targets_refused = 0;     // of them outside the share: a model's bug caught
};

struct SharedGuestCounts {
  std::uint64_t context_switches = 0;  // the device changed hands to this guest
  std::uint64_t violations = 0;
};

// What a monitor reports of its device or of one guest's share, for the
// VMM's stats and exit report: named counts and texts, as the device's side
// names them. The VMM reads a few by name (frames_sent, frames_received,
// context_switches, violations) where a device has them.
struct Report {
  std::vector<std::pair<std::string, std::string>> texts;
  std::vector<std::pair<std::string, std::uint64_t>> counts;
  // The count of that name; 0 when the device reports none.
  std::uint64_t count(std::string_view name) const noexcept {
    for (const auto& [n, v] : counts)
      if (n == name) return v;
    return 0;
  }
};

class SharedDevice;

// One guest's share of the device. A device's monitor derives its guest
// from it, adding the guest's model and its own device's state, and serves
// the guest's hooked accesses (HookedIoHandler) under the gate.
class SharedGuest : public HookedIoHandler {
 public:
  SharedGuest(const SharedGuest&) = delete;
  SharedGuest& operator=(const SharedGuest&) = delete;

  PassthroughWindow& window() noexcept { return window_; }
  // The guest's view of the device's MMIO window, when the device has one
  // and the device's monitor serves it; else nullptr.
  MmioWindow* mmio_window() noexcept { return mmio_window_.get(); }
  const std::string& name() const noexcept { return name_; }
  // This guest's share as its device's side counts it (takes the gate).
  virtual Report report() const = 0;

 protected:
  // The window covers `window_ports` ports of the device, all hooked; with
  // an MMIO handler (the derived guest) and a device that has an MMIO
  // window, the guest gets a view of that too, all hooked.
  SharedGuest(SharedDevice& device, std::string name, GuestCallbacks callbacks,
              std::uint16_t window_ports, HookedMmioHandler* mmio_handler = nullptr);
  ~SharedGuest() override = default;

  const GuestCallbacks& callbacks() const noexcept { return callbacks_; }
  // The hooked-I/O list, per direction, as the model gives it now.
  void set_hooked(const PortSet& reads, const PortSet& writes) noexcept;
  void set_hooked(const HookedAccesses& hooked) noexcept;
  // What this guest's operations may make the device touch (dma.hpp);
  // declared once, when the device's monitor adds the guest. Until then,
  // nothing.
  void set_share(DmaShare share) { share_ = std::move(share); }

 private:
  friend class SharedDevice;
  std::string name_;
  GuestCallbacks callbacks_;
  PassthroughWindow window_;
  std::unique_ptr<MmioWindow> mmio_window_;
  // The MMIO answer last applied (none: all hooked, as the window starts),
  // when mmio_applied_.
  std::vector<HookedAccesses::ByteRange> mmio_direct_;
  bool mmio_applied_ = true;
  DmaShare share_;
  SharedGuestCounts counts_;  // under the gate
};

// What the core needs from the device's own side (its card driver). Every
// call is made under the gate.
class DeviceDriver {
 public:
  virtual ~DeviceDriver() = default;
  // Whether the device has ended `owner`'s checked operation. When it has,
  // the driver has wound it up on its side; the core then frees the device.
  virtual bool operation_ended(SharedGuest& owner) = 0;
  // `owner` held the device past the stall limit: the driver stops the
  // operation on the device and says what to report to the guest.
  virtual ViolationReport stop_stalled_operation(SharedGuest& owner) = 0;
  // Reads what the device received and hands it on; the device is free.
  virtual void service() = 0;
  // Whether the device has something for service() (asked for a device
  // whose interrupt is polled, when a guest waits).
  virtual bool has_events() = 0;
};

// A monitor of one shared device as the VMM drives it, whatever the device:
// each device's monitor (devices/<name>/) is one.
class Monitor {
 public:
  virtual ~Monitor() = default;
  virtual std::string describe_device() const = 0;
  // The device's own counts, beside the guests' (takes the gate).
  virtual Report report() const = 0;
  // Stops the service thread and every callback into guests. Idempotent.
  virtual void stop() = 0;
  // Services the device now, once it is free: what the service thread does
  // on an interrupt (a harness with no service thread calls it instead).
  virtual void service_now() = 0;
};

class SharedDevice {
 public:
  using Lock = std::unique_lock<std::mutex>;
  using Clock = std::chrono::steady_clock;

  SharedDevice(hw::PhysicalDevice& device, SharingConfig config);
  SharedDevice(const SharedDevice&) = delete;
  SharedDevice& operator=(const SharedDevice&) = delete;
  ~SharedDevice();

  // Starts serving the device with `driver`, which has taken the device
  // over: its interrupt, and the service thread.
  void start(DeviceDriver& driver);
  // Stops the service thread and every wait. Idempotent.
  void stop();

  hw::PhysicalDevice& device() noexcept { return device_; }
  const SharingConfig& config() const noexcept { return config_; }
  std::mutex& gate() const noexcept { return mutex_; }
  bool stopping_locked() const noexcept { return stopping_; }

  // ---- Ownership of the device for a checked operation ----
  // Waits until no other guest's operation holds the device (stopping one
  // that stalls). False when the monitor stops.
  bool wait_free_locked(Lock& lock, const SharedGuest* for_guest = nullptr);
  void begin_operation_locked(SharedGuest& owner);
  // The device is free again; whoever waits for it goes on.
  void end_operation_locked() noexcept;
  SharedGuest* operation_owner() const noexcept { return owner_; }
  // Asks the driver whether the owner's operation has ended.
  void poll_operation_locked();

  // Question 2, checked again: every target of an operation g is about to
  // run on the device must lie in g's share. On the first that does not,
  // g gets a violation (kViolationOutsideShare, at the target's guest
  // address; `window_offset` is the access that started it, in the MMIO
  // window when `in_mmio`) and the result is false: the operation must not
  // run.
  bool check_targets_locked(SharedGuest& g, std::span<const DmaTarget> targets,
                            std::uint32_t window_offset, bool in_mmio = false);

  // ---- Context switches ----
  // The driver has loaded g's context on the device, starting at `started`:
  // counted and timed as a switch when the device last served another guest.
  void context_loaded_locked(SharedGuest& g, Clock::time_point started) noexcept;

  // ---- Violations and counts ----
  void violation_locked(SharedGuest& g, const ViolationReport& report);
  SharedGuestCounts counts_locked(const SharedGuest& g) const noexcept { return g.counts_; }
  SharingStats stats_locked() const noexcept { return stats_; }

  // ---- Servicing the device ----
  // A guest waits on its own device: a device whose interrupt is polled is
  // looked at now (at most once per wait_check_interval) and serviced if it
  // has events.
  void check_on_wait_locked();
  void service_locked();
  // Services the device now, once it is free (tests; the thread does it
  // otherwise).
  void service_now();

 private:
  void service_thread();

  hw::PhysicalDevice& device_;
  SharingConfig config_;
  DeviceDriver* driver_ = nullptr;
  mutable std::mutex mutex_;
  std::condition_variable device_free_;
  std::condition_variable wakeup_;
  std::atomic<bool> interrupted_{false};
  bool stopping_ = false;
  SharedGuest* owner_ = nullptr;  // whose checked operation holds the device
  Clock::time_point owner_since_{};
  SharedGuest* last_guest_ = nullptr;  // the guest that last had the device
  Clock::time_point last_wait_check_{};
  SharingStats stats_;
  std::thread thread_;
};

}  // namespace vpio::dmm

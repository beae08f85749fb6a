// The device-generic core of a Device Modeling Monitor.
#include "dmm/shared_device.hpp"

namespace vpio::dmm {
namespace {

// How long a guest waiting for the device sleeps before it looks again
// (the owner's operation may end without anyone noticing: it is polled).
constexpr std::chrono::microseconds kOwnerPoll{200};

}  // namespace

// ---- A guest's share ----

SharedGuest::SharedGuest(SharedDevice& device, std::string name, GuestCallbacks callbacks,
                         std::uint16_t window_ports, HookedMmioHandler* mmio_handler)
    : name_(std::move(name)),
      callbacks_(std::move(callbacks)),
      window_(window_ports, device.device(), *this, &device.gate()) {
  window_.hook_all();
  if (mmio_handler != nullptr && device.device().mmio_bytes() != 0)
    mmio_window_ = std::make_unique<MmioWindow>(device.device(), device.device().describe(),
                                                *mmio_handler, &device.gate());
}

namespace {

bool same_ranges(const std::vector<HookedAccesses::ByteRange>& a,
                 const std::vector<HookedAccesses::ByteRange>& b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].offset != b[i].offset || a[i].bytes != b[i].bytes) return false;
  return true;
}

}  // namespace

void SharedGuest::set_hooked(const HookedAccesses& hooked) noexcept {
  set_hooked(hooked.reads, hooked.writes);
  if (!mmio_window_ || (mmio_applied_ && same_ranges(hooked.mmio_direct, mmio_direct_))) return;
  // Runs between the direct ranges hooked, the ranges direct: a byte
  // changes only if its answer does, so a direct page is never unmapped
  // and mapped again on the way.
  const std::uint32_t bytes = mmio_window_->bytes();
  std::vector<bool> direct(bytes, false);
  for (const auto& range : hooked.mmio_direct)
    for (std::uint64_t i = range.offset; i < std::uint64_t{range.offset} + range.bytes && i < bytes;
         ++i)
      direct[i] = true;
  std::uint32_t start = 0;
  while (start < bytes) {
    std::uint32_t end = start;
    while (end < bytes && direct[end] == direct[start]) ++end;
    mmio_window_->set_hooked(start, end - start, !direct[start], !direct[start]);
    start = end;
  }
  try {
    mmio_direct_ = hooked.mmio_direct;
    mmio_applied_ = true;
  } catch (...) {
    mmio_applied_ = false;  // not remembered: the next answer is applied whole
  }
}

void SharedGuest::set_hooked(const PortSet& reads, const PortSet& writes) noexcept {
  for (std::uint16_t port = 0; port < window_.ports(); ++port)
    window_.set_hooked(port, reads.test(port), writes.test(port));
}

// ---- The device ----

SharedDevice::SharedDevice(hw::PhysicalDevice& device, SharingConfig config)
    : device_(device), config_(config) {}

SharedDevice::~SharedDevice() { stop(); }

void SharedDevice::start(DeviceDriver& driver) {
  {
    Lock lock(mutex_);
    driver_ = &driver;
  }
  device_.set_interrupt_handler([this] {
    interrupted_.store(true);
    wakeup_.notify_one();
  });
  if (config_.run_service_thread) thread_ = std::thread([this] { service_thread(); });
}

void SharedDevice::stop() {
  {
    Lock lock(mutex_);
    stopping_ = true;
  }
  wakeup_.notify_all();
  device_free_.notify_all();
  if (thread_.joinable()) thread_.join();
  device_.set_interrupt_handler({});
}

bool SharedDevice::wait_free_locked(Lock& lock, const SharedGuest* for_guest) {
  while (owner_ != nullptr && owner_ != for_guest) {
    poll_operation_locked();
    if (owner_ == nullptr || owner_ == for_guest) break;
    if (stopping_) return false;
    if (Clock::now() - owner_since_ > config_.operation_stall_limit) {
      SharedGuest& owner = *owner_;
      const ViolationReport report = driver_->stop_stalled_operation(owner);
      end_operation_locked();
      violation_locked(owner, report);
      break;
    }
    device_free_.wait_for(lock, kOwnerPoll);
  }
  return !stopping_;
}

void SharedDevice::begin_operation_locked(SharedGuest& owner) {
  owner_ = &owner;
  owner_since_ = Clock::now();
}

void SharedDevice::end_operation_locked() noexcept {
  owner_ = nullptr;
  device_free_.notify_all();
}

void SharedDevice::poll_operation_locked() {
  if (owner_ != nullptr && driver_ != nullptr && driver_->operation_ended(*owner_))
    end_operation_locked();
}

void SharedDevice::context_loaded_locked(SharedGuest& g, Clock::time_point started) noexcept {
  if (last_guest_ == &g) return;
  last_guest_ = &g;
  ++stats_.context_switches;
  ++g.counts_.context_switches;
  stats_.switch_nanoseconds += static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started).count());
}

void SharedDevice::violation_locked(SharedGuest& g, const ViolationReport& report) {
  ++g.counts_.violations;
  if (g.callbacks_.violation) g.callbacks_.violation(report);
}

bool SharedDevice::check_targets_locked(SharedGuest& g, std::span<const DmaTarget> targets,
                                        std::uint32_t window_offset, bool in_mmio) {
  for (const DmaTarget& target : targets) {
    ++stats_.targets_checked;
    if (share_holds(g.share_, target)) continue;
    ++stats_.targets_refused;
    violation_locked(g, {kViolationOutsideShare, target.guest_address, window_offset, in_mmio});
    return false;
  }
  return true;
}

void SharedDevice::check_on_wait_locked() {
  if (config_.device_interrupts || owner_ != nullptr || driver_ == nullptr) return;
  const auto now = Clock::now();
  if (now - last_wait_check_ < config_.wait_check_interval) return;
  last_wait_check_ = now;
  ++stats_.wait_checks;
  if (driver_->has_events()) service_locked();
}

void SharedDevice::service_locked() {
  ++stats_.services;
  driver_->service();
}

void SharedDevice::service_now() {
  Lock lock(mutex_);
  if (driver_ == nullptr || !wait_free_locked(lock)) return;
  service_locked();
}

void SharedDevice::service_thread() {
  Lock lock(mutex_);
  while (!stopping_) {
    wakeup_.wait_for(lock, config_.poll_interval, [&] { return stopping_ || interrupted_.load(); });
    if (stopping_) break;
    interrupted_.store(false);
    if (!wait_free_locked(lock)) break;
    service_locked();
  }
}

}  // namespace vpio::dmm

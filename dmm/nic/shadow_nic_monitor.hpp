// What the monitors of NICs whose guests' cards are shadows have in common
// (the template device's, for one): each guest's card is an
// emulated card of its own (its shadow) that takes every access the model
// passes, and the physical card is driven only for a checked operation that
// ends within the guest's access that asked for it (a send), so the card
// holds no guest's state between operations and the core never sees one in
// flight. This base holds the card, the generic core, the demultiplexer,
// the frames drained from the card and looped between guests, and the
// monitor's report; a device's monitor adds its guests, its card driving and
// its own counts. Knows no chip.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dmm/nic/frame_demux.hpp"
#include "dmm/nic/nic_monitor.hpp"
#include "dmm/shared_device.hpp"
#include "hw/physical_device.hpp"

namespace vpio::dmm::nic {

struct ShadowNicConfig {
  std::size_t queue_frames = 64;  // per-guest receive queue bound
  unsigned max_guests = 8;
  SharingConfig sharing;
};

class ShadowNicMonitor : public NicMonitor, protected DeviceDriver {
 public:
  ShadowNicMonitor(const ShadowNicMonitor&) = delete;
  ShadowNicMonitor& operator=(const ShadowNicMonitor&) = delete;

  std::string describe_device() const override { return card_.describe(); }
  // The core's counts of the card, the frames drained and looped, then the
  // device's own (device_counts_locked).
  Report report() const override {
    std::lock_guard lock(core_.gate());
    const SharingStats shared = core_.stats_locked();
    Report report{{},
                  {{"context_switches", shared.context_switches},
                   {"switch_nanoseconds", shared.switch_nanoseconds},
                   {"frames_drained", frames_drained_},
                   {"frames_looped", frames_looped_},
                   {"drains", shared.services},
                   {"wait_checks", shared.wait_checks},
                   {"targets_checked", shared.targets_checked},
                   {"targets_refused", shared.targets_refused}}};
    for (auto& count : device_counts_locked()) report.counts.push_back(std::move(count));
    return report;
  }
  void stop() override { core_.stop(); }
  // Drains the card now (tests; the service thread does it otherwise).
  void service_now() override { core_.service_now(); }

 protected:
  // The card is not touched here: the device's monitor takes it over, then
  // starts the core with start().
  ShadowNicMonitor(hw::PhysicalDevice& card, ShadowNicConfig config)
      : card_(card), config_(config), core_(card, config.sharing), demux_(config.queue_frames) {}
  ~ShadowNicMonitor() override { core_.stop(); }

  void start() { core_.start(*this); }

  // dmm::DeviceDriver: an operation never outlives its access.
  bool operation_ended(SharedGuest&) override { return true; }
  ViolationReport stop_stalled_operation(SharedGuest&) override { return {}; }

  // The device's counts, after the shared ones in report(); under the gate.
  virtual std::vector<std::pair<std::string, std::uint64_t>> device_counts_locked() const {
    return {};
  }

  // A frame `sender` has just sent on the card: the card does not hear
  // itself, so one addressed to other guests on it goes round to them.
  void loop_back(std::span<const std::uint8_t> frame, const FrameReceiver& sender) {
    if (!demux_.addressed_to_others(frame, &sender)) return;
    ++frames_looped_;
    demux_.deliver(frame, &sender);
  }
  // A frame drained from the card's receive side, for whichever guests it
  // is addressed to; one longer than `max_bytes` is counted and dropped.
  void drained(std::span<const std::uint8_t> frame, std::size_t max_bytes) {
    ++frames_drained_;
    if (frame.size() <= max_bytes) demux_.deliver(frame, nullptr);
  }

  hw::PhysicalDevice& card_;
  ShadowNicConfig config_;
  SharedDevice core_;
  FrameDemux demux_;

 private:
  std::uint64_t frames_drained_ = 0, frames_looped_ = 0;
};

}  // namespace vpio::dmm::nic

// An in-process Ethernet hub: every frame a port sends reaches every other
// port's receiver and every observer, synchronously on the sender's thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "hw/net/frame_sink.hpp"

namespace vpio::net {

// The hub forwards anything that has an Ethernet header and fits a maximal
// frame plus one 802.1Q tag; it does not pad runts up to hw::kMinFrameBytes,
// because padding is the sending chip's job and a model may want to see it.

struct HubPortCounters {
  std::uint64_t frames_sent = 0;  // accepted from this port and forwarded
  std::uint64_t bytes_sent = 0;
  std::uint64_t frames_received = 0;  // handed to this port's receiver
  std::uint64_t bytes_received = 0;
  std::uint64_t frames_refused = 0;  // sent by this port but dropped by the hub
};

struct HubCounters {
  std::uint64_t frames_forwarded = 0;
  std::uint64_t runts_dropped = 0;     // shorter than an Ethernet header
  std::uint64_t oversize_dropped = 0;  // longer than hw::kMaxTaggedFrameBytes
  std::uint64_t detached_dropped = 0;  // sent through a port after detach
  std::uint64_t loop_dropped = 0;      // sent into the hub from its own delivery

  std::uint64_t frames_dropped() const noexcept {
    return runts_dropped + oversize_dropped + detached_dropped + loop_dropped;
  }
};

class Hub;

// One attachment to the hub. Sending through it (deliver) fans the frame out
// to the other ports; the receiver given at attach gets what the others send.
class HubPort final : public hw::FrameSink {
 public:
  HubPort(const HubPort&) = delete;
  HubPort& operator=(const HubPort&) = delete;

  void deliver(std::span<const std::uint8_t> frame) override;

  const std::string& name() const noexcept { return name_; }
  HubPortCounters counters() const noexcept;

 private:
  friend class Hub;
  HubPort(Hub& hub, hw::FrameSink& receiver, std::string name);

  Hub& hub_;
  hw::FrameSink& receiver_;
  const std::string name_;
  std::atomic<bool> attached_{true};

  std::atomic<std::uint64_t> frames_sent_{0};
  std::atomic<std::uint64_t> bytes_sent_{0};
  std::atomic<std::uint64_t> frames_received_{0};
  std::atomic<std::uint64_t> bytes_received_{0};
  std::atomic<std::uint64_t> frames_refused_{0};
};

// Threading contract:
//  - Any number of threads may send through ports at once. No hub lock is
//    held while receivers run, so receivers may take their own locks and send
//    into other hubs (a bridge).
//  - attach, detach and the observer calls may run while frames flow; they
//    wait only for fan-outs already under way. Once detach or remove_observer
//    returns, that receiver is not being called and will not be again.
//  - Receivers and observers must not change any hub's topology from inside
//    deliver(): for the hub being delivered that throws std::logic_error
//    (it would wait for itself); a frame sent into a hub from inside that
//    hub's own fan-out is dropped and counted as a loop.
//  - A detached port stays valid until the hub is destroyed, so a late send
//    through it is dropped and counted rather than a use after free.
class Hub {
 public:
  Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;
  ~Hub();

  // The receiver must outlive its attachment (until detach returns or the hub
  // is destroyed).
  HubPort& attach(hw::FrameSink& receiver, std::string name);
  void detach(HubPort& port);

  // Observers see every forwarded frame exactly once (a recorder, a tracer).
  void add_observer(hw::FrameSink& observer);
  void remove_observer(hw::FrameSink& observer);

  std::size_t port_count() const;
  HubCounters counters() const noexcept;

 private:
  friend class HubPort;

  // Who gets a frame, as of one topology change. Senders fan out over the
  // snapshot current when they started, holding no lock; every change
  // publishes a new snapshot and waits until no fan-out runs on the old one.
  // Changes are serialised, so when one returns no older snapshot is in use.
  struct Topology {
    std::vector<HubPort*> ports;
    std::vector<hw::FrameSink*> observers;
    std::atomic<int> fan_outs_in_flight{0};
    std::atomic<bool> replaced{false};
  };

  void forward(HubPort& sender, std::span<const std::uint8_t> frame);
  std::shared_ptr<Topology> enter_fan_out();
  static void leave_fan_out(Topology& topology) noexcept;
  void refuse_topology_change_during_delivery(const char* call) const;
  std::shared_ptr<Topology> copy_of_current_topology() const;
  // Called with topology_change_mutex_ held.
  void publish_and_drain(std::shared_ptr<Topology> next);

  std::mutex topology_change_mutex_;  // serialises changes; never taken per frame
  // Guards only the pointer swap and the sender's announcement (copy the
  // pointer, count itself in): a few instructions, so senders barely contend
  // and a change is never held off by traffic.
  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<Topology> topology_;
  std::vector<std::unique_ptr<HubPort>> all_ports_;  // attached and detached

  std::atomic<std::uint64_t> frames_forwarded_{0};
  std::atomic<std::uint64_t> runts_dropped_{0};
  std::atomic<std::uint64_t> oversize_dropped_{0};
  std::atomic<std::uint64_t> detached_dropped_{0};
  std::atomic<std::uint64_t> loop_dropped_{0};
};

}  // namespace vpio::net

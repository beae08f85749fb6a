// Shared NIC machinery any NIC model's monitor reuses (issue 16): frames
// that reach the one physical card, or that one guest sends to others on it,
// go to the guests they are addressed to (a guest's own MAC; a group address
// to every guest) through a bounded queue per guest, from which they move
// into the guest's own card whenever it has room. Knows no chip: a guest's
// card is reached through FrameReceiver. Not thread-safe: the monitor calls
// it under its lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "hw/net/mac_address.hpp"

namespace vpio::dmm::nic {

// A guest's own card, as the demultiplexer sees it.
class FrameReceiver {
 public:
  virtual ~FrameReceiver() = default;
  virtual const hw::MacAddress& mac() const noexcept = 0;
  // Whether the card receives at all now (a stopped card, or one in
  // loopback, misses what arrives, as a card of its own would).
  virtual bool receiving() const = 0;
  // Whether the card has room for a frame of this size now.
  virtual bool can_store(std::size_t frame_bytes) const = 0;
  // Gives the card the frame; false when its own filter refused it.
  virtual bool store(std::span<const std::uint8_t> frame) = 0;
  // A frame for the guest arrived and found no room in its card: it waits in
  // the queue (or, the queue full, is dropped). A card that interrupts for
  // such a frame (a receive overflow) says so to its guest here, as the
  // card would: a driver that acknowledged a receive interrupt without
  // reading every frame (a race every driver has with real hardware) learns
  // that its ring is full, instead of waiting for a frame that cannot come.
  virtual void held_back() {}
};

struct ReceiverCounts {
  std::uint64_t frames_received = 0;  // stored by the guest's card
  std::uint64_t frames_filtered = 0;  // refused by the guest card's filter
  std::uint64_t frames_missed = 0;    // arrived while the card could not receive
  std::uint64_t queue_drops = 0;      // dropped: the guest's queue was full
  std::uint64_t frames_queued = 0;    // waiting now
};

class FrameDemux {
 public:
  explicit FrameDemux(std::size_t queue_frames) : queue_frames_(queue_frames) {}

  // Adds a guest; returns its index. The receiver outlives the demultiplexer.
  std::size_t add(FrameReceiver& receiver);

  // Hands `frame` to every guest it is addressed to but `from` (the sender,
  // for a frame one guest sent to others; nullptr for one from the wire).
  // Returns whether any guest was addressed.
  bool deliver(std::span<const std::uint8_t> frame, const FrameReceiver* from);
  // Whether `frame` (its destination, at least) from `from` is addressed to
  // another guest here (a group address always is): a card does not hear
  // itself, so such a frame must go round through deliver().
  bool addressed_to_others(std::span<const std::uint8_t> frame,
                           const FrameReceiver* from) const noexcept;

  // Moves the guest's queued frames into its card while it has room.
  void flush(std::size_t guest);
  void flush_all();
  bool has_queued(std::size_t guest) const { return !guests_.at(guest).queue.empty(); }
  ReceiverCounts counts(std::size_t guest) const;

 private:
  struct Guest {
    FrameReceiver* receiver;
    std::deque<std::vector<std::uint8_t>> queue;
    ReceiverCounts counts;
  };

  std::size_t queue_frames_;
  std::vector<Guest> guests_;
};

}  // namespace vpio::dmm::nic

#include "dmm/nic/frame_demux.hpp"

#include <algorithm>

#include "hw/net/frame_sink.hpp"

namespace vpio::dmm::nic {
namespace {

bool addressed(std::span<const std::uint8_t> frame, const hw::MacAddress& mac) {
  return std::equal(mac.bytes.begin(), mac.bytes.end(), frame.begin());
}

bool group(std::span<const std::uint8_t> frame) { return (frame[0] & 1) != 0; }

constexpr std::size_t kMacBytes = 6;

}  // namespace

std::size_t FrameDemux::add(FrameReceiver& receiver) {
  guests_.push_back({&receiver, {}, {}});
  return guests_.size() - 1;
}

bool FrameDemux::addressed_to_others(std::span<const std::uint8_t> frame,
                                     const FrameReceiver* from) const noexcept {
  if (frame.size() < kMacBytes) return false;
  if (group(frame)) return true;
  return std::any_of(guests_.begin(), guests_.end(), [&](const Guest& g) {
    return g.receiver != from && addressed(frame, g.receiver->mac());
  });
}

bool FrameDemux::deliver(std::span<const std::uint8_t> frame, const FrameReceiver* from) {
  if (frame.size() < hw::kEthernetHeaderBytes) return false;
  bool claimed = false;
  for (std::size_t i = 0; i < guests_.size(); ++i) {
    Guest& g = guests_[i];
    if (g.receiver == from) continue;
    if (!group(frame) && !addressed(frame, g.receiver->mac())) continue;
    claimed = true;
    if (!g.receiver->receiving()) {
      ++g.counts.frames_missed;
      continue;
    }
    if (g.queue.size() >= queue_frames_) {
      ++g.counts.queue_drops;
      g.receiver->held_back();
      continue;
    }
    g.queue.emplace_back(frame.begin(), frame.end());
    flush(i);
    if (!g.queue.empty()) g.receiver->held_back();
  }
  return claimed;
}

void FrameDemux::flush(std::size_t guest) {
  Guest& g = guests_.at(guest);
  while (!g.queue.empty() && g.receiver->can_store(g.queue.front().size())) {
    if (g.receiver->store(g.queue.front()))
      ++g.counts.frames_received;
    else
      ++g.counts.frames_filtered;
    g.queue.pop_front();
  }
}

void FrameDemux::flush_all() {
  for (std::size_t i = 0; i < guests_.size(); ++i) flush(i);
}

ReceiverCounts FrameDemux::counts(std::size_t guest) const {
  ReceiverCounts c = guests_.at(guest).counts;
  c.frames_queued = guests_.at(guest).queue.size();
  return c;
}

}  // namespace vpio::dmm::nic

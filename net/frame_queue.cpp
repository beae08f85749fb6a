// The bounded frame mailbox.
#include "net/frame_queue.hpp"

#include <stdexcept>

namespace vpio::net {

FrameQueue::FrameQueue(std::size_t capacity) : capacity_(capacity) {
  if (capacity == 0) throw std::invalid_argument("FrameQueue: capacity must be at least 1");
}

void FrameQueue::deliver(std::span<const std::uint8_t> frame) {
  {
    std::lock_guard lock(mutex_);
    if (frames_.size() >= capacity_) {
      ++dropped_;
      return;
    }
    frames_.emplace_back(frame.begin(), frame.end());
    ++accepted_;
  }
  // Several waiters may want different counts, so wake them all.
  frames_arrived_.notify_all();
}

std::optional<std::vector<std::uint8_t>> FrameQueue::pop(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!frames_arrived_.wait_for(lock, timeout, [this] { return !frames_.empty(); })) {
    return std::nullopt;
  }
  std::vector<std::uint8_t> frame = std::move(frames_.front());
  frames_.pop_front();
  return frame;
}

bool FrameQueue::wait_for_count(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return frames_arrived_.wait_for(lock, timeout, [this, count] { return frames_.size() >= count; });
}

std::size_t FrameQueue::size() const {
  std::lock_guard lock(mutex_);
  return frames_.size();
}

std::uint64_t FrameQueue::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

std::uint64_t FrameQueue::accepted() const {
  std::lock_guard lock(mutex_);
  return accepted_;
}

}  // namespace vpio::net

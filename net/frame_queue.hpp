// A mailbox endpoint: keeps delivered frames in a bounded FIFO for a test or
// a consumer thread to take out, and counts what did not fit.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "hw/net/frame_sink.hpp"

namespace vpio::net {

// Thread-safe: any number of threads may deliver, pop and wait at once.
// A full queue drops the new frame (as a full receive ring would) rather than
// block the sender, whose thread is usually a vCPU.
class FrameQueue final : public hw::FrameSink {
 public:
  explicit FrameQueue(std::size_t capacity);

  void deliver(std::span<const std::uint8_t> frame) override;

  // The oldest frame, waiting up to `timeout` for one; nullopt on timeout.
  std::optional<std::vector<std::uint8_t>> pop(std::chrono::milliseconds timeout);
  // True once at least `count` frames are queued; false on timeout.
  bool wait_for_count(std::size_t count, std::chrono::milliseconds timeout) const;

  std::size_t size() const;
  std::size_t capacity() const noexcept { return capacity_; }
  std::uint64_t dropped() const;
  std::uint64_t accepted() const;  // every frame ever queued, popped or not

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  mutable std::condition_variable frames_arrived_;
  std::deque<std::vector<std::uint8_t>> frames_;
  std::uint64_t dropped_ = 0;
  std::uint64_t accepted_ = 0;
};

}  // namespace vpio::net

// A sink that records every frame it is given, from any thread: the wire
// or a station in tests.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "hw/net/frame_sink.hpp"

namespace vpio::testing_support {

class FrameRecorder : public hw::FrameSink {
 public:
  void deliver(std::span<const std::uint8_t> frame) override {
    std::lock_guard lock(mutex_);
    frames_.emplace_back(frame.begin(), frame.end());
  }
  std::vector<std::vector<std::uint8_t>> frames() const {
    std::lock_guard lock(mutex_);
    return frames_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::vector<std::uint8_t>> frames_;
};

}  // namespace vpio::testing_support

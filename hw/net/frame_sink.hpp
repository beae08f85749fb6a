// The one interface every Ethernet endpoint implements: chips, hub ports,
// recorders and test endpoints all accept frames through it.
#pragma once

#include <cstdint>
#include <span>

namespace vpio::hw {

// Ethernet frames without preamble or FCS, as drivers see them.
inline constexpr std::size_t kMinFrameBytes = 60;
inline constexpr std::size_t kMaxFrameBytes = 1514;
inline constexpr std::size_t kEthernetHeaderBytes = 14;  // destination, source, type
inline constexpr std::size_t kVlanTagBytes = 4;
inline constexpr std::size_t kMaxTaggedFrameBytes = kMaxFrameBytes + kVlanTagBytes;

class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // Called from any thread. The callee copies what it keeps; it must not call
  // back into the sender before returning.
  virtual void deliver(std::span<const std::uint8_t> frame) = 0;
};

}  // namespace vpio::hw

// The 8254 programmable interval timer at ports 0x40-0x43, as much of it as
// a guest needs to run channel 0 as its periodic tick: control words
// (channel, access mode, counting mode), counts written LSB/MSB, and counts
// read back live or latched. Covers channel 0 in modes 2 and 3 (rate
// generator, square wave: both periodic, one output edge per period).
// Leaves out: modes 0, 1, 4 and 5 as timers (programmed, they stop channel
// 0's ticks), BCD counting (counts are binary), the read-back command, the
// gate inputs, and channels 1 and 2 (writes are accepted and dropped, reads
// float high). Time comes from the caller in nanoseconds, so the chip is
// deterministic under test; it knows nothing of threads or guests.
#pragma once

#include <cstdint>

namespace vpio::hw {

class Pit8254 {
 public:
  static constexpr std::uint16_t kWindowPorts = 4;  // 0x40-0x43 on a PC
  static constexpr std::uint16_t kChannel0 = 0, kChannel1 = 1, kChannel2 = 2, kControl = 3;
  static constexpr std::uint64_t kInputHz = 1193182;    // the PC's 14.31818 MHz / 12
  static constexpr std::uint32_t kFullCount = 0x10000;  // what a count of 0 means

  // Control word: SC1 SC0 RW1 RW0 M2 M1 M0 BCD.
  static constexpr unsigned kSelectShift = 6, kAccessShift = 4, kModeShift = 1;
  static constexpr std::uint8_t kSelectReadBack = 3;
  static constexpr std::uint8_t kAccessLatch = 0, kAccessLsb = 1, kAccessMsb = 2, kAccessBoth = 3;
  static constexpr std::uint8_t kModeRateGenerator = 2, kModeSquareWave = 3;

  std::uint8_t read(std::uint16_t offset, std::uint64_t now_ns) noexcept;
  void write(std::uint16_t offset, std::uint8_t value, std::uint64_t now_ns) noexcept;

  // Channel 0's output period while it counts periodically (mode 2 or 3 with
  // a whole count loaded), else 0.
  std::uint64_t period_ns() const noexcept;
  // When channel 0 last started counting: its first period ends at
  // counting_since_ns() + period_ns().
  std::uint64_t counting_since_ns() const noexcept { return loaded_at_ns_; }
  // Counts each change of channel 0's programming (a control word or a
  // whole count), so a user can tell that its ticks must restart.
  std::uint64_t generation() const noexcept { return generation_; }

 private:
  std::uint16_t current_count(std::uint64_t now_ns) const noexcept;

  std::uint8_t access_ = kAccessBoth;
  std::uint8_t mode_ = 0;
  std::uint32_t reload_ = 0;  // 1..0x10000 once loaded
  bool counting_ = false;
  bool write_msb_next_ = false;  // access mode "both": the LSB came
  std::uint8_t pending_lsb_ = 0;
  bool read_msb_next_ = false;
  bool latched_ = false;
  std::uint16_t latch_ = 0;
  std::uint64_t loaded_at_ns_ = 0;
  std::uint64_t generation_ = 0;
};

}  // namespace vpio::hw

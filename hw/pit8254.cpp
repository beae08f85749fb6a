// The 8254's channel 0 as a periodic tick (see pit8254.hpp for what it covers).
#include "hw/pit8254.hpp"

namespace vpio::hw {
namespace {

constexpr std::uint64_t kNsPerSecond = 1'000'000'000;
constexpr std::uint8_t kFloatingBus = 0xff;
constexpr std::uint8_t kTwoBits = 3, kThreeBits = 7;
// Modes 6 and 7 are 2 and 3 again (M2 is a don't-care for them).
constexpr std::uint8_t kFirstModeAlias = 6, kModeAliasBit = 4;

std::uint8_t low_byte(unsigned v) { return static_cast<std::uint8_t>(v & 0xff); }
std::uint8_t high_byte(unsigned v) { return static_cast<std::uint8_t>((v >> 8) & 0xff); }

}  // namespace

std::uint64_t Pit8254::period_ns() const noexcept {
  if (!counting_ || (mode_ != kModeRateGenerator && mode_ != kModeSquareWave)) return 0;
  return reload_ * kNsPerSecond / kInputHz;
}

// The counter's value now: modes 2 and 3 count down from the reload value
// and start again (mode 3 by twos, twice per period); other modes are
// shown as counting down once and then holding at 0.
std::uint16_t Pit8254::current_count(std::uint64_t now_ns) const noexcept {
  if (!counting_) return static_cast<std::uint16_t>(reload_);
  const std::uint64_t elapsed =
      now_ns > loaded_at_ns_ ? (now_ns - loaded_at_ns_) * kInputHz / kNsPerSecond : 0;
  std::uint64_t count;
  if (mode_ == kModeRateGenerator) {
    count = reload_ - elapsed % reload_;
  } else if (mode_ == kModeSquareWave) {
    const std::uint64_t half = reload_ / 2 != 0 ? reload_ / 2 : 1;
    count = reload_ - 2 * (elapsed % half);
  } else {
    count = elapsed < reload_ ? reload_ - elapsed : 0;
  }
  return static_cast<std::uint16_t>(count);  // 0x10000 reads as 0, as on the chip
}

std::uint8_t Pit8254::read(std::uint16_t offset, std::uint64_t now_ns) noexcept {
  if (offset != kChannel0) return kFloatingBus;
  const std::uint16_t count = latched_ ? latch_ : current_count(now_ns);
  std::uint8_t value;
  bool done = true;
  switch (access_) {
    case kAccessLsb: value = low_byte(count); break;
    case kAccessMsb: value = high_byte(count); break;
    default:
      value = read_msb_next_ ? high_byte(count) : low_byte(count);
      done = read_msb_next_;
      read_msb_next_ = !read_msb_next_;
      break;
  }
  if (done) latched_ = false;
  return value;
}

void Pit8254::write(std::uint16_t offset, std::uint8_t value, std::uint64_t now_ns) noexcept {
  if (offset == kControl) {
    const auto channel = static_cast<std::uint8_t>(value >> kSelectShift);
    if (channel != kChannel0) return;  // channels 1 and 2, and read-back: not modelled
    const auto access = static_cast<std::uint8_t>((value >> kAccessShift) & kTwoBits);
    if (access == kAccessLatch) {
      // Latches once; a second latch before the count is read changes nothing.
      if (!latched_) {
        latch_ = current_count(now_ns);
        latched_ = true;
        read_msb_next_ = false;
      }
      return;
    }
    auto mode = static_cast<std::uint8_t>((value >> kModeShift) & kThreeBits);
    if (mode >= kFirstModeAlias) mode = static_cast<std::uint8_t>(mode & ~kModeAliasBit);
    // A control word stops the channel until a new count is written.
    access_ = access;
    mode_ = mode;
    counting_ = false;
    write_msb_next_ = false;
    read_msb_next_ = false;
    latched_ = false;
    ++generation_;
    return;
  }
  if (offset != kChannel0) return;
  std::uint32_t count;
  switch (access_) {
    case kAccessLsb: count = value; break;
    case kAccessMsb: count = std::uint32_t{value} << 8; break;
    default:
      if (!write_msb_next_) {
        pending_lsb_ = value;
        write_msb_next_ = true;
        return;
      }
      write_msb_next_ = false;
      count = pending_lsb_ | std::uint32_t{value} << 8;
      break;
  }
  reload_ = count == 0 ? kFullCount : count;
  counting_ = true;
  loaded_at_ns_ = now_ns;
  ++generation_;
}

}  // namespace vpio::hw

// The PC's CMOS clock, an MC146818 behind ports 0x70 (index) and 0x71
// (data): enough for Linux's rtc-cmos probe and its reading of the time at
// boot. The time registers answer from a clock the caller gives (seconds
// since the epoch, UTC), in BCD with a 24-hour clock; the update-in-progress
// bit never reads set (an update is instantaneous here); the other 114
// bytes are NVRAM that keeps what is written. Leaves out: alarms, periodic
// and update interrupts (no IRQ 8 is raised), setting the time (writes to
// the time registers are kept in NVRAM but the clock goes on). Knows
// nothing of guests or KVM.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <functional>

namespace vpio::hw {

class Mc146818 {
 public:
  static constexpr std::uint16_t kIndexPort = 0x70, kDataPort = 0x71, kPorts = 2;
  static constexpr std::uint8_t kSeconds = 0x00, kMinutes = 0x02, kHours = 0x04,
                                kWeekday = 0x06, kDay = 0x07, kMonth = 0x08, kYear = 0x09,
                                kStatusA = 0x0a, kStatusB = 0x0b, kStatusC = 0x0c,
                                kStatusD = 0x0d, kCentury = 0x32;
  static constexpr std::uint8_t kStatusB24Hour = 0x02;
  static constexpr std::uint8_t kStatusDValid = 0x80;  // the battery is good
  static constexpr std::uint8_t kStatusADefault = 0x26;  // 32.768 kHz, 1024 Hz rate, no UIP

  explicit Mc146818(std::function<std::time_t()> now);

  // `offset` from kIndexPort: 0 the index (bit 7 is the NMI mask, kept
  // apart), 1 the data.
  std::uint8_t read(std::uint16_t offset);
  void write(std::uint16_t offset, std::uint8_t value);

 private:
  std::uint8_t time_register(std::uint8_t index) const;

  std::function<std::time_t()> now_;
  std::uint8_t index_ = 0;
  std::array<std::uint8_t, 128> nvram_{};
};

}  // namespace vpio::hw

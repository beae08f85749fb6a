// Time registers computed on each read from the given clock.
#include "hw/mc146818.hpp"

namespace vpio::hw {
namespace {

std::uint8_t bcd(int value) { return static_cast<std::uint8_t>(((value / 10) << 4) | (value % 10)); }

}  // namespace

Mc146818::Mc146818(std::function<std::time_t()> now) : now_(std::move(now)) {
  nvram_[kStatusA] = kStatusADefault;
  nvram_[kStatusB] = kStatusB24Hour;
  nvram_[kStatusD] = kStatusDValid;
}

std::uint8_t Mc146818::time_register(std::uint8_t index) const {
  const std::time_t t = now_ ? now_() : 0;
  std::tm utc{};
  gmtime_r(&t, &utc);
  switch (index) {
    case kSeconds: return bcd(utc.tm_sec);
    case kMinutes: return bcd(utc.tm_min);
    case kHours: return bcd(utc.tm_hour);
    case kWeekday: return bcd(utc.tm_wday + 1);
    case kDay: return bcd(utc.tm_mday);
    case kMonth: return bcd(utc.tm_mon + 1);
    case kYear: return bcd(utc.tm_year % 100);
    case kCentury: return bcd(19 + utc.tm_year / 100);
    default: return 0;
  }
}

std::uint8_t Mc146818::read(std::uint16_t offset) {
  if (offset == 0) return 0xff;  // the index register is write-only
  switch (index_) {
    case kSeconds:
    case kMinutes:
    case kHours:
    case kWeekday:
    case kDay:
    case kMonth:
    case kYear:
    case kCentury: return time_register(index_);
    case kStatusA: return static_cast<std::uint8_t>(nvram_[kStatusA] & 0x7f);
    case kStatusC: return 0;  // no interrupt flags: none are raised
    case kStatusD: return kStatusDValid;
    default: return nvram_[index_];
  }
}

void Mc146818::write(std::uint16_t offset, std::uint8_t value) {
  if (offset == 0) {
    index_ = value & 0x7f;
    return;
  }
  if (index_ == kStatusC || index_ == kStatusD) return;  // read-only
  nvram_[index_] = value;
}

}  // namespace vpio::hw

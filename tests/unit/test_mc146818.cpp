// The CMOS clock as Linux's rtc-cmos and its boot-time read use it.
#include <gtest/gtest.h>

#include "hw/mc146818.hpp"

namespace vpio::hw {
namespace {

std::uint8_t read_register(Mc146818& rtc, std::uint8_t index) {
  rtc.write(0, index);
  return rtc.read(1);
}

TEST(Mc146818, TellsTheGivenTimeInBcdWithA24HourClock) {
  // 2026-12-02 13:45:07 UTC, a Wednesday.
  Mc146818 rtc([] { return std::time_t{1796219107}; });
  EXPECT_EQ(read_register(rtc, Mc146818::kSeconds), 0x07);
  EXPECT_EQ(read_register(rtc, Mc146818::kMinutes), 0x45);
  EXPECT_EQ(read_register(rtc, Mc146818::kHours), 0x13);
  EXPECT_EQ(read_register(rtc, Mc146818::kWeekday), 0x04);
  EXPECT_EQ(read_register(rtc, Mc146818::kDay), 0x02);
  EXPECT_EQ(read_register(rtc, Mc146818::kMonth), 0x12);
  EXPECT_EQ(read_register(rtc, Mc146818::kYear), 0x26);
  EXPECT_EQ(read_register(rtc, Mc146818::kCentury), 0x20);
  EXPECT_EQ(read_register(rtc, Mc146818::kStatusB) & Mc146818::kStatusB24Hour,
            Mc146818::kStatusB24Hour);
}

TEST(Mc146818, NeverSaysAnUpdateIsInProgressAndHasAGoodBattery) {
  Mc146818 rtc([] { return std::time_t{0}; });
  rtc.write(0, Mc146818::kStatusA);
  rtc.write(1, 0xa6);  // a guest setting UIP (read-only on the chip)
  EXPECT_EQ(read_register(rtc, Mc146818::kStatusA) & 0x80, 0);
  EXPECT_EQ(read_register(rtc, Mc146818::kStatusD), Mc146818::kStatusDValid);
  EXPECT_EQ(read_register(rtc, Mc146818::kStatusC), 0);
}

TEST(Mc146818, KeepsNvramAndIgnoresTheNmiMaskBit) {
  Mc146818 rtc([] { return std::time_t{0}; });
  rtc.write(0, 0x80 | 0x40);  // NMI masked, byte 0x40
  rtc.write(1, 0x5a);
  EXPECT_EQ(read_register(rtc, 0x40), 0x5a);
  EXPECT_EQ(rtc.read(0), 0xff) << "the index register is write-only";
}

}  // namespace
}  // namespace vpio::hw

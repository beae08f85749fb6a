// The 8254's channel 0 (hw::Pit8254) driven by register sequences, with
// time given by the test; and PitTimer's thread raising ticks.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "hw/pit8254.hpp"
#include "vmm/pit_timer.hpp"

namespace vpio {
namespace {

using hw::Pit8254;

constexpr std::uint8_t kChannel0LsbMsbMode2 = 0x34;  // SC=0, RW=3, M=2
constexpr std::uint8_t kChannel0LsbMsbMode3 = 0x36;
constexpr std::uint8_t kChannel0LsbMsbMode0 = 0x30;
constexpr std::uint8_t kChannel0LsbOnlyMode2 = 0x14;
constexpr std::uint8_t kChannel0Latch = 0x00;
constexpr std::uint8_t kChannel2LsbMsbMode3 = 0xb6;
constexpr std::uint64_t kNsPerSecond = 1'000'000'000;

// The nanoseconds of `clocks` periods of the 1.193182 MHz input, rounded up
// so that the chip sees at least that many clocks.
std::uint64_t ns_of_clocks(std::uint64_t clocks) {
  return (clocks * kNsPerSecond + Pit8254::kInputHz - 1) / Pit8254::kInputHz;
}

void load(Pit8254& pit, std::uint8_t control, std::uint16_t count, std::uint64_t now) {
  pit.write(Pit8254::kControl, control, now);
  pit.write(Pit8254::kChannel0, static_cast<std::uint8_t>(count & 0xff), now);
  pit.write(Pit8254::kChannel0, static_cast<std::uint8_t>(count >> 8), now);
}

std::uint16_t read_count(Pit8254& pit, std::uint64_t now) {
  const std::uint8_t lo = pit.read(Pit8254::kChannel0, now);
  const std::uint8_t hi = pit.read(Pit8254::kChannel0, now);
  return static_cast<std::uint16_t>(lo | hi << 8);
}

TEST(Pit8254, IsSilentUntilACountIsLoaded) {
  Pit8254 pit;
  EXPECT_EQ(pit.period_ns(), 0u);
  pit.write(Pit8254::kControl, kChannel0LsbMsbMode2, 0);
  EXPECT_EQ(pit.period_ns(), 0u);
  pit.write(Pit8254::kChannel0, 0x9b, 0);  // the LSB alone starts nothing
  EXPECT_EQ(pit.period_ns(), 0u);
  pit.write(Pit8254::kChannel0, 0x2e, 0);
  EXPECT_EQ(pit.period_ns(), 0x2e9bu * kNsPerSecond / Pit8254::kInputHz);  // 100 Hz: ~10 ms
}

TEST(Pit8254, ModesTwoAndThreeArePeriodicOthersAreNot) {
  Pit8254 pit;
  load(pit, kChannel0LsbMsbMode3, 1193, 0);
  EXPECT_EQ(pit.period_ns(), 1193u * kNsPerSecond / Pit8254::kInputHz);
  load(pit, kChannel0LsbMsbMode0, 1193, 0);
  EXPECT_EQ(pit.period_ns(), 0u);
  load(pit, 0x3c, 1193, 0);  // mode 6 is mode 2
  EXPECT_NE(pit.period_ns(), 0u);
}

TEST(Pit8254, ACountOfZeroIsTheFullCount) {
  Pit8254 pit;
  load(pit, kChannel0LsbMsbMode2, 0, 0);
  EXPECT_EQ(pit.period_ns(), std::uint64_t{Pit8254::kFullCount} * kNsPerSecond / Pit8254::kInputHz);
}

TEST(Pit8254, AControlWordStopsTheChannelAndIsANewGeneration) {
  Pit8254 pit;
  load(pit, kChannel0LsbMsbMode2, 11932, 0);
  const auto generation = pit.generation();
  pit.write(Pit8254::kControl, kChannel0LsbMsbMode2, 5);
  EXPECT_EQ(pit.period_ns(), 0u);
  EXPECT_GT(pit.generation(), generation);
}

TEST(Pit8254, OtherChannelsLeaveChannelZeroAlone) {
  Pit8254 pit;
  load(pit, kChannel0LsbMsbMode2, 11932, 0);
  const auto generation = pit.generation();
  const auto period = pit.period_ns();
  pit.write(Pit8254::kControl, kChannel2LsbMsbMode3, 0);
  pit.write(Pit8254::kChannel2, 0x12, 0);
  EXPECT_EQ(pit.generation(), generation);
  EXPECT_EQ(pit.period_ns(), period);
  EXPECT_EQ(pit.read(Pit8254::kChannel2, 0), 0xff);
}

TEST(Pit8254, TheCountRunsDownAtTheInputRateAndReloads) {
  Pit8254 pit;
  const std::uint64_t t0 = 1'000'000;
  load(pit, kChannel0LsbMsbMode2, 1000, t0);
  EXPECT_EQ(read_count(pit, t0), 1000u);
  EXPECT_EQ(read_count(pit, t0 + ns_of_clocks(300)), 700u);
  EXPECT_EQ(read_count(pit, t0 + ns_of_clocks(1000 + 300)), 700u);  // reloaded
}

TEST(Pit8254, ALatchHoldsTheCountUntilItIsRead) {
  Pit8254 pit;
  load(pit, kChannel0LsbMsbMode2, 1000, 0);
  pit.write(Pit8254::kControl, kChannel0Latch, ns_of_clocks(100));
  EXPECT_EQ(pit.generation(), 2u);  // a latch is no reprogramming
  EXPECT_EQ(read_count(pit, ns_of_clocks(600)), 900u);
  EXPECT_EQ(read_count(pit, ns_of_clocks(600)), 400u);  // live again
}

TEST(Pit8254, LsbOnlyAccessLoadsAndReadsOneByte) {
  Pit8254 pit;
  pit.write(Pit8254::kControl, kChannel0LsbOnlyMode2, 0);
  pit.write(Pit8254::kChannel0, 200, 0);
  EXPECT_EQ(pit.period_ns(), 200u * kNsPerSecond / Pit8254::kInputHz);
  EXPECT_EQ(pit.read(Pit8254::kChannel0, ns_of_clocks(50)), 150u);
}

// The thread raises ticks once a count is loaded, none before; counted,
// not timed (the wait's bound only keeps a broken timer from hanging).
TEST(PitTimer, TicksArriveOnceProgrammedAndStopWithIt) {
  std::mutex mutex;
  std::condition_variable ticked;
  unsigned ticks = 0, starts = 0;
  PitTimer timer(
      [&] {
        std::lock_guard lock(mutex);
        ++ticks;
        ticked.notify_all();
      },
      [&] { ++starts; });
  timer.port_write(Pit8254::kControl, 1, kChannel0LsbMsbMode2);
  EXPECT_EQ(starts, 0u);
  const unsigned divisor = Pit8254::kInputHz / 1000;  // 1 kHz
  timer.port_write(Pit8254::kChannel0, 1, divisor & 0xff);
  timer.port_write(Pit8254::kChannel0, 1, divisor >> 8);
  EXPECT_EQ(starts, 1u);
  constexpr unsigned kWanted = 20;
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(ticked.wait_for(lock, std::chrono::seconds(60), [&] { return ticks >= kWanted; }))
        << ticks << " ticks";
  }
  EXPECT_GE(timer.ticks(), kWanted);
  timer.stop();
  const auto after_stop = timer.ticks();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(timer.ticks(), after_stop);
}

TEST(PitTimer, ANeverProgrammedTimerStartsNothing) {
  unsigned ticks = 0, starts = 0;
  {
    PitTimer timer([&] { ++ticks; }, [&] { ++starts; });
    timer.port_write(Pit8254::kControl, 1, kChannel0LsbMsbMode2);
    EXPECT_EQ(timer.port_read(Pit8254::kChannel2, 1), 0xffu);
  }
  EXPECT_EQ(ticks, 0u);
  EXPECT_EQ(starts, 0u);
}

}  // namespace
}  // namespace vpio

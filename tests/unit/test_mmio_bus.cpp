// The MMIO range map: overlaps refused with both names, accesses found only
// when every byte is inside one range.
#include <gtest/gtest.h>

#include "hooks/mmio_bus.hpp"

namespace vpio {
namespace {

struct NullMmio final : MmioDevice {
  std::uint64_t mmio_read(std::uint64_t, unsigned) noexcept override { return 0; }
  void mmio_write(std::uint64_t, unsigned, std::uint64_t) noexcept override {}
};

TEST(MmioBus, FindsTheRangeHoldingEveryByteOfTheAccess) {
  NullMmio a, b;
  MmioBus bus;
  bus.add(0xd000'0000, 0x1000, a, "a");
  bus.add(0xd000'1000, 0x10, b, "b");
  EXPECT_EQ(bus.find(0xd000'0000, 4)->device, &a);
  EXPECT_EQ(bus.find(0xd000'0ffc, 4)->device, &a);
  EXPECT_EQ(bus.find(0xd000'1008, 8)->name, "b");
  EXPECT_EQ(bus.find(0xd000'0ffe, 4), nullptr) << "straddles a and b";
  EXPECT_EQ(bus.find(0xd000'100c, 8), nullptr) << "runs past b";
  EXPECT_EQ(bus.find(0xcfff'ffff, 1), nullptr);
  EXPECT_EQ(bus.find(0xd000'1010, 1), nullptr);
  EXPECT_EQ(bus.find(0xd000'0000, 0), nullptr);
}

TEST(MmioBus, OverlapsAreRefusedNamingBothRanges) {
  NullMmio a;
  MmioBus bus;
  bus.add(0x1000, 0x100, a, "first");
  for (std::uint64_t base : {0x1000u, 0x10ffu, 0xf01u}) {
    try {
      bus.add(base, 0x100, a, "second");
      ADD_FAILURE() << "accepted an overlap at " << base;
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("'second'"), std::string::npos) << what;
      EXPECT_NE(what.find("'first' (0x1000-0x10ff)"), std::string::npos) << what;
    }
  }
  bus.add(0x1100, 0x100, a, "adjacent");
  bus.add(0xf00, 0x100, a, "below");
  EXPECT_EQ(bus.ranges().size(), 3u);
}

TEST(MmioBus, RemoveTakesAwayOnlyTheRangeOfThatDevice) {
  MmioBus bus;
  NullMmio a, b;
  bus.add(0xd0000000, 0x100, a, "a");
  EXPECT_FALSE(bus.remove(0xd0000000, b)) << "not b's";
  EXPECT_FALSE(bus.remove(0xd0000010, a)) << "no range starts there";
  EXPECT_NE(bus.find(0xd0000010), nullptr);
  EXPECT_TRUE(bus.remove(0xd0000000, a));
  EXPECT_EQ(bus.find(0xd0000010), nullptr);
  bus.add(0xd0000080, 0x100, b, "b");  // the space is free again
  EXPECT_EQ(bus.find(0xd0000100)->device, &b);
}

TEST(MmioBus, EmptyAndWrappingRangesAreRefused) {
  NullMmio a;
  MmioBus bus;
  EXPECT_THROW(bus.add(0x1000, 0, a, "empty"), std::invalid_argument);
  EXPECT_THROW(bus.add(~0ULL - 0xff, 0x200, a, "wraps"), std::invalid_argument);
  bus.add(~0ULL - 0xff, 0x100, a, "top");
  EXPECT_EQ(bus.find(~0ULL, 1)->name, "top");
}

}  // namespace
}  // namespace vpio

// The device-generic DMA checks (dmm/guest_memory, dmm/dma): a guest's RAM
// as models validate and translate against it, and the core's check of
// every target against the guest's share.
#include <gtest/gtest.h>

#include <array>
#include <limits>
#include <stdexcept>

#include "dmm/dma.hpp"
#include "dmm/guest_memory.hpp"
#include "dmm/shared_device.hpp"

namespace vpio::dmm {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

// Two RAM ranges with a hole between them, at DMA addresses of their own.
GuestMemory two_ranges(std::uint8_t* host) {
  return GuestMemory({{0x100000, 0x10000, nullptr, 0x4000'0000},
                      {0x0, 0x1000, host, 0x8000'0000}});
}

TEST(GuestMemory, TranslatesARangeWhollyInsideOneRamRange) {
  std::array<std::uint8_t, 0x1000> low{};
  const GuestMemory ram = two_ranges(low.data());
  EXPECT_EQ(ram.translate(0x0, 0x1000), 0x8000'0000u);
  EXPECT_EQ(ram.translate(0x100800, 0x200), 0x4000'0800u);
  EXPECT_EQ(ram.translate(0x10ffff, 1), 0x4000'ffffu);
}

TEST(GuestMemory, RefusesARangeThatLeavesRamOrWrapsOrIsEmpty) {
  std::array<std::uint8_t, 0x1000> low{};
  const GuestMemory ram = two_ranges(low.data());
  EXPECT_FALSE(ram.translate(0x0, 0x1001));        // runs past the end
  EXPECT_FALSE(ram.translate(0x1000, 1));          // in the hole
  EXPECT_FALSE(ram.translate(0xfff, 0x100002));    // spans both ranges and the hole
  EXPECT_FALSE(ram.translate(0x10ffff, 2));        // past the last byte
  EXPECT_FALSE(ram.translate(kMax, 2));            // wraps
  EXPECT_FALSE(ram.translate(0x100000, kMax));     // wraps
  EXPECT_FALSE(ram.translate(0x100000, 0));        // empty: nothing to validate
}

TEST(GuestMemory, GivesAHostViewOnlyOfMappedRam) {
  std::array<std::uint8_t, 0x1000> low{};
  const GuestMemory ram = two_ranges(low.data());
  const auto view = ram.host_view(0x10, 4);
  ASSERT_EQ(view.size(), 4u);
  EXPECT_EQ(view.data(), low.data() + 0x10);
  EXPECT_TRUE(ram.host_view(0x100000, 4).empty());  // not mapped here
  EXPECT_TRUE(ram.host_view(0xffe, 4).empty());     // runs out of RAM
}

TEST(GuestMemory, RefusesRangesThatAreEmptyWrapOrOverlap) {
  EXPECT_THROW(GuestMemory({{0x0, 0, nullptr, 0}}), std::invalid_argument);
  EXPECT_THROW(GuestMemory({{kMax - 10, 0x100, nullptr, 0}}), std::invalid_argument);
  EXPECT_THROW(GuestMemory({{0x0, 0x100, nullptr, kMax - 10}}), std::invalid_argument);
  try {
    GuestMemory({{0x0, 0x2000, nullptr, 0}, {0x1000, 0x1000, nullptr, 0x10000}});
    FAIL() << "overlapping ranges were taken";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("RAM range 0x1000+0x1000 overlaps"), std::string::npos)
        << e.what();
  }
}

TEST(DmaShare, HoldsDeviceMemoryTargetsOnlyInsideTheGuestsRanges) {
  const DmaShare share{{{0x4000, 0x600}, {0x8000, 0x100}}, nullptr};
  auto card = [](std::uint64_t address, std::uint64_t bytes) {
    return DmaTarget{DmaSpace::device_memory, DmaDirection::device_writes, 0, address, bytes};
  };
  EXPECT_TRUE(share_holds(share, card(0x4000, 0x600)));
  EXPECT_TRUE(share_holds(share, card(0x80ff, 1)));
  EXPECT_TRUE(share_holds(share, card(0x9999, 0)));  // touches nothing
  EXPECT_FALSE(share_holds(share, card(0x45ff, 2)));
  EXPECT_FALSE(share_holds(share, card(0x3fff, 2)));
  EXPECT_FALSE(share_holds(share, card(0x4000, 0x4200)));  // spans both ranges and the gap
  EXPECT_FALSE(share_holds(share, card(kMax, 2)));
  // A guest-RAM target with no RAM in the share.
  EXPECT_FALSE(share_holds(share, {DmaSpace::guest_ram, DmaDirection::device_reads, 0, 0, 1}));
}

TEST(DmaShare, HoldsAGuestRamTargetOnlyAtTheDmaAddressItsRamHas) {
  const GuestMemory ram({{0x0, 0x10000, nullptr, 0x2000'0000}});
  const DmaShare share{{}, &ram};
  auto target = [](std::uint64_t guest, std::uint64_t device, std::uint64_t bytes) {
    return DmaTarget{DmaSpace::guest_ram, DmaDirection::device_reads, guest, device, bytes};
  };
  EXPECT_TRUE(share_holds(share, target(0x100, 0x2000'0100, 0x600)));
  // Translated wrongly: another guest's window, or the untranslated address.
  EXPECT_FALSE(share_holds(share, target(0x100, 0x3000'0100, 0x600)));
  EXPECT_FALSE(share_holds(share, target(0x100, 0x100, 0x600)));
  EXPECT_FALSE(share_holds(share, target(0xfc00, 0x2000'fc00, 0x600)));  // past the end
  EXPECT_EQ(describe(target(0x100, 0x2000'0100, 0x600)),
            "guest RAM 0x20000100+0x600 (guest 0x100), device reads");
}

// A device with nothing behind its ports: the core's check never touches it.
class NoDevice final : public hw::PhysicalDevice {
 public:
  std::string describe() const override { return "no device"; }
  std::uint32_t read(std::uint16_t, unsigned) override { return 0xff; }
  void write(std::uint16_t, unsigned, std::uint32_t) override {}
  void read_string(std::uint16_t, unsigned, std::span<std::uint8_t>) override {}
  void write_string(std::uint16_t, unsigned, std::span<const std::uint8_t>) override {}
  void set_interrupt_handler(std::function<void()>) override {}
};

class ShareGuest final : public SharedGuest {
 public:
  ShareGuest(SharedDevice& device, GuestCallbacks callbacks, DmaShare share)
      : SharedGuest(device, "g", std::move(callbacks), 4) {
    set_share(std::move(share));
  }
  Report report() const override { return {}; }
  std::uint32_t hooked_read(std::uint16_t, unsigned) noexcept override { return 0; }
  void hooked_write(std::uint16_t, unsigned, std::uint32_t) noexcept override {}
};

TEST(SharedDevice, RefusesAnOperationWithATargetOutsideTheGuestsShareAndReportsIt) {
  NoDevice device;
  SharingConfig config;
  config.run_service_thread = false;
  SharedDevice core(device, config);
  std::vector<ViolationReport> reports;
  ShareGuest g(core, {{}, [&](const ViolationReport& r) { reports.push_back(r); }, {}},
               {{{0x4000, 0x600}}, nullptr});
  const std::array<DmaTarget, 2> inside = {
      DmaTarget{DmaSpace::device_memory, DmaDirection::device_writes, 0x4000, 0x4000, 0x100},
      DmaTarget{DmaSpace::device_memory, DmaDirection::device_reads, 0x4100, 0x4100, 0x500}};
  const std::array<DmaTarget, 2> outside = {
      inside[0],
      DmaTarget{DmaSpace::device_memory, DmaDirection::device_reads, 0x4500, 0x4500, 0x200}};
  std::unique_lock lock(core.gate());
  EXPECT_TRUE(core.check_targets_locked(g, inside, 0x07));
  EXPECT_TRUE(reports.empty());
  EXPECT_FALSE(core.check_targets_locked(g, outside, 0x07));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].code, kViolationOutsideShare);
  EXPECT_EQ(reports[0].address, 0x4500u);
  EXPECT_EQ(reports[0].window_offset, 0x07u);
  EXPECT_EQ(core.stats_locked().targets_checked, 4u);
  EXPECT_EQ(core.stats_locked().targets_refused, 1u);
  EXPECT_EQ(core.counts_locked(g).violations, 1u);
}

}  // namespace
}  // namespace vpio::dmm

// The RTL8139's VPIO model (devices/rtl8139/rtl8139_model.hpp) on its own:
// 8139too's sequences pass whole; every DMA outside the guest's RAM, C+ and
// EEPROM writes are refused with the code and address a machine check
// carries. And the monitor's address space (dmm/iova_space.hpp).
#include <gtest/gtest.h>

#include <array>
#include <stdexcept>
#include <vector>

#include "devices/rtl8139/rtl8139_model.hpp"
#include "dmm/iova_space.hpp"

namespace vpio::devices {
namespace {

using namespace rtl8139;

constexpr std::uint64_t kRamBytes = 16 << 20;
constexpr std::uint32_t kTxBufs = 0x200000;
constexpr std::uint32_t kRxRing = 0x300000;
const hw::MacAddress kMac{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};

class Rtl8139ModelTest : public testing::Test {
 protected:
  Rtl8139ModelTest()
      : memory_(kRamBytes),
        ram_({dmm::RamRange{0, kRamBytes, memory_.data(), 0x40000000}}),
        model_(ram_, kMac) {
    // 8139too's slots hold frames from the guest's own address.
    for (unsigned slot = 0; slot < kTxSlots; ++slot)
      std::copy(kMac.bytes.begin(), kMac.bytes.end(), memory_.begin() + kTxBufs + slot * 1792 + 6);
  }

  void pass(std::uint16_t offset, unsigned size, std::uint32_t value) {
    const Rtl8139Decision d = model_.on_write(offset, size, value);
    EXPECT_FALSE(d.refuse) << "offset " << std::hex << offset << " value " << value << ": "
                           << violation_name(d.violation);
  }
  void refused(std::uint16_t offset, unsigned size, std::uint32_t value, Rtl8139Violation v,
               std::uint64_t address) {
    const Rtl8139Decision d = model_.on_write(offset, size, value);
    EXPECT_TRUE(d.refuse);
    EXPECT_EQ(d.violation, v) << violation_name(d.violation);
    EXPECT_EQ(d.address, address);
  }
  // 8139too's read_eeprom, as 9346CR writes.
  void read_eeprom(unsigned location) {
    const unsigned command = location | (6u << 8);
    pass(kCfg9346, 1, 0x80);
    pass(kCfg9346, 1, 0x88);
    for (int bit = 12; bit >= 0; --bit) {
      const std::uint8_t data = (command & (1u << bit)) != 0 ? kEepromDataIn : 0;
      pass(kCfg9346, 1, 0x88 | data);
      pass(kCfg9346, 1, 0x88 | data | kEepromClock);
    }
    pass(kCfg9346, 1, 0x88);
    for (int i = 0; i < 16; ++i) {
      pass(kCfg9346, 1, 0x88 | kEepromClock);
      pass(kCfg9346, 1, 0x88);
    }
    pass(kCfg9346, 1, 0);
  }
  // rtl8139_hw_start.
  void open() {
    pass(kCr, 1, kCrReset);
    pass(kCfg9346, 1, 0xc0);
    pass(kIdr0, 4, 0x12005452);
    pass(kIdr0 + 4, 4, 0x5634);
    pass(kRbstart, 4, kRxRing);
    pass(kCr, 1, kCrReceiveEnable | kCrTransmitEnable);
    pass(kRcr, 4, 0x0000f78a);
    pass(kTcr, 4, 0x03000680);
    pass(kCfg9346, 1, 0);
    for (unsigned slot = 0; slot < kTxSlots; ++slot)
      pass(static_cast<std::uint16_t>(kTsad0 + 4 * slot), 4, kTxBufs + slot * 1792);
    pass(kMpc, 4, 0);
    pass(kMulint, 2, 0);
    pass(kImr, 2, 0xc07f);
  }

  std::vector<std::uint8_t> memory_;
  dmm::GuestMemory ram_;
  Rtl8139Model model_;
};

TEST_F(Rtl8139ModelTest, EightOneThreeNineTooPassesWhole) {
  for (unsigned word : {0u, 7u, 8u, 9u}) read_eeprom(word);
  open();
  for (unsigned i = 0; i < 40; ++i)
    pass(static_cast<std::uint16_t>(kTsd0 + 4 * (i % 4)), 4, 0x00080000 | (60 + i * 37));
  // The receive-error recovery, a new multicast list, close and reopen.
  pass(kCr, 1, kCrTransmitEnable);
  pass(kCr, 1, kCrReceiveEnable | kCrTransmitEnable);
  pass(kRcr, 4, 0x0000f78e);
  pass(kMar0, 4, 0xffffffff);
  pass(kCr, 1, 0);
  pass(kImr, 2, 0);
  pass(kCfg9346, 1, 0xc0);  // 8139too leaves it unlocked at close
  open();
  EXPECT_EQ(model_.ring_extent(), 32768u + 1800u);
}

TEST_F(Rtl8139ModelTest, ASlotMustLieInTheGuestsRamAndTheFifo) {
  open();
  pass(kTsad0, 4, 0x10000000);  // not yet a DMA
  refused(kTsd0, 4, 100, Rtl8139Violation::tx_address, 0x10000000);
  pass(kTsad0 + 4, 4, kRamBytes - 100);
  refused(kTsd0 + 4, 4, 1000, Rtl8139Violation::tx_address, kRamBytes - 100);
  pass(kTsad0 + 4, 4, kTxBufs + 1792);
  pass(kTsd0 + 4, 4, 100);                // the same slot, within RAM
  pass(kTsad0 + 4, 4, kTxBufs + 0x8000);  // a frame from someone else
  refused(kTsd0 + 4, 4, 100, Rtl8139Violation::tx_source, kTxBufs + 0x8000 + 6);
  refused(kTsd0 + 4, 4, 13, Rtl8139Violation::tx_size, kTxBufs + 0x8000);  // no whole header
  refused(kTsd0 + 8, 4, 0x1fff, Rtl8139Violation::tx_size, kTxBufs + 2 * 1792);
  pass(kTsd0 + 12, 4, kTsdOwn | 0x1fff);  // OWN set: no hand-over
  pass(kTsd0 + 12, 2, 0x1fff);            // half a dword: the chip does nothing
}

TEST_F(Rtl8139ModelTest, SlotsHandedOverWithTheTransmitterOffAreJudgedAgainWhenItComesOn) {
  open();
  pass(kCr, 1, kCrReceiveEnable);
  pass(kTsd0, 4, 100);
  pass(kTsad0, 4, 0xfff00000);  // moved while pending
  refused(kCr, 1, kCrReceiveEnable | kCrTransmitEnable, Rtl8139Violation::tx_address, 0xfff00000);
}

TEST_F(Rtl8139ModelTest, TheRingMustLieInTheGuestsRamWhileReceiving) {
  open();
  refused(kRbstart, 4, kRamBytes - 0x1000, Rtl8139Violation::rx_ring, kRamBytes - 0x1000);
  pass(kCr, 1, kCrTransmitEnable);  // receiver off: anything goes until it is on again
  pass(kRbstart, 4, kRamBytes - 0x1000);
  refused(kCr, 1, kCrReceiveEnable, Rtl8139Violation::rx_ring, kRamBytes - 0x1000);
  pass(kRbstart, 4, kRamBytes - 8192 - 1800);
  pass(kRcr, 4, 0x0000e78a);  // an 8 KiB ring
  pass(kCr, 1, kCrReceiveEnable);
  // A bigger ring there would run past the end; judged on RCR's whole write.
  refused(kRcr, 4, 0x0000f78a, Rtl8139Violation::rx_ring, kRamBytes - 8192 - 1800);
}

TEST_F(Rtl8139ModelTest, ARefusedWriteChangesNothing) {
  open();
  refused(kRbstart, 4, kRamBytes, Rtl8139Violation::rx_ring, kRamBytes);
  pass(kRcr, 4, 0x0000f78a);  // judged against the ring where it still is
  pass(kCr, 1, kCrTransmitEnable);
  pass(kRbstart, 4, kRamBytes);
  refused(kCr, 1, kCrReceiveEnable, Rtl8139Violation::rx_ring, kRamBytes);
  pass(kRbstart, 4, kRamBytes + 0x1000);  // the receiver is still off
}

TEST_F(Rtl8139ModelTest, CPlusAndEepromWritesAreRefused) {
  open();
  refused(kCpcr, 2, 1, Rtl8139Violation::cplus, kCpcr);
  refused(kTppoll, 1, 0x40, Rtl8139Violation::cplus, kTppoll);
  refused(kCpcr - 2, 4, 0x00010000, Rtl8139Violation::cplus, kCpcr);  // straddling
  // EWEN: start bit, opcode 00, address 11xxxxxx.
  pass(kCfg9346, 1, 0x88);
  const unsigned command = 0x4ff;
  for (int bit = 10; bit >= 1; --bit) {
    const std::uint8_t data = (command & (1u << bit)) != 0 ? kEepromDataIn : 0;
    pass(kCfg9346, 1, 0x88 | data);
    pass(kCfg9346, 1, 0x88 | data | kEepromClock);
  }
  pass(kCfg9346, 1, 0x88 | kEepromDataIn);
  refused(kCfg9346, 1, 0x88 | kEepromDataIn | kEepromClock, Rtl8139Violation::eeprom_write, 0xff);
}

TEST_F(Rtl8139ModelTest, TransmitTargetsAreTheGuestsRamAtItsWindow) {
  const dmm::DmaTarget t = model_.transmit_target(0x1000, 64);
  EXPECT_EQ(t.space, dmm::DmaSpace::guest_ram);
  EXPECT_EQ(t.device_address, 0x40001000u);
  EXPECT_TRUE(dmm::share_holds(dmm::DmaShare{{}, &ram_}, t));
  EXPECT_TRUE(model_.hooked().reads.test(kCr));
  EXPECT_FALSE(model_.hooked().reads.test(kBmsr));  // the card's link, read direct
  EXPECT_TRUE(model_.hooked().writes.test(kBmsr));
  EXPECT_TRUE(model_.hooked().mmio_direct.empty());
}

TEST(IovaSpace, MapsEachGuestAtAWindowOfItsOwnAndFaultsOutside) {
  std::vector<std::uint8_t> a(1 << 20), b(3 << 20), ring(0x9000);
  dmm::IovaSpace space(std::uint64_t{1} << 32);
  const std::uint64_t ring_iova = space.map(ring, 0x10000, 0x1000, "ring");
  const dmm::GuestMemory ga = space.map_guest(dmm::GuestMemory({{0, a.size(), a.data(), 0}}), "a");
  const dmm::GuestMemory gb = space.map_guest(dmm::GuestMemory({{0, b.size(), b.data(), 0}}), "b");
  const std::uint64_t ia = *ga.translate(0, 1), ib = *gb.translate(0, 1);
  EXPECT_EQ(ring_iova, 0x10000u);
  EXPECT_NE(ia, ib);
  EXPECT_GE(ib, ia + a.size());
  std::array<std::uint8_t, 4> bytes{1, 2, 3, 4};
  EXPECT_TRUE(space.dma_write(ib + 8, bytes));
  EXPECT_EQ(b[10], 3);
  EXPECT_FALSE(space.dma_write(ia + a.size() - 2, bytes));  // runs out of a's window
  EXPECT_FALSE(space.dma_read(0, bytes));
  EXPECT_EQ(space.faults(), 2u);
  EXPECT_EQ(a[a.size() - 1], 0);
  // 4 GiB of RAM cannot fit below 4 GiB beside the rest (never touched).
  EXPECT_THROW(
      space.map_guest(dmm::GuestMemory({{0, std::uint64_t{1} << 32, a.data(), 0}}), "huge"),
      std::invalid_argument);
}

// A real IOMMU (VFIO) is told every window, those mapped before it was
// attached and those after, so that the card reaches what the space maps
// and nothing more; GuestRamBus tells each RAM range at its guest-physical
// address (passthrough).
class RecordingIommu final : public hw::IommuMapper {
 public:
  void map_window(std::uint64_t address, std::span<std::uint8_t> host) override {
    windows.emplace_back(address, host);
  }
  std::vector<std::pair<std::uint64_t, std::span<std::uint8_t>>> windows;
};

TEST(IovaSpace, MirrorsEveryWindowIntoARealIommu) {
  std::vector<std::uint8_t> a(1 << 20), ring(0x9000);
  dmm::IovaSpace space(std::uint64_t{1} << 32);
  const std::uint64_t ring_iova = space.map(ring, 0x10000, 0x1000, "ring");
  RecordingIommu iommu;
  EXPECT_TRUE(space.mirror_into(&iommu));
  ASSERT_EQ(iommu.windows.size(), 1u);
  EXPECT_EQ(iommu.windows[0].first, ring_iova);
  EXPECT_EQ(iommu.windows[0].second.data(), ring.data());
  const dmm::GuestMemory ga = space.map_guest(dmm::GuestMemory({{0, a.size(), a.data(), 0}}), "a");
  ASSERT_EQ(iommu.windows.size(), 2u);
  EXPECT_EQ(iommu.windows[1].first, *ga.translate(0, 1));
  EXPECT_EQ(iommu.windows[1].second.size(), a.size());
  EXPECT_TRUE(space.mirror_into(nullptr));
  std::vector<std::uint8_t> b(1 << 20);
  space.map_guest(dmm::GuestMemory({{0, b.size(), b.data(), 0}}), "b");
  EXPECT_EQ(iommu.windows.size(), 2u);  // no longer told

  const dmm::GuestMemory ram({{0x100000, a.size(), a.data(), 0x100000}});
  dmm::GuestRamBus bus(ram);
  RecordingIommu whole;
  EXPECT_TRUE(bus.mirror_into(&whole));
  ASSERT_EQ(whole.windows.size(), 1u);
  EXPECT_EQ(whole.windows[0].first, 0x100000u);
  EXPECT_EQ(whole.windows[0].second.data(), a.data());
}

}  // namespace
}  // namespace vpio::devices

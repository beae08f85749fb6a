// PCI configuration space as Linux's probe, bus scan and BAR sizing use it.
#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <vector>

#include "hw/pci.hpp"

namespace vpio::hw {
namespace {

using namespace pci;

std::uint32_t config_address(unsigned device, unsigned reg, unsigned bus = 0, unsigned fn = 0) {
  return PciConfigMechanism1::kEnable | (bus << 16) | (device << 11) | (fn << 8) | reg;
}

struct Bus {
  PciConfigMechanism1 mech;
  std::uint32_t read(unsigned device, unsigned reg, unsigned size) {
    mech.write(0, 4, config_address(device, reg & 0xfc));
    return mech.read(static_cast<std::uint16_t>(4 + (reg & 3)), size);
  }
  void write(unsigned device, unsigned reg, unsigned size, std::uint32_t value) {
    mech.write(0, 4, config_address(device, reg & 0xfc));
    mech.write(static_cast<std::uint16_t>(4 + (reg & 3)), size, value);
  }
};

TEST(PciMechanism1, TheAddressRegisterReadsBackOnlyAsADword) {
  PciConfigMechanism1 mech;
  // Linux's pci_check_type1: a byte to 0xCFB, then 0x80000000 read back.
  mech.write(3, 1, 0x01);
  mech.write(0, 4, 0x80000000);
  EXPECT_EQ(mech.read(0, 4), 0x80000000u);
  EXPECT_EQ(mech.read(0, 1), 0xffu);  // not this register's
  mech.write(0, 4, 0x80001003);  // reserved low bits
  EXPECT_EQ(mech.read(0, 4), 0x80001000u);
}

TEST(PciMechanism1, AbsentFunctionsOtherBusesAndADisabledAddressReadAllOnes) {
  PciFunction host(kHostBridge, 0, 0);
  Bus bus;
  bus.mech.attach(0, host);
  EXPECT_EQ(bus.read(0, 0, 4), 0x12378086u);
  EXPECT_EQ(bus.read(5, 0, 4), 0xffffffffu);
  EXPECT_EQ(bus.read(0, 0, 2), 0x8086u);
  bus.mech.write(0, 4, config_address(0, 0, 1));
  EXPECT_EQ(bus.mech.read(4, 4), 0xffffffffu);
  bus.mech.write(0, 4, config_address(0, 0, 0, 1));
  EXPECT_EQ(bus.mech.read(4, 4), 0xffffffffu);
  bus.mech.write(0, 4, config_address(0, 0) & ~PciConfigMechanism1::kEnable);
  EXPECT_EQ(bus.mech.read(4, 4), 0xffffffffu);
}

TEST(PciMechanism1, ByteAndWordAccessesReachTheirBytes) {
  PciFunction nic(kRtl8029, 32, kPinIntA);
  Bus bus;
  bus.mech.attach(1, nic);
  EXPECT_EQ(bus.read(1, 2, 2), 0x8029u);
  EXPECT_EQ(bus.read(1, 0x0b, 1), 0x02u);  // base class: network
  EXPECT_EQ(bus.read(1, 0x08, 4), 0x02000000u);
  EXPECT_EQ(bus.read(1, kInterruptPin, 1), 1u);
  bus.write(1, kInterruptLine, 1, 11);
  EXPECT_EQ(bus.read(1, 0x3c, 4) & 0xffff, 0x010bu);
}

TEST(PciMechanism1, AttachRefusesATakenOrMissingSlot) {
  PciFunction a(kHostBridge, 0, 0), b(kRtl8029, 32, kPinIntA);
  PciConfigMechanism1 mech;
  mech.attach(0, a);
  EXPECT_EQ(mech.free_device(), 1u);
  EXPECT_THROW(mech.attach(0, b), std::invalid_argument);
  EXPECT_THROW(mech.attach(32, b), std::invalid_argument);
}

TEST(PciFunction, IdentityAndHeaderAreReadOnly) {
  PciFunction nic(kRtl8029, 32, kPinIntA);
  nic.write(0, 4, 0);
  nic.write(kInterruptPin, 1, 3);
  nic.write(kHeaderType, 1, 0x80);
  EXPECT_EQ(nic.read(0, 4), 0x802910ecu);
  EXPECT_EQ(nic.read(kInterruptPin, 1), 1u);
  EXPECT_EQ(nic.read(kHeaderType, 1), 0u);
  EXPECT_EQ(nic.read(kSubsystemVendor, 4), 0x802910ecu);
}

TEST(PciFunction, SizingTheIoBarGivesItsSizeAsLinuxComputesIt) {
  PciFunction nic(kRtl8029, 32, kPinIntA);
  nic.place(0x300, 9);
  EXPECT_EQ(nic.read(kBar0, 4), 0x301u);
  nic.write(kBar0, 4, 0xffffffff);
  const std::uint32_t sized = nic.read(kBar0, 4);
  EXPECT_EQ(sized, 0xffe1u);  // 16-bit decoder, 32 ports, I/O
  const std::uint32_t mask = sized & 0xfffc;
  EXPECT_EQ(mask & ~(mask - 1), 32u);
  nic.write(kBar0, 4, 0x300);
  EXPECT_EQ(nic.read(kBar0, 4), 0x301u);
  nic.write(kBar0, 4, 0xc01f);  // low bits of the window are not the base's
  EXPECT_EQ(nic.read(kBar0, 4), 0xc001u);
  EXPECT_EQ(nic.read(kInterruptLine, 1), 9u);
}

TEST(PciFunction, TheWindowFollowsTheBarAndTheIoDecodeBit) {
  PciFunction nic(kRtl8029, 32, kPinIntA);
  std::vector<std::pair<std::optional<std::uint16_t>, std::optional<std::uint16_t>>> moves;
  nic.on_window_moved([&](auto before, auto after) { moves.emplace_back(before, after); });
  EXPECT_EQ(nic.io_window(), std::nullopt);  // decode off until placed
  nic.place(0x300, 9);                       // firmware: no callback
  EXPECT_EQ(nic.io_window(), 0x300);
  EXPECT_TRUE(moves.empty());

  // Linux's BAR sizing: decode off, all ones, the old value back, decode on.
  const std::uint32_t command = nic.read(kCommand, 2);
  nic.write(kCommand, 2, command & ~kCommandIo);
  nic.write(kBar0, 4, 0xffffffff);
  nic.write(kBar0, 4, 0x301);
  nic.write(kCommand, 2, command);
  ASSERT_EQ(moves.size(), 2u);
  EXPECT_EQ(moves[0].first, 0x300);
  EXPECT_EQ(moves[0].second, std::nullopt);
  EXPECT_EQ(moves[1].second, 0x300);

  moves.clear();
  nic.write(kBar0, 4, 0xc000);  // moved with decode on
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].first, 0x300);
  EXPECT_EQ(moves[0].second, 0xc000);
  nic.write(kBar0, 4, 0xc000);  // no change, no call
  EXPECT_EQ(moves.size(), 1u);
  nic.write(kBar0, 4, 0);  // an unassigned BAR decodes nothing
  EXPECT_EQ(nic.io_window(), std::nullopt);
}

// An RTL8139's BARs: 256 ports of I/O and 256 bytes of memory.
TEST(PciFunction, SizingTheMemoryBarGivesItsSizeAsLinuxComputesIt) {
  PciFunction nic(kRtl8029, 256, kPinIntA, 256);
  nic.place(0xc000, 11, 0xfebf1000);
  EXPECT_EQ(nic.read(kBar1, 4), 0xfebf1000u);  // 32-bit, not prefetchable
  EXPECT_EQ(nic.mem_window(), 0xfebf1000u);
  EXPECT_NE(nic.read(kCommand, 2) & kCommandMemory, 0u);
  nic.write(kBar1, 4, 0xffffffff);
  const std::uint32_t sized = nic.read(kBar1, 4);
  EXPECT_EQ(sized, 0xffffff00u);
  const std::uint32_t mask = sized & ~0xfu;
  EXPECT_EQ(mask & ~(mask - 1), 256u);
  nic.write(kBar1, 4, 0xfebf10ff);  // low bits of the window are not the base's
  EXPECT_EQ(nic.read(kBar1, 4), 0xfebf1000u);
  // No memory BAR: BAR1 reads 0 and sizes to 0, as Linux expects of an absent BAR.
  PciFunction io_only(kRtl8029, 32, kPinIntA);
  io_only.write(kBar1, 4, 0xffffffff);
  EXPECT_EQ(io_only.read(kBar1, 4), 0u);
  EXPECT_EQ(io_only.mem_window(), std::nullopt);
}

TEST(PciFunction, TheMemoryWindowFollowsTheBarAndTheMemoryDecodeBit) {
  PciFunction nic(kRtl8029, 256, kPinIntA, 4096);
  std::vector<std::pair<std::optional<std::uint32_t>, std::optional<std::uint32_t>>> moves;
  nic.on_mem_window_moved([&](auto before, auto after) { moves.emplace_back(before, after); });
  bool io_moved = false;
  nic.on_window_moved([&](auto, auto) { io_moved = true; });
  EXPECT_EQ(nic.mem_window(), std::nullopt);
  nic.place(0xc000, 11, 0xd0000000);
  EXPECT_TRUE(moves.empty());
  const std::uint32_t command = nic.read(kCommand, 2);
  nic.write(kCommand, 2, command & ~kCommandMemory);
  nic.write(kBar1, 4, 0xffffffff);
  nic.write(kBar1, 4, 0xe0000000);
  nic.write(kCommand, 2, command);
  ASSERT_EQ(moves.size(), 2u);
  EXPECT_EQ(moves[0].first, 0xd0000000u);
  EXPECT_EQ(moves[0].second, std::nullopt);
  EXPECT_EQ(moves[1].second, 0xe0000000u);
  EXPECT_FALSE(io_moved) << "the I/O window stayed where it was";
  nic.write(kBar1, 4, 0xfffff000);  // the last page below 4 GiB still decodes
  EXPECT_EQ(nic.mem_window(), 0xfffff000u);
}

TEST(PciFunction, IntxDisableIsNotImplementedAndSaysSo) {
  PciFunction nic(kRtl8029, 32, kPinIntA);
  nic.write(kCommand, 2, 1u << 10);
  EXPECT_EQ(nic.read(kCommand, 2) & (1u << 10), 0u);
}

TEST(PciFunction, RefusesABarThatIsNotAPowerOfTwo) {
  EXPECT_THROW(PciFunction(kRtl8029, 24, kPinIntA), std::invalid_argument);
  EXPECT_THROW(PciFunction(kRtl8029, 512, kPinIntA), std::invalid_argument);
  EXPECT_THROW(PciFunction(kRtl8029, 32, 5), std::invalid_argument);
  EXPECT_THROW(PciFunction(kRtl8029, 32, kPinIntA, 8), std::invalid_argument);
  EXPECT_THROW(PciFunction(kRtl8029, 32, kPinIntA, 3000), std::invalid_argument);
}

}  // namespace
}  // namespace vpio::hw

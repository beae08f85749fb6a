// The MP table read back the way Linux's mpparse.c reads it: signatures,
// checksums, lengths, and where each interrupt line goes.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <stdexcept>
#include <utility>

#include "vmm/mptable.hpp"

namespace vpio {
namespace {

std::uint8_t sum(std::span<const std::uint8_t> bytes) {
  std::uint8_t s = 0;
  for (auto b : bytes) s = static_cast<std::uint8_t>(s + b);
  return s;
}

template <typename T>
T get(std::span<const std::uint8_t> bytes, std::size_t at) {
  T v{};
  std::memcpy(&v, bytes.data() + at, sizeof v);
  return v;
}

struct Decoded {
  unsigned processors = 0, ioapics = 0;
  std::map<std::uint8_t, std::string> buses;
  // (bus, bus irq) -> IOAPIC pin, for INT entries.
  std::map<std::pair<std::uint8_t, std::uint8_t>, std::uint8_t> ints;
  std::map<std::pair<std::uint8_t, std::uint8_t>, std::uint16_t> flags;
  std::map<std::uint8_t, std::uint8_t> local;  // LINT# -> type
  std::uint32_t ioapic_address = 0;
};

Decoded decode(std::span<const std::uint8_t> t) {
  Decoded d;
  EXPECT_EQ(std::memcmp(t.data(), "_MP_", 4), 0);
  EXPECT_EQ(t[8], 1);  // 16 bytes
  EXPECT_EQ(sum(t.subspan(0, 16)), 0);
  const std::uint32_t physptr = get<std::uint32_t>(t, 4);
  EXPECT_EQ(physptr, mptable::kFloatingPointer + 16);
  const auto h = t.subspan(16);
  EXPECT_EQ(std::memcmp(h.data(), "PCMP", 4), 0);
  const auto length = get<std::uint16_t>(h, 4);
  EXPECT_EQ(16u + length, t.size());
  EXPECT_EQ(sum(h.subspan(0, length)), 0);
  EXPECT_EQ(get<std::uint32_t>(h, 36), mptable::kLocalApic);
  const auto count = get<std::uint16_t>(h, 34);
  std::size_t at = 44;
  for (unsigned i = 0; i < count; ++i) {
    const std::uint8_t type = h[at];
    if (type == 0) {
      ++d.processors;
      EXPECT_EQ(h[at + 3], 3);  // enabled, bootstrap
      at += 20;
    } else if (type == 1) {
      d.buses[h[at + 1]] = std::string(reinterpret_cast<const char*>(&h[at + 2]), 6);
      at += 8;
    } else if (type == 2) {
      ++d.ioapics;
      d.ioapic_address = get<std::uint32_t>(h, at + 4);
      at += 8;
    } else if (type == 3) {
      EXPECT_EQ(h[at + 1], 0);  // INT
      d.ints[{h[at + 4], h[at + 5]}] = h[at + 7];
      d.flags[{h[at + 4], h[at + 5]}] = get<std::uint16_t>(h, at + 2);
      at += 8;
    } else if (type == 4) {
      d.local[h[at + 7]] = h[at + 1];
      at += 8;
    } else {
      ADD_FAILURE() << "entry type " << int(type);
      break;
    }
  }
  EXPECT_EQ(at, length);
  return d;
}

TEST(MpTable, NamesOneCpuOneIoApicAndTheIsaLinesIdentityMapped) {
  const auto t = build_mptable({});
  const Decoded d = decode(t);
  EXPECT_EQ(d.processors, 1u);
  EXPECT_EQ(d.ioapics, 1u);
  EXPECT_EQ(d.ioapic_address, mptable::kIoApic);
  EXPECT_EQ(d.buses.at(mptable::kPciBus), "PCI   ");
  EXPECT_EQ(d.buses.at(mptable::kIsaBus), "ISA   ");
  for (std::uint8_t irq = 0; irq < 16; ++irq) {
    if (irq == 2) {
      EXPECT_FALSE(d.ints.contains({mptable::kIsaBus, irq}));
      continue;
    }
    EXPECT_EQ(d.ints.at({mptable::kIsaBus, irq}), irq) << "ISA IRQ " << int(irq);
    EXPECT_EQ(d.flags.at({mptable::kIsaBus, irq}), 0) << "ISA IRQ " << int(irq);  // conforms
  }
  EXPECT_EQ(d.local.at(0), 3);  // LINT0: ExtINT
  EXPECT_EQ(d.local.at(1), 1);  // LINT1: NMI
}

TEST(MpTable, RoutesEachPciFunctionsIntxToItsPin) {
  const PciInterruptRoute routes[] = {{1, 0, 9}, {2, 0, 10}, {3, 1, 11}};
  const Decoded d = decode(build_mptable(routes));
  EXPECT_EQ(d.ints.at({mptable::kPciBus, 1 << 2}), 9);
  EXPECT_EQ(d.ints.at({mptable::kPciBus, 2 << 2}), 10);
  EXPECT_EQ(d.ints.at({mptable::kPciBus, (3 << 2) | 1}), 11);
  EXPECT_EQ(d.flags.at({mptable::kPciBus, 1 << 2}), 0x5);  // edge, active high
  // The pins PCI functions have are no ISA lines any more; the rest are.
  EXPECT_FALSE(d.ints.contains({mptable::kIsaBus, 9}));
  EXPECT_FALSE(d.ints.contains({mptable::kIsaBus, 10}));
  EXPECT_FALSE(d.ints.contains({mptable::kIsaBus, 11}));
  EXPECT_EQ(d.ints.at({mptable::kIsaBus, 4}), 4);
}

TEST(MpTable, RefusesARouteThatCannotExist) {
  const PciInterruptRoute bad_pin[] = {{1, 4, 9}};
  EXPECT_THROW(build_mptable(bad_pin), std::invalid_argument);
  const PciInterruptRoute bad_device[] = {{32, 0, 9}};
  EXPECT_THROW(build_mptable(bad_device), std::invalid_argument);
  const PciInterruptRoute bad_ioapic_pin[] = {{1, 0, 24}};
  EXPECT_THROW(build_mptable(bad_ioapic_pin), std::invalid_argument);
}

TEST(MpTable, LiesInTheKiBTheE820MapReserves) {
  GuestMemory memory(4 << 20);
  write_mptable(memory, {});
  const auto at = memory.bytes(mptable::kFloatingPointer, 4);
  EXPECT_EQ(std::memcmp(at.data(), "_MP_", 4), 0);
}

}  // namespace
}  // namespace vpio

// The NE2000 VPIO model alone, driven by the port writes of a fake guest: a
// stock driver's sequence (guests/ne2000/ne2000.c) yields only shadow, card
// DMA and transmit actions with ranges translated to where the guest's
// transmit area lives on the card; each hostile programming is refused with
// its violation and the address it would have touched, and leaves the model
// as it was; in-flight tracking and the hooked-I/O list follow the card DMA.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hw/bytes.hpp"
#include "devices/ne2000/ne2000_model.hpp"
#include "devices/ne2000/ne2000.hpp"

namespace vpio::devices {
namespace {

using namespace devices::ne2000;

// The guest's transmit area: pages 0x40..0x45 in its view, on the card at
// 0x46..0x4b (the monitor's second guest).
constexpr GuestLayout kLayout{0x40, 6, 0x46};
constexpr std::uint16_t kCardTxStart = 0x4600;

// CR values of the stock driver: page, run state and DMA command.
constexpr std::uint8_t kStoppedPage0 = kCrNoDma | kCrStop;                          // 0x21
constexpr std::uint8_t kStoppedPage1 = kCrPage1 | kCrNoDma | kCrStop;               // 0x61
constexpr std::uint8_t kRunningPage0 = kCrNoDma | kCrStart;                         // 0x22
constexpr std::uint8_t kRunningPage1 = kCrPage1 | kCrNoDma | kCrStart;              // 0x62
constexpr std::uint8_t kStartRead = kCrRemoteRead | kCrStart;                       // 0x0a
constexpr std::uint8_t kStartWrite = kCrRemoteWrite | kCrStart;                     // 0x12
constexpr std::uint8_t kTransmit = kCrNoDma | kCrStart | kCrTransmit;               // 0x26
constexpr std::uint8_t kDcrValue = kDcrWordTransfer | kDcrNormal | kDcrFifo8Bytes;  // 0x49

constexpr std::uint8_t kRxStart = 0x46;
constexpr std::uint8_t kRxStop = 0x80;
constexpr std::uint8_t kMac[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x0a};

using hw::hi;
using hw::lo;

// The registers as text, so that a difference reads as one.
std::string describe(const Ne2000GuestRegisters& r) {
  std::ostringstream out;
  out << std::hex << "CR " << +r.cr << " PSTART " << +r.pstart << " PSTOP " << +r.pstop << " BNRY "
      << +r.bnry << " TPSR " << +r.tpsr << " CURR " << +r.curr << " TBCR " << r.tbcr << " RSAR "
      << r.rsar << " RBCR " << r.rbcr << " RCR " << +r.rcr << " TCR " << +r.tcr << " DCR " << +r.dcr
      << " IMR " << +r.imr << " PAR";
  for (const auto b : r.par) out << ' ' << +b;
  out << " MAR";
  for (const auto b : r.mar) out << ' ' << +b;
  return out.str();
}

std::string action_name(Action a) {
  switch (a) {
    case Action::refuse: return "refuse";
    case Action::shadow: return "shadow";
    case Action::start_card_dma: return "start_card_dma";
    case Action::copy_from_card: return "copy_from_card";
    case Action::transmit: return "transmit";
    case Action::transmit_copy: return "transmit_copy";
    case Action::reset: return "reset";
  }
  return "?";
}

// A fake guest: the writes of guests/ne2000/ne2000.c, in its order, fed to a
// model. Reads are not shown to the model (it sees writes only), except the
// reset port, which resets on a read as well.
struct FakeGuest {
  explicit FakeGuest(GuestLayout layout = kLayout) : model(layout) {}

  Ne2000Model model;
  std::vector<Decision> decisions;

  Decision write(unsigned offset, unsigned value) {
    decisions.push_back(
        model.on_write(static_cast<std::uint16_t>(offset), static_cast<std::uint8_t>(value)));
    return decisions.back();
  }
  Decision reset() { return write(Ne2000Model::kResetPort, 0); }

  // ne_probe: the DP8390 check, a reset (read and write of the reset port),
  // and the PROM read by remote DMA in word mode.
  void probe() {
    put(kCr, kStoppedPage1).put(kMar0 + 5, 0xff).put(kCr, kStoppedPage0);
    put(kCr, kStoppedPage1).put(kMar0 + 5, 0).put(kCr, kStoppedPage0);
    reset();
    reset();
    write(kIsr, 0xff);
    write(kCr, kStoppedPage0);
    write(kDcr, kDcrValue);
    put(kRbcr0, 0).put(kRbcr1, 0).put(kImr, 0).put(kIsr, 0xff);
    put(kRcr, kRcrMonitor).put(kTcr, kTcrInternalLoopback);
    put(kRbcr0, kPromBytes).put(kRbcr1, 0).put(kRsar0, 0).put(kRsar1, 0);
    write(kCr, kStartRead);
    put(kIsr, kIsrRdc).put(kCr, kStoppedPage0);
  }

  // ne_init, with the ring the caller asks for (the driver's: 0x46..0x80).
  void init(std::uint8_t pstart = kRxStart, std::uint8_t pstop = kRxStop) {
    write(kCr, kStoppedPage0);
    put(kDcr, kDcrValue).put(kRbcr0, 0).put(kRbcr1, 0);
    put(kRcr, kRcrMonitor).put(kTcr, kTcrInternalLoopback);
    put(kTpsr, 0x40).put(kPstart, pstart).put(kBnry, pstart).put(kPstop, pstop);
    put(kIsr, 0xff).put(kImr, 0);
    write(kCr, kStoppedPage1);
    for (unsigned i = 0; i < 6; ++i) write(kPar0 + i, kMac[i]);
    write(kCurr, pstart + 1);
    for (unsigned i = 0; i < 8; ++i) write(kMar0 + i, 0);
    write(kCr, kStoppedPage0);
    put(kIsr, 0xff).put(kImr, 0);
    write(kCr, kRunningPage0);
    put(kTcr, 0).put(kRcr, kRcrBroadcast);
  }

  // program_remote_dma: abort, count, address, then the command.
  Decision remote(std::uint16_t address, std::uint16_t count, bool remote_write) {
    write(kCr, kRunningPage0);
    put(kRbcr0, lo(count)).put(kRbcr1, hi(count)).put(kRsar0, lo(address)).put(kRsar1, hi(address));
    return write(kCr, remote_write ? kStartWrite : kStartRead);
  }

  // ne_send after the DMA: count, page, TXP.
  Decision transmit(std::uint8_t page, std::uint16_t bytes) {
    put(kTbcr0, lo(bytes)).put(kTbcr1, hi(bytes)).put(kTpsr, page);
    return write(kCr, kTransmit);
  }

  // Chaining for sequences whose single decisions do not matter.
  FakeGuest& put(unsigned offset, unsigned value) {
    write(offset, value);
    return *this;
  }

  bool all_hooked() const {
    const auto hooked = model.hooked();
    return hooked.reads.count() == Ne2000Model::kWindowPorts &&
           hooked.writes.count() == Ne2000Model::kWindowPorts;
  }
};

// ---- A stock driver ----

TEST(Ne2000Model, ProbeAndInitOnlyTouchTheShadow) {
  FakeGuest g;
  g.probe();
  g.init();
  for (const Decision& d : g.decisions)
    EXPECT_TRUE(d.action == Action::shadow || d.action == Action::reset)
        << "action " << static_cast<int>(d.action) << " " << violation_name(d.verdict.violation);
  EXPECT_TRUE(g.model.initialised());
  EXPECT_EQ(g.model.registers().pstart, kRxStart);
  EXPECT_EQ(g.model.registers().pstop, kRxStop);
  EXPECT_EQ(g.model.registers().curr, kRxStart + 1);
}

TEST(Ne2000Model, ASendRunsTheDmaAndTheTransmitOnTheCardAtTheTranslatedArea) {
  FakeGuest g;
  g.probe();
  g.init();
  g.decisions.clear();
  const std::uint16_t dma_bytes = 1000, wire_bytes = 999;  // an odd frame, word mode
  g.write(kIsr, kIsrPtx | kIsrTxe);
  const Decision dma = g.remote(0x4000, dma_bytes, true);
  g.model.card_dma_done();  // the monitor saw RDC on the card
  g.write(kIsr, kIsrRdc);
  const Decision tx = g.transmit(0x40, wire_bytes);
  g.write(kIsr, kIsrPtx);

  EXPECT_EQ(action_name(dma.action), "start_card_dma");
  EXPECT_EQ(dma.card.address, kCardTxStart);
  EXPECT_EQ(dma.card.bytes, dma_bytes);
  EXPECT_EQ(action_name(tx.action), "transmit");
  EXPECT_EQ(tx.card.address, kCardTxStart);
  EXPECT_EQ(tx.card.bytes, wire_bytes);
  unsigned others = 0;
  for (const Decision& d : g.decisions) {
    EXPECT_NE(d.action, Action::refuse) << violation_name(d.verdict.violation);
    if (d.action != Action::start_card_dma && d.action != Action::transmit) {
      EXPECT_EQ(action_name(d.action), "shadow");
      ++others;
    }
  }
  EXPECT_EQ(others, g.decisions.size() - 2);
}

TEST(Ne2000Model, TranslationKeepsTheOffsetIntoTheTransmitArea) {
  FakeGuest g;
  g.probe();
  g.init();
  const Decision dma = g.remote(0x4123, 0x100, true);
  EXPECT_EQ(action_name(dma.action), "start_card_dma");
  EXPECT_EQ(dma.card.address, kCardTxStart + 0x123);
  g.model.card_dma_done();
  const Decision tx = g.transmit(0x42, 60);
  EXPECT_EQ(action_name(tx.action), "transmit");
  EXPECT_EQ(tx.card.address, kCardTxStart + 0x200);
}

TEST(Ne2000Model, ReceiveReadsInTheRingStayInTheShadow) {
  FakeGuest g;
  g.probe();
  g.init();
  g.decisions.clear();
  // ne_receive: ack PRX, CURR on page 1, the header, the frame, BNRY.
  g.write(kIsr, kIsrPrx);
  g.write(kCr, kRunningPage1);
  g.write(kCr, kRunningPage0);
  g.remote(0x4700, 4, false);
  g.write(kIsr, kIsrRdc);
  g.remote(0x4704, 1514, false);
  g.write(kIsr, kIsrRdc);
  g.write(kBnry, 0x4c);
  // A frame wrapping from PSTOP back to PSTART (0x7f00 + 0x200 -> 0x4600).
  g.remote(0x7f00, 0x200, false);
  g.write(kIsr, kIsrRdc);
  g.write(kBnry, 0x46);
  for (const Decision& d : g.decisions)
    EXPECT_EQ(action_name(d.action), "shadow") << violation_name(d.verdict.violation);
  EXPECT_FALSE(g.model.card_dma_in_flight());
}

TEST(Ne2000Model, TheCardContextIsTranslated) {
  FakeGuest g;
  g.probe();
  g.init();
  g.remote(0x4010, 0x80, true);
  g.model.card_dma_done();
  g.put(kTbcr0, lo(300)).put(kTbcr1, hi(300)).put(kTpsr, 0x41);
  const CardContext c = g.model.card_context();
  // The remote DMA registers are never the guest's (issue 13): the monitor
  // programs them from the validated range when a DMA starts.
  EXPECT_EQ(c.rsar, 0);
  EXPECT_EQ(c.rbcr, 0);
  EXPECT_EQ(c.tpsr, 0x47);
  EXPECT_EQ(c.tbcr, 300);
  EXPECT_EQ(c.dcr, kDcrValue);
}

// ---- Question 1 and 3: in flight, reusable, hooked ----

TEST(Ne2000Model, TheDataPortsWritesAreDirectExactlyWhileACardDmaRuns) {
  FakeGuest g;
  g.probe();
  g.init();
  EXPECT_TRUE(g.all_hooked());
  g.remote(0x4000, 0x40, true);
  const auto hooked = g.model.hooked();
  EXPECT_EQ(hooked.reads.count(), Ne2000Model::kWindowPorts)
      << "a card need not stop a read at its count";
  EXPECT_EQ(hooked.writes.count(), Ne2000Model::kWindowPorts - Ne2000Model::kDataPortSpan);
  for (unsigned i = 0; i < Ne2000Model::kDataPortSpan; ++i)
    EXPECT_FALSE(hooked.writes.test(Ne2000Model::kDataPort + i)) << "data port + " << i;
  EXPECT_FALSE(g.model.reusable());
  g.model.card_dma_done();
  EXPECT_TRUE(g.all_hooked());
  EXPECT_TRUE(g.model.reusable());
}

TEST(Ne2000Model, ADmaInTheShadowLeavesTheDataPortHooked) {
  FakeGuest g;
  g.probe();
  g.init();
  EXPECT_EQ(action_name(g.remote(0x0000, kPromBytes, false).action), "shadow");
  EXPECT_TRUE(g.all_hooked());
  EXPECT_EQ(action_name(g.remote(0x5000, 0x100, false).action), "shadow");
  EXPECT_TRUE(g.all_hooked());
  EXPECT_TRUE(g.model.reusable());
}

TEST(Ne2000Model, AnAbortEndsTheCardDmaAndHooksTheDataPort) {
  FakeGuest g;
  g.probe();
  g.init();
  g.remote(0x4000, 0x100, true);
  const Decision abort = g.write(kCr, kRunningPage0);
  EXPECT_TRUE(abort.ends_card_dma);
  EXPECT_FALSE(g.model.card_dma_in_flight());
  EXPECT_TRUE(g.all_hooked());
}

TEST(Ne2000Model, ResetClearsEverything) {
  FakeGuest g;
  g.probe();
  g.init();
  g.remote(0x4000, 60, true);
  ASSERT_TRUE(g.model.card_dma_in_flight());
  EXPECT_EQ(action_name(g.reset().action), "reset");
  EXPECT_EQ(describe(g.model.registers()), describe(Ne2000GuestRegisters{}));
  EXPECT_FALSE(g.model.card_dma_in_flight());
  EXPECT_TRUE(g.model.reusable());
  EXPECT_TRUE(g.all_hooked());
  EXPECT_FALSE(g.model.initialised());
  // Initialisation is needed again before the card is used.
  g.write(kCr, kRunningPage0);
  EXPECT_EQ(g.remote(0x4000, 60, true).verdict.violation, Violation::not_initialised);
}

// ---- Hostile programming ----

// Runs the write that should be refused and checks the verdict, that the
// model's registers and DMA state did not move, and that nothing went direct.
void expect_refused(FakeGuest& g, std::uint16_t offset, std::uint8_t value, Violation violation,
                    std::uint32_t card_address) {
  const Ne2000GuestRegisters before = g.model.registers();
  const bool dma_before = g.model.card_dma_in_flight();
  const Decision d = g.write(offset, value);
  EXPECT_EQ(action_name(d.action), "refuse");
  EXPECT_EQ(violation_name(d.verdict.violation), violation_name(violation));
  EXPECT_EQ(d.verdict.card_address, card_address)
      << std::hex << "touched 0x" << d.verdict.card_address << ", expected 0x" << card_address;
  EXPECT_EQ(describe(g.model.registers()), describe(before)) << "a refused write changed them";
  EXPECT_EQ(g.model.card_dma_in_flight(), dma_before);
  EXPECT_EQ(g.all_hooked(), !dma_before) << "a refusal opens no port and closes none";
}

// Programs a remote DMA up to (not including) its command.
void program_dma(FakeGuest& g, std::uint16_t address, std::uint16_t count) {
  g.write(kCr, kRunningPage0);
  g.put(kRbcr0, lo(count)).put(kRbcr1, hi(count)).put(kRsar0, lo(address)).put(kRsar1, hi(address));
}

void program_transmit(FakeGuest& g, std::uint8_t page, std::uint16_t bytes) {
  g.put(kTbcr0, lo(bytes)).put(kTbcr1, hi(bytes)).put(kTpsr, page);
}

FakeGuest running_guest(std::uint8_t pstart = kRxStart, std::uint8_t pstop = kRxStop,
                        GuestLayout layout = kLayout) {
  FakeGuest g(layout);
  g.probe();
  g.init(pstart, pstop);
  return g;
}

TEST(Ne2000ModelHostile, WriteDmaPastTheEndOfTheTransmitArea) {
  FakeGuest g = running_guest();
  program_dma(g, 0x4000, 0x700);
  expect_refused(g, kCr, kStartWrite, Violation::remote_dma_outside_share, 0x4600);
}

TEST(Ne2000ModelHostile, ReadDmaFromTheTransmitAreaIntoTheRing) {
  FakeGuest g = running_guest();
  program_dma(g, 0x4500, 0x200);
  expect_refused(g, kCr, kStartRead, Violation::remote_dma_outside_share, 0x4600);
}

TEST(Ne2000ModelHostile, DmaFromTheRingWrappingIntoTheTransmitArea) {
  // A ring whose PSTART is the transmit area's first page: a read from the
  // ring's last page wraps at PSTOP into the transmit area.
  FakeGuest g = running_guest(0x40, kRxStop);
  program_dma(g, 0x7f00, 0x200);
  expect_refused(g, kCr, kStartRead, Violation::remote_dma_outside_share, 0x4000);
}

TEST(Ne2000ModelHostile, DmaAroundTheAddressSpaceIntoTheTransmitArea) {
  // PSTOP below the start: the address runs on past 0x8000, wraps at 16
  // bits through the PROM and reaches the transmit area.
  FakeGuest g = running_guest(kRxStart, 0x60);
  program_dma(g, 0x7f00, 0xc200);
  expect_refused(g, kCr, kStartRead, Violation::remote_dma_outside_share, 0x4000);
}

TEST(Ne2000ModelHostile, CardDmaWrappingAtAPstopInsideTheTransmitArea) {
  // Regression test: the model once got this wrong (devices/ne2000/ne2000_model.cpp,
  // classify_remote_dma).
  FakeGuest g = running_guest(0x40, 0x46);
  program_dma(g, 0x4000, 0x700);
  expect_refused(g, kCr, kStartWrite, Violation::remote_dma_outside_share, 0x4600);
}

TEST(Ne2000ModelHostile, WordModeDmaWhoseLastWordCrossesTheAreaEnd) {
  // Regression test: the model once got this wrong (devices/ne2000/ne2000_model.cpp,
  // classify_remote_dma).
  FakeGuest g = running_guest();
  program_dma(g, 0x45ff, 1);
  expect_refused(g, kCr, kStartWrite, Violation::remote_dma_outside_share, 0x4600);
}

// A transmit from the guest's own pages that are not on the card (past its
// one-frame area: lib8390's second buffer) is sent as a copy, not refused.
TEST(Ne2000Model, TransmitFromPagesPastTheAreaIsSentAsACopy) {
  FakeGuest g = running_guest();
  program_transmit(g, 0x46, 60);
  const Decision d = g.write(kCr, kTransmit);
  EXPECT_EQ(action_name(d.action), "transmit_copy");
  EXPECT_EQ(d.view_address, 0x4600);
  EXPECT_EQ(d.card.address, g.model.layout().card_tx_page << 8)
      << "the copy goes to the start of the area on the card";
  EXPECT_EQ(d.card.bytes, 60);
  EXPECT_EQ(g.model.tx_area_part(0x4600, 60).card.bytes, 0) << "none of it is on the card";
}

TEST(Ne2000ModelHostile, TransmitFromTheLastPageOfMemory) {
  FakeGuest g = running_guest();
  program_transmit(g, 0x7f, 1514);
  expect_refused(g, kCr, kTransmit, Violation::transmit_outside_share, 0x7f00);
}

// Partly in the area: the part on the card is found by tx_area_part.
TEST(Ne2000Model, TransmitRunningPastTheAreaEndIsSentAsACopy) {
  FakeGuest g = running_guest();
  program_transmit(g, 0x44, 1514);
  const Decision d = g.write(kCr, kTransmit);
  EXPECT_EQ(action_name(d.action), "transmit_copy");
  const auto part = g.model.tx_area_part(0x4400, 1514);
  EXPECT_EQ(part.offset, 0);
  EXPECT_EQ(part.card.address, (g.model.layout().card_tx_page << 8) + 0x400);
  EXPECT_EQ(part.card.bytes, 0x200) << "pages 0x44 and 0x45";
}

TEST(Ne2000ModelHostile, TransmitFromBelowTheCardsMemory) {
  FakeGuest g = running_guest();
  program_transmit(g, 0x3f, 60);
  expect_refused(g, kCr, kTransmit, Violation::transmit_outside_share, 0x3f00);
}

TEST(Ne2000ModelHostile, TransmitOfZeroBytes) {
  FakeGuest g = running_guest();
  program_transmit(g, 0x40, 0);
  expect_refused(g, kCr, kTransmit, Violation::transmit_length, 0x4000);
}

TEST(Ne2000ModelHostile, TransmitLongerThanAnyFrame) {
  FakeGuest g = running_guest();
  program_transmit(g, 0x40, 2000);
  expect_refused(g, kCr, kTransmit, Violation::transmit_length, 0x4000);
}

TEST(Ne2000ModelHostile, CardDmaBeforeAnything) {
  FakeGuest g;
  program_dma(g, 0x4000, 60);
  expect_refused(g, kCr, kStartWrite, Violation::not_initialised, 0x4000);
}

TEST(Ne2000ModelHostile, CardDmaWithoutDcr) {
  FakeGuest g;
  g.write(kCr, kRunningPage0);
  program_dma(g, 0x4000, 60);
  expect_refused(g, kCr, kStartWrite, Violation::not_initialised, 0x4000);
}

TEST(Ne2000ModelHostile, CardDmaWithDcrOnAStoppedCard) {
  FakeGuest g;
  g.write(kDcr, kDcrValue);
  g.write(kCr, kStoppedPage0);
  g.put(kRbcr0, 60).put(kRbcr1, 0).put(kRsar0, 0x00).put(kRsar1, 0x40);
  expect_refused(g, kCr, kCrRemoteWrite | kCrStop, Violation::not_initialised, 0x4000);
}

TEST(Ne2000ModelHostile, TransmitBeforeInitialisation) {
  FakeGuest g;
  g.write(kCr, kRunningPage0);
  program_transmit(g, 0x40, 60);
  expect_refused(g, kCr, kTransmit, Violation::not_initialised, 0x4000);
}

TEST(Ne2000ModelHostile, ADmaAndATransmitInOneCommand) {
  FakeGuest g = running_guest();
  program_dma(g, 0x4000, 60);
  program_transmit(g, 0x40, 60);
  expect_refused(g, kCr, static_cast<std::uint8_t>(kStartWrite | kCrTransmit),
                 Violation::transmit_outside_share, 0x4000);
}

TEST(Ne2000ModelHostile, TheModelStaysUsableAfterARefusal) {
  FakeGuest g = running_guest();
  program_dma(g, 0x4000, 0x700);
  ASSERT_EQ(action_name(g.write(kCr, kStartWrite).action), "refuse");
  const Decision d = g.remote(0x4000, 0x600, true);
  EXPECT_EQ(action_name(d.action), "start_card_dma");
  EXPECT_EQ(d.card.address, kCardTxStart);
  EXPECT_EQ(d.card.bytes, 0x600);
}

// ---- Issue 13: what the direct path may reach ----

TEST(Ne2000Model, AReadOfTheTransmitAreaIsCopiedNotRunOnTheCard) {
  FakeGuest g = running_guest();
  const Decision d = g.remote(0x4102, 0x41, false);
  EXPECT_EQ(action_name(d.action), "copy_from_card");
  EXPECT_EQ(d.card.address, kCardTxStart + 0x102);
  EXPECT_EQ(d.card.bytes, 0x42) << "word mode: the odd count moves one byte more";
  EXPECT_EQ(d.view_address, 0x4102);
  EXPECT_FALSE(g.model.card_dma_in_flight());
  EXPECT_TRUE(g.all_hooked());
}

TEST(Ne2000Model, ThirtyTwoBitWritesGoDirectOnlyWithRoomForTheCardsOverreach) {
  FakeGuest g = running_guest();
  const auto roomy_bytes = static_cast<std::uint16_t>(0x600 - Ne2000Model::kCardOverreach - 1);
  const Decision roomy = g.remote(0x4000, roomy_bytes, true);
  EXPECT_EQ(roomy.direct_ports, Ne2000Model::kDataPortSpan);
  g.write(kCr, kRunningPage0);
  const Decision tight = g.remote(0x4500, 0x100, true);
  ASSERT_EQ(action_name(tight.action), "start_card_dma") << "a DMA that fits is never refused";
  EXPECT_EQ(tight.direct_ports, Ne2000Model::kDataPortWordSpan);
  const auto hooked = g.model.hooked();
  EXPECT_FALSE(hooked.writes.test(Ne2000Model::kDataPort));
  EXPECT_FALSE(hooked.writes.test(Ne2000Model::kDataPort + 1));
  EXPECT_TRUE(hooked.writes.test(Ne2000Model::kDataPort + 2)) << "a 32-bit write covers it";
}

TEST(Ne2000ModelHostile, DmaRegistersRewrittenWhileTheCardDmaRuns) {
  for (const std::uint16_t offset : {kRbcr0, kRbcr1, kRsar0, kRsar1}) {
    FakeGuest g = running_guest();
    g.remote(0x4000, 2, true);
    ASSERT_TRUE(g.model.card_dma_in_flight());
    const Ne2000GuestRegisters before = g.model.registers();
    const Decision d = g.write(offset, 0xff);
    EXPECT_EQ(action_name(d.action), "refuse");
    EXPECT_EQ(violation_name(d.verdict.violation),
              violation_name(Violation::remote_dma_reprogrammed));
    EXPECT_EQ(d.verdict.card_address, 0x4000u);
    EXPECT_EQ(describe(g.model.registers()), describe(before)) << "a refused write is recorded";
    // The broken DMA is taken from the guest: one machine check, not one per
    // register it goes on writing.
    EXPECT_TRUE(d.ends_card_dma);
    EXPECT_FALSE(g.model.card_dma_in_flight());
    EXPECT_TRUE(g.all_hooked());
    EXPECT_EQ(action_name(g.write(offset, 0xff).action), "shadow");
  }
}

TEST(Ne2000Model, TheDmaRegistersAreFreeOnceTheCardDmaEnded) {
  FakeGuest g = running_guest();
  g.remote(0x4000, 2, true);
  g.model.card_dma_done();
  EXPECT_EQ(action_name(g.write(kRbcr0, 0xff).action), "shadow");
  g.remote(0x4000, 2, true);
  EXPECT_TRUE(g.write(kCr, kRunningPage0).ends_card_dma);
  EXPECT_EQ(action_name(g.write(kRsar0, 0x10).action), "shadow");
}

TEST(Ne2000ModelHostile, RuntsWithoutAWholeHeaderAreRefused) {
  for (const std::uint16_t bytes : std::initializer_list<std::uint16_t>{1, 5, 10, 13}) {
    FakeGuest g = running_guest();
    program_transmit(g, 0x40, bytes);
    expect_refused(g, kCr, kTransmit, Violation::transmit_length, 0x4000);
  }
}

TEST(Ne2000Model, ARuntWithAWholeHeaderGoesOutAsADp8390SendsIt) {
  FakeGuest g = running_guest();
  program_transmit(g, 0x40, Ne2000Model::kMinTransmitBytes);
  const Decision d = g.write(kCr, kTransmit);
  EXPECT_EQ(action_name(d.action), "transmit");
  EXPECT_EQ(d.card.bytes, Ne2000Model::kMinTransmitBytes);
}

// ---- Issue 15: what is the guest's own card's ----

bool shadow(const Decision& d) { return d.action == Action::shadow; }

// Any value, in any order, with the card started or stopped: the card runs
// the monitor's ring, so these reach the guest's own card only.
TEST(Ne2000Model, TheRingsPointersAreTheGuestsOwnWhateverTheirValues) {
  FakeGuest g = running_guest();
  for (const auto& [offset, value] :
       std::initializer_list<std::pair<std::uint16_t, std::uint8_t>>{{kPstop, 0x90},
                                                                     {kPstart, 0x20},
                                                                     {kBnry, 0x90},
                                                                     {kPstop, kRxStart},
                                                                     {kPstart, 0x70},
                                                                     {kPstop, 0x60},
                                                                     {kBnry, 0x00},
                                                                     {kPstart, 0xff},
                                                                     {kPstop, 0x00}})
    EXPECT_TRUE(shadow(g.write(offset, value)))
        << std::hex << "offset " << offset << " = " << +value;
  g.write(kCr, kRunningPage1);
  EXPECT_TRUE(shadow(g.write(kCurr, 0x90)));
  g.write(kCr, kStoppedPage0);
  g.put(kPstart, 0x60).put(kPstop, 0x50);
  EXPECT_TRUE(shadow(g.write(kCr, kRunningPage0))) << "a start with the ring inverted";
  // The transmit path is judged as before.
  EXPECT_EQ(action_name(g.remote(0x4000, 60, true).action), "start_card_dma");
  g.model.card_dma_done();
  EXPECT_EQ(action_name(g.transmit(0x40, 60).action), "transmit");
}

// Probes write test patterns where an NE1000 has memory (iPXE's and FreeBSD
// ed's, at 0x2000), Linux's NE_RW_BUGFIX reads at 0x0042, and a read may
// run past the end of memory: the guest's own card does what a card does
// there (reads float, writes go nowhere), and the physical card is not
// involved.
TEST(Ne2000Model, ADmaOffTheCardsMemoryIsTheGuestsOwnCards) {
  FakeGuest g = running_guest(kRxStart, 0x60);
  EXPECT_TRUE(shadow(g.remote(0x2000, 32, true)));
  EXPECT_TRUE(shadow(g.remote(0x2000, 32, false)));
  EXPECT_TRUE(shadow(g.remote(0x0000, 16, true))) << "a write to the PROM";
  EXPECT_TRUE(shadow(g.remote(0x0042, 0x42, false)));
  EXPECT_TRUE(shadow(g.remote(0x7f00, 0x200, false))) << "past 0x8000";
  EXPECT_TRUE(g.all_hooked());
  EXPECT_FALSE(g.model.card_dma_in_flight());
}

// The chip wraps the remote address from PSTOP to PSTART whatever their
// order, and so does the model's walk.
TEST(Ne2000Model, TheWalkWrapsAtPstopWhateverTheRingsOrder) {
  FakeGuest g = running_guest(0x70, 0x60);
  EXPECT_TRUE(shadow(g.remote(0x5f00, 0x200, false))) << "0x5f00..0x6000, then 0x7000..";
  g.put(kPstart, 0x40).put(kPstop, 0x30);
  program_dma(g, 0x2f00, 0x200);
  expect_refused(g, kCr, kStartRead, Violation::remote_dma_outside_share, 0x4000);
}

// lib8390 selects pages and triggers its sends with commands that name
// neither STA nor STP (0x20, 0x60, E8390_NODMA | E8390_TRANS); on the chip
// the run state holds, and in the model too.
TEST(Ne2000Model, ACommandWithoutARunStateKeepsTheCardRunning) {
  FakeGuest g = running_guest();
  g.write(kCr, kCrNoDma | kCrPage1);
  g.write(kPar0, 0x02);
  EXPECT_EQ(g.model.registers().par[0], 0x02) << "page 1 selected";
  g.write(kCr, kCrNoDma);
  program_transmit(g, 0x40, 60);
  const Decision d = g.write(kCr, kCrNoDma | kCrTransmit);
  EXPECT_EQ(action_name(d.action), "transmit") << violation_name(d.verdict.violation);
  g.write(kCr, kStoppedPage0);
  program_transmit(g, 0x40, 60);
  EXPECT_TRUE(shadow(g.write(kCr, kCrNoDma | kCrTransmit))) << "a stopped card ignores TXP";
}

// With two buffers' pages (lib8390's tx_start_page..+12, ring from 0x4c) the
// area is all twelve; a driver whose ring starts after one buffer (0x46)
// keeps its ring's pages in its own card.
constexpr GuestLayout kTwoBuffers{0x40, 12, 0x4c};
constexpr std::uint16_t kTwoBuffersCardStart = 0x4c00;

TEST(Ne2000Model, BothOfLib8390sBuffersAreOnTheCard) {
  FakeGuest g = running_guest(0x4c, kRxStop, kTwoBuffers);
  const Decision second = g.remote(0x4600, 1514, true);
  EXPECT_EQ(action_name(second.action), "start_card_dma");
  EXPECT_EQ(second.card.address, kTwoBuffersCardStart + 0x600);
  g.model.card_dma_done();
  const Decision tx = g.transmit(0x46, 1514);
  EXPECT_EQ(action_name(tx.action), "transmit");
  EXPECT_EQ(tx.card.address, kTwoBuffersCardStart + 0x600);
  EXPECT_TRUE(shadow(g.remote(0x4c00, 0x100, false))) << "the ring";
}

TEST(Ne2000Model, TheTransmitAreaEndsWhereTheRingStarts) {
  FakeGuest g = running_guest(kRxStart, kRxStop, kTwoBuffers);
  EXPECT_TRUE(shadow(g.remote(0x4700, 0x200, false))) << "the ring at 0x46 is the guest's own";
  EXPECT_TRUE(shadow(g.remote(0x7f00, 0x200, false))) << "wrapping to 0x46";
  EXPECT_EQ(action_name(g.remote(0x4000, 0x600, true).action), "start_card_dma");
  g.write(kCr, kRunningPage0);
  program_dma(g, 0x4000, 0x700);
  expect_refused(g, kCr, kStartWrite, Violation::remote_dma_outside_share, 0x4600);
  program_transmit(g, 0x46, 60);
  EXPECT_EQ(action_name(g.write(kCr, kTransmit).action), "transmit_copy")
      << "the ring's pages are the guest's own: a copy";
}

}  // namespace
}  // namespace vpio::devices

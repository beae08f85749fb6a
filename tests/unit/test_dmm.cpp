// The Device Modeling Monitor with vpio's chip on a hub as the shared card and
// fake guests driving the stock driver's port sequences (guests/ne2000/
// ne2000.c) through their windows: frames go out intact with the data port
// direct, received frames reach exactly the guests they are addressed to
// through bounded queues, and each hostile programming costs only its guest
// a machine check while another guest's transfer goes on undisturbed.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/dmm_fixture.hpp"

namespace vpio::devices {
namespace {

using namespace devices::ne2000;
using namespace testing_support;
using devices::Violation;

// ---- Probe and transmit ----

using DmmTransmit = DmmTest;

TEST_F(DmmTransmit, EachGuestReadsItsOwnMacFromThePromDoubled) {
  FakeGuest a = add("a", kMacA), b = add("b", kMacB);
  const auto prom_a = a->probe();
  const auto prom_b = b->probe();
  for (unsigned i = 0; i < 6; ++i) {
    EXPECT_EQ(prom_a[2 * i], kMacA.bytes[i]) << i;
    EXPECT_EQ(prom_a[2 * i + 1], kMacA.bytes[i]) << i;
    EXPECT_EQ(prom_b[2 * i], kMacB.bytes[i]) << i;
    EXPECT_EQ(prom_b[2 * i + 1], kMacB.bytes[i]) << i;
  }
  EXPECT_EQ(prom_a[28], kPromSignature);
  EXPECT_EQ(prom_a[30], kPromSignature);
}

TEST_F(DmmTransmit, InitReadsBackCurr) {
  FakeGuest a = add("a", kMacA);
  a->bring_up();
  EXPECT_EQ(a->curr_after_init(), kRxStart + 1);
  EXPECT_TRUE(a.machine_checks().empty());
}

TEST_F(DmmTransmit, FramesOfEverySizeFromTwoGuestsReachTheHubIntact) {
  FakeGuest a = add("a", kMacA), b = add("b", kMacB);
  a->bring_up();
  b->bring_up();
  std::vector<Bytes> sent;
  std::uint8_t seed = 1;
  for (const std::size_t size : {60u, 61u, 64u, 100u, 333u, 1000u, 1513u, 1514u}) {
    for (FakeGuest* g : {&a, &b}) {
      sent.push_back(make_frame(kStationMac, g->guest->mac(), size, seed++));
      ASSERT_TRUE((*g)->send(sent.back())) << g->guest->name() << " size " << size;
    }
  }
  const auto heard = station_.frames();
  ASSERT_EQ(heard.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(first_difference(heard[i], sent[i]), std::nullopt)
        << "frame " << i << " of " << sent[i].size() << " bytes";
    EXPECT_TRUE(from(heard[i], i % 2 == 0 ? kMacA : kMacB)) << "frame " << i;
  }
  EXPECT_EQ(a.guest->stats().frames_sent, 8u);
  EXPECT_EQ(b.guest->stats().frames_sent, 8u);
  EXPECT_TRUE(a.machine_checks().empty());
  EXPECT_TRUE(b.machine_checks().empty());
}

// ---- Counters ----

using DmmCounters = DmmTest;

TEST_F(DmmCounters, TransmitDataGoesDirectAndRegistersAreHooked) {
  FakeGuest a = add("a", kMacA);
  a->bring_up();
  const PortCounters& c = a.window().counters();
  const std::uint64_t hooked_before = c.total(IoPath::hooked);
  const std::uint64_t data_hooked_before =
      c.count(kDataPort, IoPath::hooked, false) + c.count(kDataPort, IoPath::hooked, true);
  ASSERT_TRUE(a->send(make_frame(kStationMac, kMacA, 1000, 7)));
  EXPECT_EQ(c.count(kDataPort, IoPath::direct, true), 500u) << "one per word of the frame";
  EXPECT_EQ(c.count(kDataPort, IoPath::direct, false), 0u);
  EXPECT_EQ(c.count(kDataPort, IoPath::hooked, false) + c.count(kDataPort, IoPath::hooked, true),
            data_hooked_before);
  EXPECT_EQ(c.total(IoPath::direct), 500u) << "nothing but the data port goes direct";
  EXPECT_GT(c.total(IoPath::hooked), hooked_before) << "the registers stay hooked";
  for (std::uint16_t port = 0; port < 0x10; ++port)
    EXPECT_EQ(c.count(port, IoPath::direct, false) + c.count(port, IoPath::direct, true), 0u)
        << "register " << port;
}

// A 16-bit read at +0x06 covers ISR (+0x07) and must see the card's remote
// DMA end as a byte read of ISR does: the monitor looks at the card for
// every read that covers ISR, whatever its width.
TEST_F(DmmTransmit, AWideReadThatCoversIsrSeesTheRemoteDmaEnd) {
  FakeGuest a = add("a", kMacA);
  a->bring_up();
  const Bytes image = FakeDriver::dma_image(make_frame(kStationMac, kMacA, 200, 3));
  a->start_frame_dma(image);
  a->write_words(image);
  std::uint8_t isr = 0;
  for (unsigned poll = 0; poll < 100 && (isr & kIsrRdc) == 0; ++poll)
    isr = static_cast<std::uint8_t>(a.window().port_read(kIsr - 1, 2) >> 8);
  EXPECT_EQ(isr & kIsrRdc, kIsrRdc) << "ISR read as the high byte of a word at +0x06";
  a->out(kIsr, kIsrRdc);
  a->start_transmit(FakeDriver::wire_bytes(make_frame(kStationMac, kMacA, 200, 3)));
  EXPECT_EQ(a->wait_for(kIsrPtx | kIsrTxe), kIsrPtx);
  EXPECT_TRUE(a.machine_checks().empty());
}

TEST_F(DmmCounters, ContextSwitchesAreCountedWhenGuestsAlternate) {
  FakeGuest a = add("a", kMacA), b = add("b", kMacB);
  a->bring_up();
  b->bring_up();
  for (FakeGuest* g : {&a, &b, &a, &b})
    ASSERT_TRUE((*g)->send(make_frame(kStationMac, g->guest->mac(), 100, 3)));
  EXPECT_EQ(monitor_->stats().context_switches, 4u);
  EXPECT_EQ(a.guest->stats().context_switches, 2u);
  EXPECT_EQ(b.guest->stats().context_switches, 2u);
}

TEST_F(DmmCounters, OneGuestSendingAgainIsNoContextSwitch) {
  FakeGuest a = add("a", kMacA), b = add("b", kMacB);
  a->bring_up();
  b->bring_up();
  for (FakeGuest* g : {&a, &a, &a, &b, &b})
    ASSERT_TRUE((*g)->send(make_frame(kStationMac, g->guest->mac(), 100, 3)));
  EXPECT_EQ(monitor_->stats().context_switches, 2u);
  EXPECT_EQ(a.guest->stats().context_switches, 1u);
  EXPECT_EQ(b.guest->stats().context_switches, 1u);
}

// ---- Receive ----

using DmmReceive = DmmTest;

TEST_F(DmmReceive, AFrameForOneGuestReachesOnlyThatGuest) {
  FakeGuest a = add("a", kMacA), b = add("b", kMacB);
  a->bring_up();
  b->bring_up();
  const Bytes frame = make_frame(kMacA, kStationMac, 100, 9);
  station_send(frame);
  EXPECT_EQ(b->receive(), std::nullopt);
  EXPECT_EQ(a->receive(), frame);
  EXPECT_EQ(a->receive(), std::nullopt);
  EXPECT_EQ(a.guest->stats().frames_received, 1u);
  EXPECT_EQ(b.guest->stats().frames_received, 0u);
}

TEST_F(DmmReceive, FramesOfEverySizeArriveIntact) {
  FakeGuest a = add("a", kMacA);
  a->bring_up();
  std::uint8_t seed = 20;
  for (const std::size_t size :
       {60u, 61u, 333u, 1513u, 1514u, 1514u, 1514u, 1514u, 1514u, 1514u, 1514u, 1514u, 1514u}) {
    const Bytes frame = make_frame(kMacA, kStationMac, size, seed++);
    station_send(frame);
    EXPECT_EQ(a->receive(), frame) << size;  // the ring wraps on the later ones
  }
}

TEST_F(DmmReceive, ABroadcastReachesEveryGuest) {
  FakeGuest a = add("a", kMacA), b = add("b", kMacB);
  a->bring_up();
  b->bring_up();
  const Bytes frame = make_frame(kBroadcast, kStationMac, 80, 4);
  station_send(frame);
  EXPECT_EQ(a->receive(), frame);
  EXPECT_EQ(b->receive(), frame);
}

TEST_F(DmmReceive, AFrameForNoGuestIsUnclaimed) {
  FakeGuest a = add("a", kMacA);
  a->bring_up();
  station_send(make_frame(kMacC, kStationMac, 80, 4));
  EXPECT_EQ(a->receive(), std::nullopt);
  EXPECT_EQ(monitor_->stats().frames_unclaimed, 1u);
}

TEST_F(DmmReceive, AFrameBetweenGuestsIsLoopedBackAndPutOnTheHub) {
  FakeGuest a = add("a", kMacA), b = add("b", kMacB);
  a->bring_up();
  b->bring_up();
  const Bytes frame = make_frame(kMacB, kMacA, 200, 5);
  ASSERT_TRUE(a->send(frame));
  EXPECT_EQ(b->receive(), frame);
  EXPECT_EQ(a->receive(), std::nullopt) << "the sender does not hear itself";
  const auto heard = station_.frames();
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(first_difference(heard[0], frame), std::nullopt);
  EXPECT_EQ(monitor_->stats().frames_looped, 1u);
}

TEST_F(DmmReceive, ABroadcastFromAGuestReachesTheOthersNotItself) {
  FakeGuest a = add("a", kMacA), b = add("b", kMacB), c = add("c", kMacC);
  a->bring_up();
  b->bring_up();
  c->bring_up();
  const Bytes frame = make_frame(kBroadcast, kMacA, 70, 6);
  ASSERT_TRUE(a->send(frame));
  EXPECT_EQ(b->receive(), frame);
  EXPECT_EQ(c->receive(), frame);
  EXPECT_EQ(a->receive(), std::nullopt);
  EXPECT_EQ(station_.frames().size(), 1u);
}

// ---- The per-guest queue ----

using DmmQueue = DmmTest;

// A guest whose card is not started misses every frame for it, as a card of
// its own would: nothing is queued for later, and the other guest is not
// affected.
TEST_F(DmmQueue, AGuestWhoseCardIsStoppedMissesFramesAndTheOtherGetsItsOwn) {
  MonitorConfig config;
  config.queue_frames = 4;
  start(config);
  FakeGuest a = add("a", kMacA), b = add("b", kMacB);
  b->bring_up();
  std::vector<Bytes> for_b;
  for (std::uint8_t i = 0; i < 10; ++i) {
    station_send(make_frame(kMacA, kStationMac, 100, i));
    if (i % 3 == 0) {
      for_b.push_back(make_frame(kMacB, kStationMac, 90, static_cast<std::uint8_t>(100 + i)));
      station_send(for_b.back());
    }
  }
  const GuestStats sa = a.guest->stats();
  EXPECT_EQ(sa.frames_missed, 10u);
  EXPECT_EQ(sa.frames_queued, 0u);
  EXPECT_EQ(sa.queue_drops, 0u);
  EXPECT_EQ(sa.frames_received, 0u);
  EXPECT_EQ(b->receive_all(), for_b);
  EXPECT_EQ(b.guest->stats().queue_drops, 0u);
}

// Frames from before the guest started its card never appear; those after
// do, in order.
TEST_F(DmmQueue, AGuestGetsOnlyTheFramesThatCameAfterItStartedItsCard) {
  MonitorConfig config;
  config.queue_frames = 4;
  start(config);
  FakeGuest a = add("a", kMacA);
  for (std::uint8_t i = 0; i < 10; ++i) station_send(make_frame(kMacA, kStationMac, 100, i));
  a->bring_up();
  std::vector<Bytes> after;
  for (std::uint8_t i = 10; i < 13; ++i) {
    after.push_back(make_frame(kMacA, kStationMac, 100, i));
    station_send(after.back());
  }
  EXPECT_EQ(a->receive_all(), after);
  EXPECT_EQ(a.guest->stats().frames_missed, 10u);
  EXPECT_EQ(a.guest->stats().frames_queued, 0u);
}

// A started guest that does not read: its ring (0x46..0x80, CURR 0x47, BNRY
// 0x46: 57 free pages, one kept short of BNRY) stores nine 1514-byte frames
// of six pages each; the next four wait in the queue; the rest are dropped.
TEST_F(DmmQueue, AGuestThatDoesNotReadFillsItsRingThenItsQueue) {
  MonitorConfig config;
  config.queue_frames = 4;
  start(config);
  FakeGuest a = add("a", kMacA), b = add("b", kMacB);
  a->bring_up();
  b->bring_up();
  std::vector<Bytes> sent, for_b;
  for (std::uint8_t i = 0; i < 16; ++i) {
    sent.push_back(make_frame(kMacA, kStationMac, 1514, i));
    station_send(sent.back());
    if (i % 5 == 0) {
      for_b.push_back(make_frame(kMacB, kStationMac, 1514, static_cast<std::uint8_t>(50 + i)));
      station_send(for_b.back());
    }
  }
  const GuestStats sa = a.guest->stats();
  EXPECT_EQ(sa.frames_received, 9u);
  EXPECT_EQ(sa.frames_queued, 4u);
  EXPECT_EQ(sa.queue_drops, 3u);
  EXPECT_EQ(b->receive_all(), for_b);
  EXPECT_EQ(b.guest->stats().queue_drops, 0u);
  // Reading frees the ring, and the queue follows in order.
  const std::vector<Bytes> first_thirteen(sent.begin(), sent.begin() + 13);
  EXPECT_EQ(a->receive_all(), first_thirteen);
  EXPECT_EQ(a.guest->stats().frames_queued, 0u);
}

// ---- Hostile guests ----

// Guest A turns hostile while guest B (whose transmit area is on the card
// right after A's) is in the middle of sending a frame.
class DmmHostile : public DmmTest {
 protected:
  void SetUp() override {
    MonitorConfig config;
    config.sharing.operation_stall_limit = std::chrono::seconds(60);  // no abort mid-test
    start(config);
    hostile_ = add("hostile", kMacA);
    good_ = add("good", kMacB);
    good_->bring_up();
    frame_ = make_frame(kStationMac, kMacB, 1200, 0x21);
    image_ = FakeDriver::dma_image(frame_);
  }
  // The good guest has started the remote write and written half the frame.
  void good_guest_writes_half() {
    good_->start_frame_dma(image_);
    good_->write_words(std::span(image_).first(image_.size() / 2));
  }
  void good_guest_writes_the_rest() {
    good_->write_words(std::span(image_).subspan(image_.size() / 2));
    ASSERT_EQ(good_->wait_for(kIsrRdc), kIsrRdc);
  }
  void good_guest_transmits() {
    good_->start_transmit(FakeDriver::wire_bytes(frame_));
    ASSERT_EQ(good_->wait_for(kIsrPtx | kIsrTxe), kIsrPtx);
  }
  // The good guest's frame went out intact, and nothing of the hostile one.
  void expect_only_the_good_frame_on_the_hub() {
    for (const auto& mc : good_.machine_checks())
      ADD_FAILURE() << "the good guest got a machine check, violation " << mc.code;
    const auto heard = station_.frames();
    ASSERT_EQ(heard.size(), 1u);
    EXPECT_EQ(first_difference(heard[0], frame_), std::nullopt) << "the good frame was corrupted";
    EXPECT_EQ(station_.frames_from(kMacA), 0u);
  }
  // The hostile guest's write did not open the data port.
  void expect_hostile_still_hooked() { EXPECT_TRUE(hostile_.window().hooked(kDataPort)); }

  FakeGuest hostile_, good_;
  Bytes frame_, image_;
};

// Issue 15: a DMA where the card has no memory (a probe's test of an
// NE1000's 0x2000) runs on the guest's own card, as on a card of its own:
// reads float, writes go nowhere, and the physical card is not involved.
TEST_F(DmmHostile, ADmaOffTheCardsMemoryStaysInItsOwnCard) {
  hostile_->bring_up();
  good_guest_writes_half();
  hostile_->start_remote(0x2000, 16, true);
  hostile_->write_words(Bytes(16, 0xee));
  EXPECT_EQ(hostile_->wait_for(kIsrRdc), kIsrRdc);
  EXPECT_EQ(hostile_->read_memory(0x2000, 16), Bytes(16, 0xff));
  EXPECT_TRUE(hostile_.machine_checks().empty());
  expect_hostile_still_hooked();
  good_guest_writes_the_rest();
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

// Issue 13's escape: a remote write of 2 bytes left unfinished keeps the data
// port direct; RBCR rewritten to 0xffff mid-DMA is refused (code 10); a
// transmit (CR 0x06: TXP with no DMA command, or 0x1e) then makes the
// monitor load the guest's card context. That load must not hand the card the
// unchecked count: the direct data port may reach only the 2 bytes validated.
class DmmEscape : public DmmHostile, public testing::WithParamInterface<std::uint8_t> {};

TEST_P(DmmEscape, AnUnfinishedDmaAndATransmitKeepTheDataPortToTheValidatedRange) {
  hostile_->bring_up();
  ASSERT_TRUE(hostile_->send(make_frame(kStationMac, kMacA, 64, 0x11)));
  good_guest_writes_half();
  good_guest_writes_the_rest();  // the good frame waits in its transmit area
  hostile_->start_remote(0x4000, 2, true);
  ASSERT_FALSE(hostile_.window().writes_hooked(kDataPort));
  hostile_->out(kRbcr0, 0xff);
  expect_machine_check(hostile_, Violation::remote_dma_reprogrammed, 0x4000, kRbcr0);
  EXPECT_TRUE(hostile_.window().hooked(kDataPort)) << "the broken DMA is taken from the guest";
  // A guest that carries on after its machine check gets nothing more:
  // no second machine check, no escape.
  hostile_->out(kRbcr1, 0xff);
  hostile_->out(kTpsr, 0x40);
  hostile_->out(kTbcr0, 64);
  hostile_->out(kTbcr1, 0);
  hostile_->out(kCr, GetParam());
  EXPECT_TRUE(hostile_.window().hooked(kDataPort)) << "the transmit left the data port direct";
  Bytes seen(16 * 1024, 0);
  hostile_.window().port_read_string(kDataPort, 2, seen);
  const Bytes needle(image_.begin() + 16, image_.begin() + 48);
  EXPECT_EQ(std::search(seen.begin(), seen.end(), needle.begin(), needle.end()), seen.end())
      << "the hostile guest read the good guest's frame from card memory";
  hostile_->write_words(Bytes(16 * 1024, 0xee));
  good_guest_transmits();
  for (const auto& mc : good_.machine_checks())
    ADD_FAILURE() << "the good guest got a machine check, violation " << mc.code;
  std::size_t good_frames = 0;
  for (const Bytes& heard : station_.frames()) {
    if (!from(heard, kMacB)) continue;
    ++good_frames;
    EXPECT_EQ(first_difference(heard, frame_), std::nullopt) << "the good frame was overwritten";
  }
  EXPECT_EQ(good_frames, 1u);
  EXPECT_EQ(hostile_.machine_checks().size(), 1u) << "one machine check for the whole attempt";
}

INSTANTIATE_TEST_SUITE_P(TransmitCommands, DmmEscape, testing::Values(0x06, 0x1e));

// A wide access that covers the reset port (outw +0x1e, outl +0x1c, inw
// +0x1e) is a reset as the byte one is: of the guest's own card only.
struct WideReset {
  std::uint16_t offset;
  unsigned size;
  bool read;
};
void PrintTo(const WideReset& w, std::ostream* out) {
  *out << (w.read ? "in" : "out") << (w.size == 2 ? 'w' : 'l') << " +0x" << std::hex << w.offset;
}
class DmmWideReset : public DmmHostile, public testing::WithParamInterface<WideReset> {};

TEST_P(DmmWideReset, LeavesAnotherGuestsTransmitAlone) {
  const WideReset access = GetParam();
  hostile_->bring_up();
  good_guest_writes_half();
  if (access.read)
    (void)hostile_.window().port_read(access.offset, access.size);
  else
    hostile_.window().port_write(access.offset, access.size, 0);
  EXPECT_TRUE(hostile_.machine_checks().empty());
  EXPECT_NE(hostile_->in(kIsr)&kIsrRst, 0) << "its own card was reset";
  good_guest_writes_the_rest();
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

// It resets the model along with the guest's own card: a DMA in the
// transmit area is then one before initialisation.
TEST_P(DmmWideReset, ResetsTheModelAndTheShadowAlike) {
  const WideReset access = GetParam();
  hostile_->bring_up();
  if (access.read)
    (void)hostile_.window().port_read(access.offset, access.size);
  else
    hostile_.window().port_write(access.offset, access.size, 0);
  EXPECT_TRUE(hostile_.machine_checks().empty());
  EXPECT_NE(hostile_->in(kIsr)&kIsrRst, 0) << "its own card was reset";
  hostile_->start_remote(0x4000, 60, true);
  expect_machine_check(hostile_, Violation::not_initialised, 0x4000, kCr);
}

INSTANTIATE_TEST_SUITE_P(Widths, DmmWideReset,
                         testing::Values(WideReset{0x1e, 2, false}, WideReset{0x1c, 4, false},
                                         WideReset{0x1e, 2, true}, WideReset{0x1c, 4, true}));

// Runts: a frame without a whole Ethernet header has no source address to
// check, so it is refused; one with a header goes out as a DP8390 sends it,
// unpadded, with its source checked.
class DmmRunt : public DmmHostile, public testing::WithParamInterface<std::uint16_t> {
 protected:
  void load_and_transmit(const Bytes& frame, std::uint16_t wire_bytes) {
    const Bytes image = FakeDriver::dma_image(frame);
    hostile_->start_frame_dma(image);
    hostile_->write_words(image);
    ASSERT_EQ(hostile_->wait_for(kIsrRdc), kIsrRdc);
    hostile_->start_transmit(wire_bytes);
  }
};

TEST_P(DmmRunt, WithoutAWholeHeaderIsRefused) {
  hostile_->bring_up();
  load_and_transmit(make_frame(kStationMac, kMacA, 60, 0x31), GetParam());
  expect_machine_check(hostile_, Violation::transmit_length, 0x4000, kCr);
  good_guest_writes_half();
  good_guest_writes_the_rest();
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

INSTANTIATE_TEST_SUITE_P(Lengths, DmmRunt, testing::Values(1, 5, 10, 13));

TEST_F(DmmRunt, WithAWholeHeaderGoesOutUnpaddedUnderItsOwnSource) {
  hostile_->bring_up();
  const Bytes frame = make_frame(kStationMac, kMacA, 60, 0x31);
  load_and_transmit(frame, 14);
  EXPECT_EQ(hostile_->wait_for(kIsrPtx | kIsrTxe), kIsrPtx);
  EXPECT_TRUE(hostile_.machine_checks().empty());
  const auto heard = station_.frames();
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(heard[0], Bytes(frame.begin(), frame.begin() + 14));
}

TEST_F(DmmRunt, WithAWholeHeaderAndAnotherSourceIsRefused) {
  hostile_->bring_up();
  load_and_transmit(make_frame(kStationMac, kMacB, 60, 0x31), 14);
  expect_machine_check(hostile_, Violation::foreign_source_address, 0x4006, kCr);
  EXPECT_TRUE(station_.frames().empty());
}

// On a card as lax as QEMU's: reads never go direct, and 32-bit writes go
// direct only where the card's overreach stays in the guest's area.
class DmmLaxCard : public DmmHostile {
 protected:
  DmmLaxCard() { lax_ = true; }
  // Whether any 32 bytes of the good guest's frame are in `seen`.
  bool holds_the_good_frame(const Bytes& seen) const {
    const Bytes needle(image_.begin() + 16, image_.begin() + 48);
    return std::search(seen.begin(), seen.end(), needle.begin(), needle.end()) != seen.end();
  }
};

TEST_F(DmmLaxCard, TheCardReallyOverreaches) {
  // The double must show the hole it stands for, or the tests below prove
  // nothing: driven directly, it reads past the count and writes 4 bytes
  // when 2 are left.
  good_guest_writes_half();
  good_guest_writes_the_rest();
  const std::pair<std::uint16_t, std::uint8_t> dma[] = {
      {kCr, kRunningPage0}, {kRbcr0, 2},    {kRbcr1, 0},
      {kRsar0, 0xfe},       {kRsar1, 0x45}, {kCr, kCrRemoteWrite | kCrStart}};
  for (const auto& [offset, value] : dma) card_.write(offset, 1, value);
  lax_card_.write(kDataPort, 4, 0xeeeeeeee);
  EXPECT_EQ(card_.chip().save().memory[0x600], 0xee) << "the write stopped at the count";
  Bytes seen(0x800);
  lax_card_.read_string(kDataPort, 2, seen);
  EXPECT_TRUE(holds_the_good_frame(seen)) << "the read stopped at the count";
}

TEST_F(DmmLaxCard, ReadsPastTheCountNeverReachTheCard) {
  hostile_->bring_up();
  const Bytes own = make_frame(kStationMac, kMacA, 64, 0x11);
  ASSERT_TRUE(hostile_->send(own));
  good_guest_writes_half();
  good_guest_writes_the_rest();
  // A finished remote write, and a read of its own transmit area, each
  // followed by 16 KiB of reads from the data port.
  hostile_->start_remote(0x4000, 2, true);
  hostile_.window().port_write(kDataPort, 2, 0x1234);
  Bytes seen(16 * 1024);
  hostile_.window().port_read_string(kDataPort, 4, seen);
  EXPECT_FALSE(holds_the_good_frame(seen)) << "after a remote write";
  hostile_->start_remote(0x4000, 64, false);
  hostile_.window().port_read_string(kDataPort, 2, seen);
  EXPECT_EQ(Bytes(seen.begin() + 2, seen.begin() + 64), Bytes(own.begin() + 2, own.begin() + 64))
      << "a read of its transmit area gives what it wrote there";
  EXPECT_EQ(seen[0], 0x34);
  EXPECT_FALSE(holds_the_good_frame(seen)) << "after a read of its transmit area";
  EXPECT_TRUE(hostile_.machine_checks().empty());
  good_guest_transmits();
  const auto heard = station_.frames();
  ASSERT_EQ(heard.size(), 2u) << "its own frame and the good one";
  EXPECT_EQ(first_difference(heard[1], frame_), std::nullopt);
}

TEST_F(DmmLaxCard, ThirtyTwoBitWritesAtTheAreaEndAreSplitIntoTheCardsTransfers) {
  hostile_->bring_up();
  good_guest_writes_half();
  good_guest_writes_the_rest();
  hostile_->start_remote(0x45fe, 2, true);
  EXPECT_FALSE(hostile_.window().writes_hooked(kDataPort)) << "word writes still go direct";
  hostile_.window().port_write(kDataPort, 4, 0xeeeeeeee);
  hostile_.window().port_write_string(kDataPort, 4, Bytes(64, 0xee));
  EXPECT_TRUE(hostile_.machine_checks().empty()) << "a DMA that fits is never refused";
  EXPECT_EQ(hostile_->wait_for(kIsrRdc), kIsrRdc);
  EXPECT_EQ(hostile_->read_memory(0x45fe, 2), Bytes(2, 0xee));
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

TEST_F(DmmHostile, ByteCountPastTheTransmitArea) {
  hostile_->bring_up();
  good_guest_writes_half();
  hostile_->start_remote(0x4000, 0x700, true);
  expect_machine_check(hostile_, Violation::remote_dma_outside_share, 0x4600, kCr);
  expect_hostile_still_hooked();
  hostile_->write_words(Bytes(0x700, 0xee));  // would land in the good guest's area
  good_guest_writes_the_rest();
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

// Pages of a guest's own card past its transmit area are its shadow's, not
// the card's (there the card holds the next guest's area): a transmit from
// them sends the guest's own bytes, copied onto its area on the card, never
// its neighbour's, and is no violation (issue 15: lib8390's second buffer).
TEST_F(DmmHostile, TransmitFromPagesPastItsAreaSendsItsOwnBytesNotTheNeighbours) {
  hostile_->bring_up();
  good_guest_writes_half();
  good_guest_writes_the_rest();  // on the card, right after the hostile guest's area
  const Bytes own = make_frame(kStationMac, kMacA, 300, 0x5a);
  const Bytes own_image = FakeDriver::dma_image(own);
  hostile_->start_remote(0x4600, static_cast<std::uint16_t>(own_image.size()), true);
  hostile_->write_words(own_image);
  ASSERT_EQ(hostile_->wait_for(kIsrRdc), kIsrRdc);
  hostile_->start_transmit(FakeDriver::wire_bytes(own), 0x46);
  ASSERT_EQ(hostile_->wait_for(kIsrPtx | kIsrTxe), kIsrPtx);
  EXPECT_TRUE(hostile_.machine_checks().empty());
  good_guest_transmits();
  for (const auto& mc : good_.machine_checks())
    ADD_FAILURE() << "the good guest got a machine check, violation " << mc.code;
  const auto heard = station_.frames();
  ASSERT_EQ(heard.size(), 2u);
  EXPECT_EQ(first_difference(heard[0], own), std::nullopt) << "the copied frame";
  EXPECT_EQ(first_difference(heard[1], frame_), std::nullopt) << "the good frame was corrupted";
}

// A transmit from pages of its own card that are not on the card sends the
// guest's own bytes, and must still name the guest as their source.
TEST_F(DmmHostile, ACopiedTransmitIsCheckedForItsSourceToo) {
  hostile_->bring_up();
  const Bytes forged = make_frame(kStationMac, kMacB, 300, 0x5a);  // the good guest's MAC
  const Bytes image = FakeDriver::dma_image(forged);
  hostile_->start_remote(0x4600, static_cast<std::uint16_t>(image.size()), true);
  hostile_->write_words(image);
  ASSERT_EQ(hostile_->wait_for(kIsrRdc), kIsrRdc);
  hostile_->start_transmit(FakeDriver::wire_bytes(forged), 0x46);
  expect_machine_check(hostile_, Violation::foreign_source_address, 0x4606, kCr);
  good_guest_writes_half();
  good_guest_writes_the_rest();
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

TEST_F(DmmHostile, TransmitPastTheEndOfMemory) {
  hostile_->bring_up();
  good_guest_writes_half();
  hostile_->start_transmit(1514, 0x7f);
  expect_machine_check(hostile_, Violation::transmit_outside_share, 0x7f00, kCr);
  good_guest_writes_the_rest();
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

TEST_F(DmmHostile, TransmitOfAnImpossibleLength) {
  hostile_->bring_up();
  good_guest_writes_half();
  hostile_->start_transmit(2000);
  expect_machine_check(hostile_, Violation::transmit_length, 0x4000, kCr);
  good_guest_writes_the_rest();
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

// Issue 15: the ring's pointers reach the guest's own card only, whatever
// their values; the card runs the monitor's ring.
TEST_F(DmmHostile, RingPointersOfAnyValueStayInItsOwnCard) {
  hostile_->bring_up();
  const devices::Ne2000State card_before = card_.chip().save();
  good_guest_writes_half();
  hostile_->out(kPstop, 0x90);
  EXPECT_EQ(hostile_->read_page2(kPstop), 0x90) << "its own card takes the value";
  hostile_->out(kPstart, 0x20);
  hostile_->out(kBnry, 0xff);
  hostile_->out(kPstop, kRxStart);
  hostile_->out(kPstart, 0x60);
  hostile_->out(kCr, kRunningPage1);
  hostile_->out(kCurr, 0x90);
  hostile_->out(kCr, kRunningPage0);
  EXPECT_TRUE(hostile_.machine_checks().empty());
  const devices::Ne2000State card = card_.chip().save();
  EXPECT_EQ(card.page_start, card_before.page_start) << "the card's ring moved";
  EXPECT_EQ(card.page_stop, card_before.page_stop) << "the card's ring moved";
  good_guest_writes_the_rest();
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
  const Bytes to_good = make_frame(kMacB, kStationMac, 300, 0x44);
  station_send(to_good);
  EXPECT_EQ(good_->receive(), to_good);
}

// Issue 15: a guest's reset never reaches the card, so another guest's
// transmit in flight is left alone.
TEST_F(DmmHostile, AResetLeavesAnotherGuestsTransmitAlone) {
  hostile_->bring_up();
  good_guest_writes_half();
  hostile_->out(kResetPort, 0);
  EXPECT_TRUE(hostile_.machine_checks().empty());
  EXPECT_NE(hostile_->in(kIsr)&kIsrRst, 0) << "its own card was reset";
  good_guest_writes_the_rest();
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

// A guest that resets in the middle of loading its own frame loses that
// frame and nothing else: its DMA ends (one DMA runs on the card at a time,
// so the other guest's waits for it), the data port is hooked again, and
// what it sends after reinitialising goes out intact.
TEST_F(DmmHostile, AResetMidItsOwnDmaLosesOnlyItsOwnFrame) {
  hostile_->bring_up();
  const Bytes lost = make_frame(kStationMac, kMacA, 1000, 0x61);
  const Bytes lost_image = FakeDriver::dma_image(lost);
  hostile_->start_frame_dma(lost_image);
  hostile_->write_words(std::span(lost_image).first(400));
  ASSERT_FALSE(hostile_.window().writes_hooked(kDataPort));
  hostile_->out(kResetPort, hostile_->in(kResetPort));
  EXPECT_TRUE(hostile_.window().hooked(kDataPort)) << "its DMA outlived the reset";
  hostile_->write_words(std::span(lost_image).subspan(400));  // reaches its own card only
  // The card is free at once: the good guest's DMA does not wait for the
  // stall limit.
  good_guest_writes_half();
  good_guest_writes_the_rest();
  good_guest_transmits();
  hostile_->bring_up();
  const Bytes after = make_frame(kStationMac, kMacA, 200, 0x62);
  ASSERT_TRUE(hostile_->send(after));
  EXPECT_TRUE(hostile_.machine_checks().empty());
  EXPECT_TRUE(good_.machine_checks().empty());
  const auto heard = station_.frames();
  ASSERT_EQ(heard.size(), 2u);
  EXPECT_EQ(first_difference(heard[0], frame_), std::nullopt);
  EXPECT_EQ(first_difference(heard[1], after), std::nullopt);
}

TEST_F(DmmHostile, AResetBeforeInitialisationIsHarmless) {
  good_guest_writes_half();
  hostile_->out(kResetPort, hostile_->in(kResetPort));
  EXPECT_TRUE(hostile_.machine_checks().empty());
  EXPECT_NE(hostile_->in(kIsr)&kIsrRst, 0) << "its own card was reset";
  good_guest_writes_the_rest();
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

TEST_F(DmmHostile, CardDmaBeforeInitialisation) {
  good_guest_writes_half();
  hostile_->start_remote(0x4000, 60, true);
  expect_machine_check(hostile_, Violation::not_initialised, 0x4000, kCr);
  expect_hostile_still_hooked();
  good_guest_writes_the_rest();
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

TEST_F(DmmHostile, TransmitBeforeInitialisation) {
  good_guest_writes_half();
  hostile_->start_transmit(60);
  expect_machine_check(hostile_, Violation::not_initialised, 0x4000, kCr);
  good_guest_writes_the_rest();
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

// The forged frame needs the card for its own DMA, so the good guest is
// between its DMA and its transmit: its frame waits on the card.
TEST_F(DmmHostile, TransmitWithAnotherStationsSourceAddress) {
  hostile_->bring_up();
  good_guest_writes_half();
  good_guest_writes_the_rest();
  const Bytes forged = make_frame(kStationMac, kMacB, 100, 0x5a);
  EXPECT_FALSE(hostile_->send(forged));
  expect_machine_check(hostile_, Violation::foreign_source_address, 0x4006, kCr);
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
  EXPECT_EQ(hostile_.guest->stats().frames_sent, 0u);
}

TEST_F(DmmHostile, CardDmaWrappingAtAPstopInsideItsTransmitArea) {
  // Regression test: the model once got this wrong (devices/ne2000/ne2000_model.cpp,
  // classify_remote_dma).
  hostile_->bring_up();
  good_guest_writes_half();
  good_guest_writes_the_rest();
  hostile_->out(kPstart, 0x40);
  hostile_->out(kPstop, 0x46);
  ASSERT_TRUE(hostile_.machine_checks().empty()) << "the ring itself is in memory";
  hostile_->start_remote(0x4000, 0x700, true);
  hostile_->write_words(Bytes(0x700, 0xee));
  hostile_->wait_for(kIsrRdc);
  const auto checks = hostile_.machine_checks();
  EXPECT_EQ(checks.size(), 1u) << "the hostile DMA was not refused";
  if (!checks.empty()) {
    EXPECT_EQ(checks[0].code, static_cast<std::uint16_t>(Violation::remote_dma_outside_share));
  }
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

TEST_F(DmmHostile, WordModeDmaWhoseLastWordCrossesIntoTheNextArea) {
  // Regression test: the model once got this wrong (devices/ne2000/ne2000_model.cpp,
  // classify_remote_dma).
  hostile_->bring_up();
  good_guest_writes_half();
  good_guest_writes_the_rest();
  hostile_->start_remote(0x45ff, 1, true);
  hostile_.window().port_write(kDataPort, 2, 0xeeee);
  hostile_->wait_for(kIsrRdc);
  const auto checks = hostile_.machine_checks();
  EXPECT_EQ(checks.size(), 1u) << "the hostile DMA was not refused";
  if (!checks.empty()) {
    EXPECT_EQ(checks[0].code, static_cast<std::uint16_t>(Violation::remote_dma_outside_share));
  }
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

// ---- The card's memory between guests ----

// Each transmit area holds a maximal frame, and the ring keeps 12 pages.
TEST_F(DmmTest, TheTransmitAreasLeaveTheRingItsPages) {
  MonitorConfig config;
  config.tx_pages = 5;
  EXPECT_THROW(start(config), std::invalid_argument) << "no room for a maximal frame";
  config.tx_pages = 12;
  config.max_guests = 5;
  EXPECT_THROW(start(config), std::invalid_argument) << "60 pages leave a ring of 4";
  config.max_guests = 4;
  start(config);
  FakeGuest a = add("a", kMacA);
  EXPECT_EQ(a.guest->layout().tx_pages, 12);
  EXPECT_EQ(a.guest->layout().card_tx_page, 0x40);
  EXPECT_EQ(add("b", kMacB).guest->layout().card_tx_page, 0x4c);
  EXPECT_EQ(card_.chip().save().page_start, 0x70) << "the monitor's ring after four areas";
}

// ---- A stalled remote DMA ----

class DmmStall : public DmmTest {
 protected:
  void SetUp() override {
    MonitorConfig config;
    config.sharing.operation_stall_limit = std::chrono::milliseconds(50);
    start(config);
    staller_ = add("staller", kMacA);
    good_ = add("good", kMacB);
    staller_->bring_up();
    good_->bring_up();
    // Starts a remote write of a frame into its transmit area, writes ten
    // words, and never finishes.
    staller_->start_frame_dma(Bytes(200));
    staller_->write_words(Bytes(20, 0x77));
  }
  FakeGuest staller_, good_;
};

TEST_F(DmmStall, AnotherGuestsTransmitGoesThroughAfterTheLimit) {
  const Bytes frame = make_frame(kStationMac, kMacB, 300, 0x42);
  ASSERT_TRUE(good_->send(frame));
  const auto heard = station_.frames();
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(first_difference(heard[0], frame), std::nullopt);
  EXPECT_TRUE(good_.machine_checks().empty());
}

TEST_F(DmmStall, TheStallerGetsAMachineCheckAndLosesTheCard) {
  ASSERT_TRUE(good_->send(make_frame(kStationMac, kMacB, 300, 0x42)));
  expect_machine_check(staller_, Violation::remote_dma_stalled, 0x4000, kCr);
  EXPECT_TRUE(staller_.window().hooked(kDataPort));
  const std::uint64_t direct = staller_.window().counters().total(IoPath::direct);
  staller_->write_words(Bytes(20, 0x77));
  EXPECT_EQ(staller_.window().counters().total(IoPath::direct), direct)
      << "the rest of the stalled DMA reached the card";
}

}  // namespace
}  // namespace vpio::devices

// Conformance of the VPIO model and monitor with stock NE2000 drivers (issue
// 15): the register sequences of each driver, read from its source and
// replayed by a class named after it whose methods mirror its functions,
// against vpio's chip shared by two guests through the monitor. The other
// guest runs the project's own driver (FakeDriver) with traffic of its own,
// from a thread of its own where the stock driver needs the card, and
// half-way through a frame where it does not. Each test ends with no
// machine check for either guest, the stock guest's frames on the wire byte
// for byte under its MAC, every frame sent to it received intact, and no
// complaint from the driver itself (its printk and printf warnings).
//
// The replays are in tests/support/stock_drivers/, from these sources:
//  - Linux 6.1, drivers/net/ethernet/8390/: lib8390.c (NS8390_init, ei_open,
//    ei_start_xmit, NS8390_trigger_send, ei_interrupt, ei_tx_intr,
//    ei_tx_err, ei_receive, ei_rx_overrun, ei_tx_timeout, ei_get_stats,
//    do_set_multicast_list), ne2k-pci.c (ne2k_pci_init_one and its hooks),
//    ne.c (ne_probe1 and its hooks, NE_RW_BUGFIX);
//  - FreeBSD sys/dev/ed/: if_ed_novell.c (ed_probe_Novell_generic,
//    ed_Novell_read_mac), if_ed.c (ed_probe_generic8390, ed_stop, ed_init,
//    ed_setrcr, ed_start, ed_xmit, edintr, ed_rint, ed_get_packet,
//    ed_ring_copy, ed_pio_readmem, ed_pio_writemem, ed_pio_write_mbufs,
//    ed_reset, ed_watchdog);
//  - iPXE src/drivers/net/ns8390.c (eth_probe's NE path, ns8390_reset,
//    enable_multicast, eth_pio_read, eth_pio_write, ns8390_transmit,
//    ns8390_poll, eth_rx_overrun).
// A timer's or the kernel's call of a driver's handler is the test's call of
// that method.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/dmm_fixture.hpp"
#include "tests/support/stock_drivers/freebsd_ed.hpp"
#include "tests/support/stock_drivers/ipxe_ns8390.hpp"
#include "tests/support/stock_drivers/linux_8390.hpp"

namespace vpio::devices {
namespace {

using namespace devices::ne2000;
using namespace testing_support;

Mac mac_of(const hw::MacAddress& mac) { return mac.bytes; }

// ---- The card the stock driver shares ----

// Frame sizes that cover words, pages and the ring's arithmetic: a minimal
// frame, odd ones, a frame one byte short of and one at a page (with the
// ring's header and FCS), and maximal ones.
constexpr std::size_t kSizes[] = {60, 61, 64, 99, 247, 248, 503, 1000, 1513, 1514};

// A card shared by two guests, each with two buffers' pages: the stock
// driver's (MAC a, at 0x300) and the project's own driver's (MAC b, at
// 0x320), which sends frames of its own beside it.
class DriverConformance : public DmmTest {
 protected:
  void SetUp() override {
    MonitorConfig config;
    config.max_guests = sharers_;
    config.tx_pages = static_cast<std::uint8_t>(default_tx_pages(config.max_guests));
    start(config);
    stock_ = add("stock", kMacA, [this] { irq_raised_.store(true); });
    other_ = add("other", kMacB);
    other_->bring_up();
  }
  // The monitor stops calling into the guests (the stock guest's line is
  // this fixture's) before they go.
  void TearDown() override {
    stop_other_traffic();
    monitor_->stop();
  }

  // How many guests the card is shared by: its transmit areas follow.
  unsigned sharers_ = 2;

  // Whether the stock guest's card raised its interrupt line since the
  // last call.
  bool irq_raised() { return irq_raised_.exchange(false); }

  // The other guest sends frames to the station from a thread of its own,
  // as a guest on its own vCPU, until the stock driver's scenario is over
  // (and at least a few): the card goes back and forth between them.
  void start_other_traffic() {
    stop_other_traffic();
    other_stop_.store(false);
    other_thread_ = std::thread([this] {
      for (std::size_t i = 0; i < kMaxOtherFrames && (i < kMinOtherFrames || !other_stop_.load());
           ++i) {
        const Bytes f = make_frame(kStationMac, kMacB, 60 + (i * 211) % 1455,
                                   static_cast<std::uint8_t>(0x80 + i));
        other_sent_.push_back(f);
        if (!other_->send(f)) other_failures_.fetch_add(1);
      }
    });
  }
  void stop_other_traffic() {
    other_stop_.store(true);
    if (other_thread_.joinable()) other_thread_.join();
  }
  static constexpr std::size_t kMinOtherFrames = 8, kMaxOtherFrames = 5000;

  // The other guest half-way through loading a frame: its remote write runs
  // on the card, its data port direct. Only what needs no card DMA can run
  // beside it on one thread (the stock guest's would wait for it).
  void other_starts_a_frame() {
    ASSERT_FALSE(other_thread_.joinable()) << "the other guest's thread runs";
    other_sent_.push_back(
        make_frame(kStationMac, kMacB, 1200, static_cast<std::uint8_t>(0x40 + other_sent_.size())));
    other_image_ = FakeDriver::dma_image(other_sent_.back());
    other_->start_frame_dma(other_image_);
    other_->write_words(std::span(other_image_).first(other_image_.size() / 2));
    ASSERT_FALSE(other_.window().writes_hooked(kDataPort)) << "the other guest's DMA is not direct";
  }
  void other_finishes_its_frame() {
    other_->write_words(std::span(other_image_).subspan(other_image_.size() / 2));
    ASSERT_EQ(other_->wait_for(kIsrRdc), kIsrRdc);
    other_->start_transmit(FakeDriver::wire_bytes(other_sent_.back()));
    ASSERT_EQ(other_->wait_for(kIsrPtx | kIsrTxe), kIsrPtx);
  }

  // A frame from the station to the stock guest (or to everyone), queued
  // for it by the monitor; the broadcasts reach the other guest as well.
  void send_to_stock(std::size_t size, std::uint8_t seed, bool broadcast = false) {
    const Bytes f = make_frame(broadcast ? kBroadcast : kMacA, kStationMac, size, seed);
    stock_expected_.push_back(f);
    if (broadcast) other_expected_.push_back(f);
    station_send(f);
  }
  void send_to_other(std::size_t size, std::uint8_t seed) {
    other_expected_.push_back(make_frame(kMacB, kStationMac, size, seed));
    station_send(other_expected_.back());
  }

  // The end of every test: no machine check for either guest, no complaint
  // from the driver but those expected, each guest's frames on the wire
  // byte for byte and in order under its own MAC, and each guest given
  // exactly the frames sent to it.
  void expect_clean(const PortIo& driver, const std::vector<Bytes>& stock_wire,
                    const std::vector<Bytes>& stock_received,
                    const std::vector<std::string>& complaints = {}) {
    stop_other_traffic();
    for (const FakeGuest* g : {&stock_, &other_})
      for (const auto& mc : g->machine_checks())
        ADD_FAILURE() << g->guest->name() << " got a machine check: "
                      << devices::violation_name(
                             static_cast<devices::Violation>(mc.code))
                      << std::hex << " at 0x" << mc.address << ", window offset 0x"
                      << mc.window_offset;
    EXPECT_EQ(driver.complaints(), complaints);
    EXPECT_EQ(other_failures_.load(), 0u) << "the other guest's sends failed";
    std::vector<Bytes> stock_heard, other_heard;
    for (const Bytes& f : station_.frames()) {
      if (from(f, kMacA))
        stock_heard.push_back(f);
      else if (from(f, kMacB))
        other_heard.push_back(f);
      else
        ADD_FAILURE() << "a frame on the wire from neither guest";
    }
    expect_frames("the stock guest's on the wire", stock_heard, stock_wire);
    std::vector<Bytes> other_wire;
    for (const Bytes& f : other_sent_) other_wire.push_back(padded(f, kEthZlen));
    expect_frames("the other guest's on the wire", other_heard, other_wire);
    expect_frames("received by the stock guest", stock_received, stock_expected_);
    expect_frames("received by the other guest", other_->receive_all(), other_expected_);
  }
  static void expect_frames(const std::string& what, const std::vector<Bytes>& got,
                            const std::vector<Bytes>& wanted) {
    ASSERT_EQ(got.size(), wanted.size()) << what;
    for (std::size_t i = 0; i < got.size(); ++i)
      EXPECT_EQ(first_difference(got[i], wanted[i]), std::nullopt) << what << ", frame " << i;
  }

  FakeGuest stock_, other_;
  std::atomic<bool> irq_raised_{false};
  std::thread other_thread_;
  std::atomic<bool> other_stop_{false};
  std::vector<Bytes> other_sent_;  // in the order it sends them (by one thread at a time)
  Bytes other_image_;
  std::atomic<unsigned> other_failures_{0};
  std::vector<Bytes> stock_expected_, other_expected_;  // sent to each by the station
};

// ---- Linux ----

class LinuxConformance : public DriverConformance {
 protected:
  // The kernel runs the handler while the card's line is up (ne2k-pci's
  // INTx is level-triggered); with nothing pending it finds ISR clear.
  void service(Lib8390& nic) {
    for (unsigned round = 0; round < kDriverPolls; ++round) {
      nic.ei_interrupt();
      if (!irq_raised()) return;
    }
    ADD_FAILURE() << "the card's line never settled";
  }

  // dev_queue_xmit: a frame for ei_start_xmit once the queue runs, and
  // what goes on the wire for it (padded to ETH_ZLEN by lib8390).
  void xmit(Lib8390& nic, const Bytes& frame) {
    for (unsigned round = 0; nic.queue_stopped() && round < kDriverPolls; ++round) service(nic);
    ASSERT_TRUE(nic.ei_start_xmit(frame)) << "NETDEV_TX_BUSY";
    wire_.push_back(padded(frame, kEthZlen));
  }

  // Frames out (two at a time now and then, so that both buffers fill) and
  // in, beside the other guest's traffic; the receive ring wraps.
  void exchange(Lib8390& nic, std::uint8_t seed) {
    for (std::size_t i = 0; i < std::size(kSizes); ++i) {
      xmit(nic, make_frame(kStationMac, kMacA, kSizes[i], static_cast<std::uint8_t>(seed + i)));
      // Now and then the next frame comes before the interrupt for this one:
      // it goes into the second buffer and out at the interrupt.
      if (i % 3 == 1) continue;
      send_to_stock(kSizes[(i + 3) % std::size(kSizes)], static_cast<std::uint8_t>(seed + 0x40 + i),
                    i == 4);
      service(nic);
    }
    for (unsigned n = 0; n < 10; ++n) {  // 60 pages: round the ring of 52
      send_to_stock(1514, static_cast<std::uint8_t>(seed + 0x60 + n));
      service(nic);
    }
    send_to_other(300, static_cast<std::uint8_t>(seed + 0x70));
    service(nic);
  }

  std::vector<Bytes> wire_;  // the stock guest's frames as the wire must carry them
};

struct Ne2kPciVariant {
  const char* name;
  int flags;
};
void PrintTo(const Ne2kPciVariant& v, std::ostream* out) { *out << v.name; }

class LinuxNe2kPciConformance : public LinuxConformance,
                                public testing::WithParamInterface<Ne2kPciVariant> {};

// ne2k_pci_init_one reads the PROM by remote DMA with the card started,
// while the other guest's remote write runs on the card; ei_open; frames
// out through both of lib8390's buffers and in across the ring's wrap,
// beside the other guest's stream.
TEST_P(LinuxNe2kPciConformance, ProbesOpensAndExchangesFramesThroughBothBuffers) {
  LinuxNe2kPci nic(stock_.window(), GetParam().flags);
  other_starts_a_frame();
  ASSERT_TRUE(nic.ne2k_pci_init_one());
  other_finishes_its_frame();
  EXPECT_EQ(nic.dev_addr(), mac_of(kMacA));
  nic.ne2k_pci_open();
  start_other_traffic();
  exchange(nic, 0x10);
  EXPECT_GT(nic.sends_from(LinuxNe2kPci::kStartPage), 0u);
  EXPECT_GT(nic.sends_from(LinuxNe2kPci::kStartPage + Lib8390::kTxPages / 2), 0u)
      << "the second buffer was never used";
  EXPECT_EQ(nic.ei_get_stats().tx_packets, std::size(kSizes));
  expect_clean(nic, wire_, nic.received());
}

INSTANTIATE_TEST_SUITE_P(
    Clones, LinuxNe2kPciConformance,
    testing::Values(Ne2kPciVariant{"Rtl8029ThirtyTwoBit", LinuxNe2kPci::kRealtekFdx},
                    Ne2kPciVariant{"Rtl8029FullDuplex",
                                   LinuxNe2kPci::kRealtekFdx | LinuxNe2kPci::kForceFdx},
                    Ne2kPciVariant{"SixteenBitClone", LinuxNe2kPci::kOnly16BitIo}),
    [](const testing::TestParamInfo<Ne2kPciVariant>& param_info) { return param_info.param.name; });

// With 5 to 8 guests the card gives each one frame's area (6 pages):
// lib8390's second buffer (0x46) is in pages of the guest's own card that
// are not on the card, and its frames go out as copies (issue 15).
class LinuxNe2kPciEightGuests : public LinuxConformance {
 protected:
  void SetUp() override {
    sharers_ = 8;
    LinuxConformance::SetUp();
  }
};

TEST_F(LinuxNe2kPciEightGuests, BothBuffersWorkWhereTheCardHoldsOneFramePerGuest) {
  ASSERT_EQ(stock_.guest->layout().tx_pages, 6) << "the area this test is about";
  LinuxNe2kPci nic(stock_.window(), LinuxNe2kPci::kRealtekFdx);
  ASSERT_TRUE(nic.ne2k_pci_init_one());
  nic.ne2k_pci_open();
  start_other_traffic();
  exchange(nic, 0x30);
  EXPECT_GT(nic.sends_from(LinuxNe2kPci::kStartPage), 0u);
  EXPECT_GT(nic.sends_from(LinuxNe2kPci::kStartPage + Lib8390::kTxPages / 2), 0u)
      << "the second buffer was never used";
  EXPECT_EQ(nic.ei_get_stats().tx_packets, std::size(kSizes));
  expect_clean(nic, wire_, nic.received());
}

using LinuxNe2kPciRecovery = LinuxConformance;

// The recoveries, each while the other guest is half-way through a frame:
// ei_tx_timeout (a reset and NS8390_init), ei_rx_overrun (stop, clear RBCR,
// loopback, empty the ring, restart); then a remote write that hangs, whose
// RDC timeout in ne2k_pci_block_output resets and reinitialises the card
// and sends what its buffer holds: the first bytes of the new frame and the
// rest of the last one from that buffer, its own. The counters, a close and
// an open, and traffic again.
TEST_F(LinuxNe2kPciRecovery, RecoversMidTrafficWithoutTouchingTheOtherGuest) {
  LinuxNe2kPci nic(stock_.window(), LinuxNe2kPci::kRealtekFdx);
  ASSERT_TRUE(nic.ne2k_pci_init_one());
  nic.ne2k_pci_open();
  for (std::uint8_t i = 0; i < 3; ++i) {
    xmit(nic, make_frame(kStationMac, kMacA, 200 + 100 * i, i));
    service(nic);
  }

  other_starts_a_frame();
  nic.ei_tx_timeout();
  other_finishes_its_frame();
  xmit(nic, make_frame(kStationMac, kMacA, 700, 0x21));
  service(nic);

  for (std::uint8_t i = 0; i < 3; ++i)
    send_to_stock(400 + 300 * i, static_cast<std::uint8_t>(0x30 + i));
  other_starts_a_frame();
  nic.ei_rx_overrun();  // as ei_interrupt does on ENISR_OVER
  other_finishes_its_frame();
  EXPECT_EQ(nic.received().size(), 3u) << "ei_rx_overrun's ei_receive emptied the ring";

  const Bytes last = make_frame(kStationMac, kMacA, 1400, 0x41);
  xmit(nic, last);
  service(nic);
  const Bytes hung = make_frame(kStationMac, kMacA, 1000, 0x42);
  constexpr std::size_t kTaken = 400;
  nic.stall_next_block_output_after(kTaken);
  ASSERT_TRUE(nic.ei_start_xmit(hung));
  Bytes on_wire(last.begin(), last.begin() + static_cast<std::ptrdiff_t>(hung.size()));
  std::copy_n(hung.begin(), kTaken, on_wire.begin());
  wire_.push_back(on_wire);
  service(nic);

  (void)nic.ei_get_stats();
  nic.ei_close();
  nic.ne2k_pci_open();
  start_other_traffic();
  exchange(nic, 0x50);
  expect_clean(nic, wire_, nic.received(), {"timeout waiting for Tx RDC."});
}

// ---- Linux: ne.c ----

struct NeVariant {
  const char* name;
  bool rw_bugfix;
  unsigned irq;  // 0: autoirq
};
void PrintTo(const NeVariant& v, std::ostream* out) { *out << v.name; }

class LinuxNeConformance : public LinuxConformance,
                           public testing::WithParamInterface<NeVariant> {};

// ne_probe1 reads the PROM in byte mode (and finds it doubled: a 16-bit
// card), then with autoirq triggers a DMA of nothing to see the line rise;
// with NE_RW_BUGFIX every ne_block_output first starts a dummy remote read
// at 0x0042. A watchdog reset mid-way through the other guest's frame.
TEST_P(LinuxNeConformance, ProbesOpensExchangesAndResets) {
  LinuxNe nic(stock_.window(), GetParam().rw_bugfix, [this] { return irq_raised(); });
  other_starts_a_frame();
  const std::optional<unsigned> irq = nic.ne_probe1(GetParam().irq);
  other_finishes_its_frame();
  ASSERT_TRUE(irq);
  EXPECT_EQ(*irq, GetParam().irq == 0 ? LinuxNe::kAutoIrqLine : GetParam().irq);
  EXPECT_EQ(nic.dev_addr(), mac_of(kMacA));
  nic.ei_open();
  start_other_traffic();
  exchange(nic, 0x20);
  stop_other_traffic();
  other_starts_a_frame();
  nic.ei_tx_timeout();
  other_finishes_its_frame();
  xmit(nic, make_frame(kStationMac, kMacA, 1514, 0x77));
  service(nic);
  expect_clean(nic, wire_, nic.received());
}

INSTANTIATE_TEST_SUITE_P(Builds, LinuxNeConformance,
                         testing::Values(NeVariant{"IrqGiven", false, 9},
                                         NeVariant{"AutoIrq", false, 0},
                                         NeVariant{"RwBugfix", true, 9}),
                         [](const testing::TestParamInfo<NeVariant>& param_info) {
                           return param_info.param.name;
                         });

// ---- FreeBSD ----

class FreeBsdEdConformance : public DriverConformance {
 protected:
  void service(FreeBsdEd& ed) {
    for (unsigned round = 0; round < kDriverPolls; ++round) {
      ed.edintr();
      if (!irq_raised()) return;
    }
    ADD_FAILURE() << "the card's line never settled";
  }
  // The stack's mbuf chain: a header mbuf and the payload in pieces of odd
  // lengths, so that ed_pio_write_mbufs joins bytes across them.
  static FreeBsdEd::Mbufs mbufs(const Bytes& frame) {
    FreeBsdEd::Mbufs chain;
    std::size_t at = 0;
    for (const std::size_t piece : {std::size_t{14}, std::size_t{33}, std::size_t{101}}) {
      if (at >= frame.size()) break;
      const std::size_t n = std::min(piece, frame.size() - at);
      chain.emplace_back(frame.begin() + static_cast<std::ptrdiff_t>(at),
                         frame.begin() + static_cast<std::ptrdiff_t>(at + n));
      at += n;
    }
    if (at < frame.size())
      chain.emplace_back(frame.begin() + static_cast<std::ptrdiff_t>(at), frame.end());
    return chain;
  }
  void output(FreeBsdEd& ed, const Bytes& frame) {
    ed.output(mbufs(frame));
    wire_.push_back(frame);
  }
  std::vector<Bytes> wire_;
};

// ed_probe_Novell_generic writes and reads back its test pattern at 8 KiB
// in byte mode (no memory there: an NE2000) and at 16 KiB in word mode,
// with the card started and its ring where an NE1000's would be; then the
// PROM, ed_attach (ed_stop), and up (ed_init, ed_setrcr). Frames out through
// both of its buffers and in across the ring's wrap beside the other
// guest's stream; a short frame padded by its buffer's earlier contents,
// its own; the watchdog's ed_reset mid-way through the other guest's frame;
// promiscuous mode switched on (ed_setrcr stops and restarts the card).
TEST_F(FreeBsdEdConformance, ProbesAttachesExchangesAndResets) {
  FreeBsdEd ed(stock_.window());
  start_other_traffic();
  ASSERT_TRUE(ed.ed_probe_novell_generic());
  ed.ed_novell_read_mac();
  EXPECT_EQ(ed.enaddr(), mac_of(kMacA));
  ed.ed_attach();
  ed.ifconfig_up();
  for (std::size_t i = 0; i < std::size(kSizes); ++i) {
    output(ed, make_frame(kStationMac, kMacA, kSizes[i], static_cast<std::uint8_t>(0x10 + i)));
    if (i % 3 == 1) continue;  // the next one waits in the second buffer
    send_to_stock(1514 - kSizes[i] + 60, static_cast<std::uint8_t>(0x50 + i), i == 4);
    service(ed);
  }
  for (unsigned n = 0; n < 10; ++n) {
    send_to_stock(1514, static_cast<std::uint8_t>(0x60 + n));
    service(ed);
  }
  stop_other_traffic();

  other_starts_a_frame();
  ed.ed_watchdog();
  other_finishes_its_frame();
  // Fresh from ed_init: buffer 0, buffer 1, buffer 0 again. The short
  // frame goes out as 60 bytes, the last of them the first frame's.
  const Bytes first = make_frame(kStationMac, kMacA, 900, 0x51);
  output(ed, first);
  service(ed);
  output(ed, make_frame(kStationMac, kMacA, 800, 0x52));
  service(ed);
  const Bytes shorter = make_frame(kStationMac, kMacA, 42, 0x53);
  ed.output(mbufs(shorter));
  Bytes on_wire(first.begin(), first.begin() + kEthZlen);
  std::copy(shorter.begin(), shorter.end(), on_wire.begin());
  wire_.push_back(on_wire);
  service(ed);

  other_starts_a_frame();
  ed.set_promiscuous(true);
  ed.ifconfig_up();
  other_finishes_its_frame();
  send_to_stock(500, 0x70);
  send_to_other(500, 0x71);
  service(ed);
  output(ed, make_frame(kStationMac, kMacA, 1514, 0x72));
  service(ed);
  EXPECT_TRUE(ed.queue_empty());
  EXPECT_EQ(ed.opackets(), wire_.size());
  expect_clean(ed, wire_, ed.received());
}

// ---- iPXE ----

using IpxeNs8390Conformance = DriverConformance;

// eth_probe's NE path as the PCI driver runs it: its memory tests at 8 KiB
// (byte mode) and 16 KiB (word mode, in its transmit buffer) with the card
// started, the PROM, ns8390_reset; frames out (each header field by a
// remote write of its own, a short one padded by its buffer's earlier
// contents) and in across the ring's wrap beside the other guest's stream;
// eth_rx_overrun and ns8390_disable mid-way through the other guest's frame.
TEST_F(IpxeNs8390Conformance, ProbesTransmitsPollsAndRecovers) {
  IpxeNs8390 nic(stock_.window());
  start_other_traffic();
  ASSERT_TRUE(nic.eth_probe(true));
  EXPECT_EQ(nic.node_addr(), mac_of(kMacA));
  constexpr std::uint16_t kType = 0x88b5;
  std::vector<Bytes> wire;
  const auto transmit = [&](std::size_t size, std::uint8_t seed) {
    const Bytes f = make_frame(kStationMac, kMacA, size, seed);
    nic.ns8390_transmit(mac_of(kStationMac), kType,
                        Bytes(f.begin() + IpxeNs8390::kEthHlen, f.end()));
    wire.push_back(f);
  };
  std::uint8_t seed = 0x10;
  for (const std::size_t size : kSizes) {
    transmit(size, seed);
    send_to_stock(kSizes[(seed + 5) % std::size(kSizes)], static_cast<std::uint8_t>(seed + 0x40),
                  seed == 0x13);
    nic.poll_all();
    ++seed;
  }
  for (unsigned n = 0; n < 10; ++n) {
    send_to_stock(1514, static_cast<std::uint8_t>(0x60 + n));
    nic.poll_all();
  }
  stop_other_traffic();

  const Bytes last = make_frame(kStationMac, kMacA, 300, 0x30);
  transmit(last.size(), 0x30);
  const Bytes shorter = make_frame(kStationMac, kMacA, 50, 0x31);
  nic.ns8390_transmit(mac_of(kStationMac), kType,
                      Bytes(shorter.begin() + IpxeNs8390::kEthHlen, shorter.end()));
  Bytes on_wire(last.begin(), last.begin() + kEthZlen);
  std::copy(shorter.begin(), shorter.end(), on_wire.begin());
  wire.push_back(on_wire);

  send_to_stock(1000, 0x32);
  send_to_stock(1000, 0x33);
  other_starts_a_frame();
  nic.eth_rx_overrun();  // as ns8390_poll does on ISR.OVW
  other_finishes_its_frame();
  other_starts_a_frame();
  nic.ns8390_reset();  // ns8390_disable
  other_finishes_its_frame();
  transmit(1514, 0x34);
  send_to_stock(700, 0x35);
  send_to_other(700, 0x36);
  nic.poll_all();
  expect_clean(nic, wire, nic.received());
}

}  // namespace
}  // namespace vpio::devices

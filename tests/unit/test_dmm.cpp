// The Device Modeling Monitor with vpio's chip on a hub as the shared card and
// fake guests driving the stock driver's port sequences (guests/ne2000/
// ne2000.c) through their windows: frames go out intact with the data port
// direct, received frames reach exactly the guests they are addressed to
// through bounded queues, and each hostile programming costs only its guest
// a machine check while another guest's transfer goes on undisturbed.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "dmm/ne2000_monitor.hpp"
#include "tests/support/lax_card.hpp"
#include "hw/chip_device.hpp"
#include "hw/ne2000.hpp"
#include "hw/net/hub.hpp"

namespace vpio::dmm {
namespace {

using namespace hw::ne2000;
using devmodels::Violation;
using Bytes = std::vector<std::uint8_t>;

const hw::MacAddress kCardMac{{0x52, 0x54, 0x00, 0x00, 0x00, 0xc0}};
const hw::MacAddress kMacA{{0x52, 0x54, 0x00, 0x00, 0x00, 0x0a}};
const hw::MacAddress kMacB{{0x52, 0x54, 0x00, 0x00, 0x00, 0x0b}};
const hw::MacAddress kMacC{{0x52, 0x54, 0x00, 0x00, 0x00, 0x0c}};
const hw::MacAddress kStationMac{{0x52, 0x54, 0x00, 0x00, 0x00, 0x5e}};
const hw::MacAddress kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
constexpr std::uint16_t kIoA = 0x300, kIoB = 0x320, kIoC = 0x340;

// The stock driver's constants (guests/ne2000/ne2000.h).
constexpr std::uint8_t kStoppedPage0 = kCrNoDma | kCrStop;
constexpr std::uint8_t kStoppedPage1 = kCrPage1 | kCrNoDma | kCrStop;
constexpr std::uint8_t kRunningPage0 = kCrNoDma | kCrStart;
constexpr std::uint8_t kRunningPage1 = kCrPage1 | kCrNoDma | kCrStart;
constexpr std::uint8_t kRunningPage2 = kCrPage2 | kCrNoDma | kCrStart;
constexpr std::uint8_t kDcrValue = kDcrWordTransfer | kDcrNormal | kDcrFifo8Bytes;
constexpr std::uint8_t kTxPage = 0x40;
constexpr std::uint8_t kRxStart = 0x46;
constexpr std::uint8_t kRxStop = 0x80;
constexpr std::uint16_t kDataPort = 0x10;
constexpr std::uint16_t kResetPort = 0x1f;
constexpr unsigned kPolls = 1000;  // the chip answers at once; a bound, not a delay

std::uint8_t lo(unsigned v) { return static_cast<std::uint8_t>(v & 0xff); }
std::uint8_t hi(unsigned v) { return static_cast<std::uint8_t>((v >> 8) & 0xff); }

Bytes make_frame(const hw::MacAddress& destination, const hw::MacAddress& source,
                 std::size_t length, std::uint8_t seed) {
  Bytes frame(length);
  for (std::size_t i = 0; i < length; ++i) frame[i] = static_cast<std::uint8_t>(seed + i * 13);
  std::copy(destination.bytes.begin(), destination.bytes.end(), frame.begin());
  std::copy(source.bytes.begin(), source.bytes.end(), frame.begin() + 6);
  frame[12] = 0x88;  // a local experimental EtherType
  frame[13] = 0xb5;
  return frame;
}

bool from(const Bytes& frame, const hw::MacAddress& source) {
  return frame.size() >= 12 && std::equal(source.bytes.begin(), source.bytes.end(), &frame[6]);
}

// Where two frames first differ, as text ("byte 0: ee, wanted 52"), or
// nothing when they are equal.
std::optional<std::string> first_difference(const Bytes& got, const Bytes& wanted) {
  if (got == wanted) return std::nullopt;
  const auto [g, w] = std::mismatch(got.begin(), got.end(), wanted.begin(), wanted.end());
  std::ostringstream out;
  out << std::hex << "byte " << std::dec << (g - got.begin()) << " of " << got.size() << " ("
      << wanted.size() << " sent): ";
  if (g == got.end() || w == wanted.end())
    out << "length differs";
  else
    out << std::hex << +*g << ", wanted " << +*w;
  return out.str();
}

// A station on the hub: records what the card puts on the wire and sends.
class Station final : public hw::FrameSink {
 public:
  void deliver(std::span<const std::uint8_t> frame) override {
    std::lock_guard lock(mutex_);
    frames_.emplace_back(frame.begin(), frame.end());
  }
  std::vector<Bytes> frames() const {
    std::lock_guard lock(mutex_);
    return frames_;
  }
  std::size_t frames_from(const hw::MacAddress& source) const {
    const auto all = frames();
    return static_cast<std::size_t>(
        std::count_if(all.begin(), all.end(), [&](const Bytes& f) { return from(f, source); }));
  }
  hw::HubPort* port = nullptr;
  void send(const Bytes& frame) { port->deliver(frame); }

 private:
  mutable std::mutex mutex_;
  std::vector<Bytes> frames_;
};

// Machine checks a guest was given, from any thread (the receive thread
// aborts a stalled DMA).
class MachineChecks {
 public:
  void record(const MachineCheckRequest& r) {
    std::lock_guard lock(mutex_);
    requests_.push_back(r);
  }
  std::vector<MachineCheckRequest> all() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<MachineCheckRequest> requests_;
};

// A stock NE2000 driver (guests/ne2000/ne2000.c) driving a guest's window:
// word-mode remote DMA, transmit area at page 0x40, ring 0x46..0x80, the card
// left on page 0 with no DMA between calls.
class FakeDriver {
 public:
  explicit FakeDriver(PassthroughWindow& window) : window_(window) {}

  // One byte at an offset of the window, as inb/outb.
  std::uint8_t in(unsigned offset) {
    return static_cast<std::uint8_t>(window_.port_read(static_cast<std::uint16_t>(offset), 1));
  }
  void out(unsigned offset, unsigned value) {
    window_.port_write(static_cast<std::uint16_t>(offset), 1, value & 0xff);
  }

  // ne_probe: the DP8390 check, a reset, and the PROM read in word mode.
  // Returns the 32 bytes of the PROM as read (16 words).
  std::array<std::uint8_t, kPromBytes> probe() {
    (void)in(kCr);
    out(kCr, kStoppedPage1);
    const std::uint8_t saved = in(kMar0 + 5);
    out(kMar0 + 5, 0xff);
    out(kCr, kStoppedPage0);
    (void)in(kCntr0);
    (void)in(kCntr0);
    out(kCr, kStoppedPage1);
    out(kMar0 + 5, saved);
    out(kCr, kStoppedPage0);

    out(kResetPort, in(kResetPort));
    for (unsigned poll = 0; poll < kPolls && (in(kIsr)&kIsrRst) == 0; ++poll) {
    }
    out(kIsr, 0xff);

    out(kCr, kStoppedPage0);
    out(kDcr, kDcrValue);
    out(kRbcr0, 0);
    out(kRbcr1, 0);
    out(kImr, 0);
    out(kIsr, 0xff);
    out(kRcr, kRcrMonitor);
    out(kTcr, kTcrInternalLoopback);
    out(kRbcr0, kPromBytes);
    out(kRbcr1, 0);
    out(kRsar0, 0);
    out(kRsar1, 0);
    out(kCr, kCrRemoteRead | kCrStart);
    std::array<std::uint8_t, kPromBytes> prom{};
    window_.port_read_string(kDataPort, 2, prom);
    out(kIsr, kIsrRdc);
    out(kCr, kStoppedPage0);
    for (unsigned i = 0; i < 6; ++i) mac_[i] = prom[2 * i];
    return prom;
  }

  // ne_init: stopped in monitor and loopback while the ring is set up, then
  // started with broadcast reception.
  void init() {
    out(kCr, kStoppedPage0);
    out(kDcr, kDcrValue);
    out(kRbcr0, 0);
    out(kRbcr1, 0);
    out(kRcr, kRcrMonitor);
    out(kTcr, kTcrInternalLoopback);
    out(kTpsr, kTxPage);
    out(kPstart, kRxStart);
    next_page_ = kRxStart + 1;
    out(kBnry, kRxStart);
    out(kPstop, kRxStop);
    out(kIsr, 0xff);
    out(kImr, 0);
    out(kCr, kStoppedPage1);
    for (unsigned i = 0; i < 6; ++i) out(kPar0 + i, mac_[i]);
    out(kCurr, next_page_);
    for (unsigned i = 0; i < 8; ++i) out(kMar0 + i, 0);
    curr_after_init_ = in(kCurr);
    out(kCr, kStoppedPage0);
    out(kIsr, 0xff);
    out(kImr, 0);
    out(kCr, kRunningPage0);
    out(kTcr, 0);
    out(kRcr, kRcrBroadcast);
  }

  void bring_up() {
    probe();
    init();
  }

  // program_remote_dma: abort, count, address, command.
  void start_remote(std::uint16_t address, std::uint16_t count, bool write) {
    out(kCr, kRunningPage0);
    out(kRbcr0, lo(count));
    out(kRbcr1, hi(count));
    out(kRsar0, lo(address));
    out(kRsar1, hi(address));
    out(kCr, (write ? kCrRemoteWrite : kCrRemoteRead) | kCrStart);
  }

  // What a frame becomes in word mode: padded to 60 bytes, then to a word.
  static Bytes dma_image(const Bytes& frame) {
    Bytes image = frame;
    if (image.size() < hw::kMinFrameBytes) image.resize(hw::kMinFrameBytes, 0);
    if (image.size() % 2 != 0) image.push_back(0);
    return image;
  }
  static std::uint16_t wire_bytes(const Bytes& frame) {
    return static_cast<std::uint16_t>(std::max(frame.size(), hw::kMinFrameBytes));
  }

  // ne_send, first half: the remote write of the frame into the transmit
  // area is started (nothing written yet).
  void start_frame_dma(const Bytes& image) {
    out(kIsr, kIsrPtx | kIsrTxe);
    out(kCr, kRunningPage0);
    out(kIsr, kIsrRdc);
    start_remote(std::uint16_t{kTxPage} << 8, static_cast<std::uint16_t>(image.size()), true);
  }
  void write_words(std::span<const std::uint8_t> words) {
    window_.port_write_string(kDataPort, 2, words);
  }
  // Polls ISR for any of these events and acknowledges what it saw.
  std::uint8_t wait_for(std::uint8_t events) {
    for (unsigned poll = 0; poll < kPolls; ++poll) {
      const std::uint8_t seen = in(kIsr)&events;
      if (seen != 0) {
        out(kIsr, seen);
        return seen;
      }
    }
    return 0;
  }
  void start_transmit(std::uint16_t bytes, std::uint8_t page = kTxPage) {
    out(kTbcr0, lo(bytes));
    out(kTbcr1, hi(bytes));
    out(kTpsr, page);
    out(kCr, kRunningPage0 | kCrTransmit);
  }
  // The whole of ne_send; true when the card reported PTX.
  bool send(const Bytes& frame) {
    const Bytes image = dma_image(frame);
    start_frame_dma(image);
    write_words(image);
    if (wait_for(kIsrRdc) == 0) return false;
    start_transmit(wire_bytes(frame));
    return wait_for(kIsrPtx | kIsrTxe) == kIsrPtx;
  }

  // dma_read: count bytes of the guest's card memory.
  Bytes read_memory(std::uint16_t address, std::size_t count) {
    Bytes data((count + 1) & ~std::size_t{1});
    start_remote(address, static_cast<std::uint16_t>(data.size()), false);
    window_.port_read_string(kDataPort, 2, data);
    out(kIsr, kIsrRdc);
    data.resize(count);
    return data;
  }

  // ne_receive: the next frame in the ring, or nothing when CURR says the
  // ring is empty.
  std::optional<Bytes> receive() {
    const std::uint8_t ack = in(kIsr) & (kIsrPrx | kIsrRxe);
    if (ack != 0) out(kIsr, ack);
    out(kCr, kRunningPage1);
    const std::uint8_t curr = in(kCurr);
    out(kCr, kRunningPage0);
    if (curr == next_page_) return std::nullopt;
    const Bytes header = read_memory(static_cast<std::uint16_t>(next_page_ << 8), 4);
    const std::uint8_t next = header[1];
    const std::size_t count = header[2] | std::size_t{header[3]} << 8;
    if (count < kRingHeaderBytes || next < kRxStart || next >= kRxStop) return Bytes{};  // garbage
    const std::size_t length = count - kRingHeaderBytes;
    const auto start = static_cast<std::uint16_t>((next_page_ << 8) + kRingHeaderBytes);
    const std::size_t to_end = std::size_t{kRxStop} * kPageBytes - start;
    Bytes frame = read_memory(start, std::min(length, to_end));
    if (length > to_end) {
      const Bytes rest = read_memory(std::uint16_t{kRxStart} << 8, length - to_end);
      frame.insert(frame.end(), rest.begin(), rest.end());
    }
    next_page_ = next;
    out(kBnry, next == kRxStart ? kRxStop - 1 : next - 1);
    return frame;
  }
  std::vector<Bytes> receive_all() {
    std::vector<Bytes> frames;
    while (auto f = receive()) frames.push_back(std::move(*f));
    return frames;
  }

  std::uint8_t read_page2(std::uint16_t offset) {
    out(kCr, kRunningPage2);
    const std::uint8_t value = in(offset);
    out(kCr, kRunningPage0);
    return value;
  }
  std::uint8_t curr_after_init() const { return curr_after_init_; }

 private:
  PassthroughWindow& window_;
  std::array<std::uint8_t, 6> mac_{};
  std::uint8_t next_page_ = kRxStart + 1;
  std::uint8_t curr_after_init_ = 0;
};

// One guest of the monitor with its driver and its machine checks.
struct FakeGuest {
  Ne2000Monitor::Guest* guest = nullptr;
  std::unique_ptr<MachineChecks> checks = std::make_unique<MachineChecks>();
  std::unique_ptr<FakeDriver> driver;
  std::uint16_t io_base = 0;

  FakeDriver* operator->() { return driver.get(); }
  PassthroughWindow& window() { return guest->window(); }
  std::vector<MachineCheckRequest> machine_checks() const { return checks->all(); }
};

// The card is vpio's chip on a hub, with a test station beside it.
class DmmTest : public ::testing::Test {
 protected:
  DmmTest() : card_(kCardMac) {
    hw::HubPort& card_port = hub_.attach(card_.chip(), "card");
    card_.chip().set_transmit_sink(card_port);
    station_.port = &hub_.attach(station_, "station");
  }

  void start(MonitorConfig config = {}) {
    monitor_ = std::make_unique<Ne2000Monitor>(
        lax_ ? static_cast<hw::PhysicalDevice&>(lax_card_) : card_, config);
  }
  FakeGuest add(const std::string& name, const hw::MacAddress& mac, std::uint16_t io_base) {
    if (!monitor_) start();
    FakeGuest g;
    g.io_base = io_base;
    GuestCallbacks callbacks;
    callbacks.machine_check = [checks = g.checks.get()](const MachineCheckRequest& r) {
      checks->record(r);
    };
    g.guest = &monitor_->add_guest(name, mac, io_base, std::move(callbacks));
    g.driver = std::make_unique<FakeDriver>(g.guest->window());
    return g;
  }
  // What the station hears, with the card's ring drained first so that
  // whatever it sends has reached the guests' queues.
  void station_send(const Bytes& frame) {
    station_.send(frame);
    monitor_->drain_now();
  }

  Station station_;  // outlives the hub it is attached to
  hw::ChipDevice card_;
  testing_support::LaxCard lax_card_{card_};
  bool lax_ = false;  // the monitor drives lax_card_ rather than card_
  hw::Hub hub_;
  std::unique_ptr<Ne2000Monitor> monitor_;
};

void expect_machine_check(const FakeGuest& g, Violation v, std::uint64_t addr,
                          std::uint16_t offset) {
  const auto checks = g.machine_checks();
  ASSERT_EQ(checks.size(), 1u) << "machine checks for " << g.guest->name();
  EXPECT_EQ(checks[0].bank, 1);
  EXPECT_EQ(checks[0].status, machine_check_status(v))
      << std::hex << "status 0x" << checks[0].status << ", wanted " << devmodels::violation_name(v);
  EXPECT_EQ(checks[0].addr, addr) << std::hex << "addr 0x" << checks[0].addr;
  EXPECT_EQ(checks[0].misc, std::uint64_t{g.io_base} + offset)
      << std::hex << "misc 0x" << checks[0].misc;
}

// ---- Probe and transmit ----

using DmmTransmit = DmmTest;

TEST_F(DmmTransmit, EachGuestReadsItsOwnMacFromThePromDoubled) {
  FakeGuest a = add("a", kMacA, kIoA), b = add("b", kMacB, kIoB);
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
  FakeGuest a = add("a", kMacA, kIoA);
  a->bring_up();
  EXPECT_EQ(a->curr_after_init(), kRxStart + 1);
  EXPECT_TRUE(a.machine_checks().empty());
}

TEST_F(DmmTransmit, FramesOfEverySizeFromTwoGuestsReachTheHubIntact) {
  FakeGuest a = add("a", kMacA, kIoA), b = add("b", kMacB, kIoB);
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
  FakeGuest a = add("a", kMacA, kIoA);
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

TEST_F(DmmCounters, ContextSwitchesAreCountedWhenGuestsAlternate) {
  FakeGuest a = add("a", kMacA, kIoA), b = add("b", kMacB, kIoB);
  a->bring_up();
  b->bring_up();
  for (FakeGuest* g : {&a, &b, &a, &b})
    ASSERT_TRUE((*g)->send(make_frame(kStationMac, g->guest->mac(), 100, 3)));
  EXPECT_EQ(monitor_->stats().context_switches, 4u);
  EXPECT_EQ(a.guest->stats().context_switches, 2u);
  EXPECT_EQ(b.guest->stats().context_switches, 2u);
}

TEST_F(DmmCounters, OneGuestSendingAgainIsNoContextSwitch) {
  FakeGuest a = add("a", kMacA, kIoA), b = add("b", kMacB, kIoB);
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
  FakeGuest a = add("a", kMacA, kIoA), b = add("b", kMacB, kIoB);
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
  FakeGuest a = add("a", kMacA, kIoA);
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
  FakeGuest a = add("a", kMacA, kIoA), b = add("b", kMacB, kIoB);
  a->bring_up();
  b->bring_up();
  const Bytes frame = make_frame(kBroadcast, kStationMac, 80, 4);
  station_send(frame);
  EXPECT_EQ(a->receive(), frame);
  EXPECT_EQ(b->receive(), frame);
}

TEST_F(DmmReceive, AFrameForNoGuestIsUnclaimed) {
  FakeGuest a = add("a", kMacA, kIoA);
  a->bring_up();
  station_send(make_frame(kMacC, kStationMac, 80, 4));
  EXPECT_EQ(a->receive(), std::nullopt);
  EXPECT_EQ(monitor_->stats().frames_unclaimed, 1u);
}

TEST_F(DmmReceive, AFrameBetweenGuestsIsLoopedBackAndPutOnTheHub) {
  FakeGuest a = add("a", kMacA, kIoA), b = add("b", kMacB, kIoB);
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
  FakeGuest a = add("a", kMacA, kIoA), b = add("b", kMacB, kIoB), c = add("c", kMacC, kIoC);
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
  FakeGuest a = add("a", kMacA, kIoA), b = add("b", kMacB, kIoB);
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
  FakeGuest a = add("a", kMacA, kIoA);
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
  FakeGuest a = add("a", kMacA, kIoA), b = add("b", kMacB, kIoB);
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
    config.dma_stall_limit = std::chrono::seconds(60);  // no abort mid-test
    start(config);
    hostile_ = add("hostile", kMacA, kIoA);
    good_ = add("good", kMacB, kIoB);
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
      ADD_FAILURE() << "the good guest got a machine check, status 0x" << std::hex << mc.status;
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

TEST_F(DmmHostile, RemoteDmaOutsideMemory) {
  hostile_->bring_up();
  good_guest_writes_half();
  hostile_->start_remote(0x2000, 16, false);
  expect_machine_check(hostile_, Violation::remote_dma_outside_share, 0x2000, kCr);
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
    ADD_FAILURE() << "the good guest got a machine check, status 0x" << std::hex << mc.status;
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
// +0x1e) is a reset as the byte one is: refused while another guest's
// transmit is in flight.
struct WideReset {
  std::uint16_t offset;
  unsigned size;
  bool read;
};
void PrintTo(const WideReset& w, std::ostream* out) {
  *out << (w.read ? "in" : "out") << (w.size == 2 ? 'w' : 'l') << " +0x" << std::hex << w.offset;
}
class DmmWideReset : public DmmHostile, public testing::WithParamInterface<WideReset> {};

TEST_P(DmmWideReset, IsRefusedWhileAnotherGuestsTransmitIsInFlight) {
  const WideReset access = GetParam();
  hostile_->bring_up();
  good_guest_writes_half();
  if (access.read)
    (void)hostile_.window().port_read(access.offset, access.size);
  else
    hostile_.window().port_write(access.offset, access.size, 0);
  expect_machine_check(hostile_, Violation::reset_while_busy, 0, kResetPort);
  EXPECT_EQ(hostile_->in(kIsr)&kIsrRst, 0) << "the refused reset reached its own card";
  good_guest_writes_the_rest();
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

// Allowed, it resets the model along with the guest's own card: a DMA in the
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

TEST_F(DmmHostile, TransmitFromAnotherGuestsPages) {
  hostile_->bring_up();
  good_guest_writes_half();
  hostile_->start_transmit(60, 0x46);
  expect_machine_check(hostile_, Violation::transmit_outside_share, 0x4600, kCr);
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

TEST_F(DmmHostile, RingOutsideMemory) {
  hostile_->bring_up();
  good_guest_writes_half();
  hostile_->out(kPstop, 0x90);
  expect_machine_check(hostile_, Violation::ring_outside_share, 0x9000, kPstop);
  EXPECT_EQ(hostile_->read_page2(kPstop), kRxStop) << "the refused write reached the card";
  good_guest_writes_the_rest();
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

TEST_F(DmmHostile, RingWithPstartAtPstop) {
  hostile_->bring_up();
  good_guest_writes_half();
  hostile_->out(kPstop, kRxStart);
  expect_machine_check(hostile_, Violation::ring_inverted, kRxStart << 8, kPstop);
  EXPECT_EQ(hostile_->read_page2(kPstop), kRxStop) << "the refused write reached the card";
  good_guest_writes_the_rest();
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

TEST_F(DmmHostile, ResetWhileAnotherGuestsTransmitIsInFlight) {
  hostile_->bring_up();
  good_guest_writes_half();
  hostile_->out(kResetPort, 0);
  expect_machine_check(hostile_, Violation::reset_while_busy, 0, kResetPort);
  EXPECT_EQ(hostile_->in(kIsr)&kIsrRst, 0) << "the refused reset reached the card";
  good_guest_writes_the_rest();
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
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
  // Regression test: the model once got this wrong (devmodels/ne2000_model.cpp,
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
    EXPECT_EQ(checks[0].status, machine_check_status(Violation::remote_dma_outside_share));
  }
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

TEST_F(DmmHostile, WordModeDmaWhoseLastWordCrossesIntoTheNextArea) {
  // Regression test: the model once got this wrong (devmodels/ne2000_model.cpp,
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
    EXPECT_EQ(checks[0].status, machine_check_status(Violation::remote_dma_outside_share));
  }
  good_guest_transmits();
  expect_only_the_good_frame_on_the_hub();
}

// ---- A stalled remote DMA ----

class DmmStall : public DmmTest {
 protected:
  void SetUp() override {
    MonitorConfig config;
    config.dma_stall_limit = std::chrono::milliseconds(50);
    start(config);
    staller_ = add("staller", kMacA, kIoA);
    good_ = add("good", kMacB, kIoB);
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
}  // namespace vpio::dmm

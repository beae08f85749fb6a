// The shared card of the DMM tests: vpio's chip on a hub with a test station,
// a monitor over it, and fake guests driving the project's own NE2000
// driver's port sequences (guests/ne2000/ne2000.c) through their windows.
// Used by test_dmm.cpp and test_driver_conformance.cpp.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "hw/bytes.hpp"
#include "tests/support/frame_recorder.hpp"
#include "devices/ne2000/ne2000_monitor.hpp"
#include "devices/ne2000/chip_device.hpp"
#include "devices/ne2000/ne2000.hpp"
#include "net/hub.hpp"
#include "tests/support/lax_card.hpp"

namespace vpio::testing_support {

using devices::GuestCallbacks;
using dmm::ViolationReport;
using devices::MonitorConfig;
using devices::Ne2000Monitor;
using namespace devices::ne2000;
using devices::Violation;
using Bytes = std::vector<std::uint8_t>;

inline const hw::MacAddress kCardMac{{0x52, 0x54, 0x00, 0x00, 0x00, 0xc0}};
inline const hw::MacAddress kMacA{{0x52, 0x54, 0x00, 0x00, 0x00, 0x0a}};
inline const hw::MacAddress kMacB{{0x52, 0x54, 0x00, 0x00, 0x00, 0x0b}};
inline const hw::MacAddress kMacC{{0x52, 0x54, 0x00, 0x00, 0x00, 0x0c}};
inline const hw::MacAddress kStationMac{{0x52, 0x54, 0x00, 0x00, 0x00, 0x5e}};
inline const hw::MacAddress kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

// The stock driver's constants (guests/ne2000/ne2000.h).
inline constexpr std::uint8_t kStoppedPage0 = kCrNoDma | kCrStop;
inline constexpr std::uint8_t kStoppedPage1 = kCrPage1 | kCrNoDma | kCrStop;
inline constexpr std::uint8_t kRunningPage0 = kCrNoDma | kCrStart;
inline constexpr std::uint8_t kRunningPage1 = kCrPage1 | kCrNoDma | kCrStart;
inline constexpr std::uint8_t kRunningPage2 = kCrPage2 | kCrNoDma | kCrStart;
inline constexpr std::uint8_t kDcrValue = kDcrWordTransfer | kDcrNormal | kDcrFifo8Bytes;
inline constexpr std::uint8_t kTxPage = 0x40;
inline constexpr std::uint8_t kRxStart = 0x46;
inline constexpr std::uint8_t kRxStop = 0x80;
inline constexpr std::uint16_t kDataPort = 0x10;
inline constexpr std::uint16_t kResetPort = 0x1f;
inline constexpr unsigned kPolls = 1000;  // the chip answers at once; a bound, not a delay

using hw::hi;
using hw::lo;

inline Bytes make_frame(const hw::MacAddress& destination, const hw::MacAddress& source,
                        std::size_t length, std::uint8_t seed) {
  Bytes frame(length);
  for (std::size_t i = 0; i < length; ++i) frame[i] = static_cast<std::uint8_t>(seed + i * 13);
  std::copy(destination.bytes.begin(), destination.bytes.end(), frame.begin());
  std::copy(source.bytes.begin(), source.bytes.end(), frame.begin() + 6);
  frame[12] = 0x88;  // a local experimental EtherType
  frame[13] = 0xb5;
  return frame;
}

inline bool from(const Bytes& frame, const hw::MacAddress& source) {
  return frame.size() >= 12 && std::equal(source.bytes.begin(), source.bytes.end(), &frame[6]);
}

// Where two frames first differ, as text ("byte 0: ee, wanted 52"), or
// nothing when they are equal.
inline std::optional<std::string> first_difference(const Bytes& got, const Bytes& wanted) {
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
class Station final : public testing_support::FrameRecorder {
 public:
  std::size_t frames_from(const hw::MacAddress& source) const {
    const auto all = frames();
    return static_cast<std::size_t>(
        std::count_if(all.begin(), all.end(), [&](const Bytes& f) { return from(f, source); }));
  }
  net::HubPort* port = nullptr;
  void send(const Bytes& frame) { port->deliver(frame); }
};

// Machine checks a guest was given, from any thread (the receive thread
// aborts a stalled DMA).
class MachineChecks {
 public:
  void record(const ViolationReport& r) {
    std::lock_guard lock(mutex_);
    requests_.push_back(r);
  }
  std::vector<ViolationReport> all() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<ViolationReport> requests_;
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

  FakeDriver* operator->() { return driver.get(); }
  PassthroughWindow& window() { return guest->window(); }
  std::vector<ViolationReport> machine_checks() const { return checks->all(); }
};

// The card is vpio's chip on a hub, with a test station beside it.
class DmmTest : public ::testing::Test {
 protected:
  DmmTest() : card_(kCardMac) {
    net::HubPort& card_port = hub_.attach(card_.chip(), "card");
    card_.chip().set_transmit_sink(card_port);
    station_.port = &hub_.attach(station_, "station");
  }

  void start(MonitorConfig config = {}) {
    monitor_ = std::make_unique<Ne2000Monitor>(
        lax_ ? static_cast<hw::PhysicalDevice&>(lax_card_) : card_, config);
  }
  FakeGuest add(const std::string& name, const hw::MacAddress& mac,
                std::function<void()> raise_irq = {}) {
    if (!monitor_) start();
    FakeGuest g;
    GuestCallbacks callbacks;
    callbacks.raise_irq = std::move(raise_irq);
    callbacks.violation = [checks = g.checks.get()](const ViolationReport& r) {
      checks->record(r);
    };
    g.guest = &monitor_->add_guest(name, mac, std::move(callbacks));
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
  devices::ChipDevice card_;
  testing_support::LaxCard lax_card_{card_};
  bool lax_ = false;  // the monitor drives lax_card_ rather than card_
  net::Hub hub_;
  std::unique_ptr<Ne2000Monitor> monitor_;
};

inline void expect_machine_check(const FakeGuest& g, Violation v, std::uint64_t addr,
                                 std::uint16_t offset) {
  const auto checks = g.machine_checks();
  ASSERT_EQ(checks.size(), 1u) << "machine checks for " << g.guest->name();
  EXPECT_EQ(checks[0].code, static_cast<std::uint16_t>(v))
      << "violation " << checks[0].code << ", wanted " << devices::violation_name(v);
  EXPECT_EQ(checks[0].address, addr) << std::hex << "address 0x" << checks[0].address;
  EXPECT_EQ(checks[0].window_offset, offset) << std::hex << "offset 0x" << checks[0].window_offset;
}

}  // namespace vpio::testing_support

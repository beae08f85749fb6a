// What the isolation fuzzer (fuzz/, docs/fuzzing.md) found, each as the
// accesses that show it, through the monitor's API: two guests on vpio's
// chip, the wire recorded. Also the harness's own needs of the monitor.
//
// Findings:
//  - The monitor reads card memory in words, so a remote read of an odd
//    range (byte mode) makes the card move one byte past it, which may be
//    the first byte of the next guest's transmit area. The byte is dropped
//    and never reaches the guest: harmless, and tested as such
//    (IsolationFindings.AByteModeReadOfTheLastByteOfItsAreaShowsNothingOfTheNext).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "hw/bytes.hpp"
#include "tests/support/frame_recorder.hpp"
#include "devices/ne2000/ne2000_monitor.hpp"
#include "devices/ne2000/chip_device.hpp"
#include "devices/ne2000/ne2000.hpp"

namespace vpio::devices {
namespace {

using namespace devices::ne2000;
using Bytes = std::vector<std::uint8_t>;

const hw::MacAddress kCardMac{{0x52, 0x54, 0x00, 0x00, 0x00, 0xc0}};
const hw::MacAddress kMacA{{0x52, 0x54, 0x00, 0x00, 0x00, 0x0a}};
const hw::MacAddress kMacB{{0x52, 0x54, 0x00, 0x00, 0x00, 0x0b}};
const hw::MacAddress kOutsideMac{{0x52, 0x54, 0x00, 0x00, 0x00, 0x5e}};
constexpr std::uint16_t kDataPort = 0x10;
constexpr std::uint8_t kRunningPage0 = kCrNoDma | kCrStart;
constexpr std::uint8_t kStoppedPage0 = kCrNoDma | kCrStop;
constexpr std::uint8_t kStoppedPage1 = kCrPage1 | kCrNoDma | kCrStop;
constexpr std::uint8_t kWordDcr = kDcrWordTransfer | kDcrNormal | kDcrFifo8Bytes;
constexpr std::uint8_t kByteDcr = kDcrNormal | kDcrFifo8Bytes;

using hw::hi;
using hw::lo;

// Every frame the card puts on the wire, runts and all (a hub would drop
// frames without a header before anyone saw them).
using Wire = testing_support::FrameRecorder;

// One guest's card as its driver programs it, one port access at a time.
class Driver {
 public:
  explicit Driver(Ne2000Monitor::Guest& guest) : guest_(guest) {}
  PassthroughWindow& window() { return guest_.window(); }
  void out(unsigned offset, unsigned value) {
    window().port_write(static_cast<std::uint16_t>(offset), 1, value & 0xff);
  }
  std::uint8_t in(unsigned offset) {
    return static_cast<std::uint8_t>(window().port_read(static_cast<std::uint16_t>(offset), 1));
  }
  // ne_init, with DCR as given and the guest's own MAC in PAR.
  void init(std::uint8_t dcr) {
    out(kCr, kStoppedPage0);
    out(kDcr, dcr);
    out(kRbcr0, 0);
    out(kRbcr1, 0);
    out(kRcr, kRcrMonitor);
    out(kTcr, kTcrInternalLoopback);
    out(kTpsr, 0x40);
    out(kPstart, 0x46);
    out(kBnry, 0x46);
    out(kPstop, 0x80);
    out(kIsr, 0xff);
    out(kImr, 0);
    out(kCr, kStoppedPage1);
    for (unsigned i = 0; i < 6; ++i) out(kPar0 + i, guest_.mac().bytes[i]);
    out(kCurr, 0x47);
    out(kCr, kStoppedPage0);
    out(kCr, kRunningPage0);
    out(kTcr, 0);
    out(kRcr, kRcrBroadcast);
  }
  void start_remote(std::uint16_t address, std::uint16_t count, bool write) {
    out(kCr, kRunningPage0);
    out(kRbcr0, lo(count));
    out(kRbcr1, hi(count));
    out(kRsar0, lo(address));
    out(kRsar1, hi(address));
    out(kCr, (write ? kCrRemoteWrite : kCrRemoteRead) | kCrStart);
  }
  // A whole remote write into the transmit area, in words, and its RDC.
  void write_area(std::uint16_t address, const Bytes& words) {
    start_remote(address, static_cast<std::uint16_t>(words.size()), true);
    window().port_write_string(kDataPort, 2, words);
    for (unsigned poll = 0; poll < 4; ++poll)
      if ((in(kIsr)&kIsrRdc) != 0) break;
    out(kIsr, kIsrRdc);
  }

 private:
  Ne2000Monitor::Guest& guest_;
};

class IsolationFindings : public ::testing::Test {
 protected:
  IsolationFindings() : card_(kCardMac) { card_.chip().set_transmit_sink(wire_); }

  void start(MonitorConfig config = {}) {
    monitor_ = std::make_unique<Ne2000Monitor>(card_, config);
    GuestCallbacks a, b;
    a.violation = [this](const dmm::ViolationReport& r) { record(checks_a_, r); };
    b.violation = [this](const dmm::ViolationReport& r) { record(checks_b_, r); };
    a_ = std::make_unique<Driver>(monitor_->add_guest("a", kMacA, std::move(a)));
    b_ = std::make_unique<Driver>(monitor_->add_guest("b", kMacB, std::move(b)));
  }
  void record(std::vector<std::uint64_t>& checks, const dmm::ViolationReport& r) {
    std::lock_guard lock(checks_mutex_);
    checks.push_back(r.code);
  }
  std::vector<std::uint64_t> checks(const std::vector<std::uint64_t>& c) {
    std::lock_guard lock(checks_mutex_);
    return c;
  }
  devices::Ne2000State card_state() { return card_.chip().save(); }

  Wire wire_;  // outlives the card that sends to it
  devices::ChipDevice card_;
  std::unique_ptr<Ne2000Monitor> monitor_;
  std::unique_ptr<Driver> a_, b_;  // transmit areas on the card: 0x4000.., 0x4600..
  std::mutex checks_mutex_;
  std::vector<std::uint64_t> checks_a_, checks_b_;
};

Bytes frame_from(const hw::MacAddress& source, std::size_t length, std::uint8_t seed) {
  Bytes frame(length);
  for (std::size_t i = 0; i < length; ++i) frame[i] = static_cast<std::uint8_t>(seed + 7 * i);
  std::copy(kOutsideMac.bytes.begin(), kOutsideMac.bytes.end(), frame.begin());
  std::copy(source.bytes.begin(), source.bytes.end(), frame.begin() + 6);
  return frame;
}

// The harness's monitor has no receive thread: nothing runs beside an
// input, so it runs the same way every time. The card's ring is then
// drained when, and only when, its owner asks.
TEST_F(IsolationFindings, WithoutAReceiveThreadTheCardIsDrainedOnlyWhenAsked) {
  MonitorConfig config;
  config.sharing.run_service_thread = false;
  config.sharing.poll_interval = std::chrono::microseconds(100);
  start(config);
  card_.chip().deliver(frame_from(kOutsideMac, 100, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // many poll intervals
  EXPECT_EQ(monitor_->stats().frames_drained, 0u) << "something drained the card";
  monitor_->drain_now();
  EXPECT_EQ(monitor_->stats().frames_drained, 1u);
}

// Guest a (byte mode) reads the last byte of its transmit area. The model
// lets it (one byte, inside the area) and the monitor copies it from the
// card into a's own card, reading the card in words: the card moves 0x45ff
// and 0x4600, the first byte of b's area. That byte must go nowhere: a's
// data port gives the last byte of its area, then nothing (all ones).
TEST_F(IsolationFindings, AByteModeReadOfTheLastByteOfItsAreaShowsNothingOfTheNext) {
  MonitorConfig config;
  config.tx_pages = 6;  // the layout of the finding: b's area right at 0x4600
  start(config);
  a_->init(kByteDcr);
  b_->init(kWordDcr);
  Bytes mine(0x600, 0x5a);
  a_->write_area(0x4000, mine);
  const Bytes theirs = frame_from(kMacB, 64, 0xc3);  // b's frame, waiting on the card
  b_->write_area(0x4000, theirs);
  ASSERT_EQ(card_state().memory[0x600], theirs[0]) << "b's frame is not where the test expects it";

  a_->start_remote(0x45ff, 1, false);
  const std::uint32_t word = a_->window().port_read(kDataPort, 2);
  Bytes rest(8);
  a_->window().port_read_string(kDataPort, 1, rest);
  EXPECT_EQ(word & 0xff, 0x5au) << "the last byte of a's area";
  EXPECT_EQ(word >> 8, 0xffu) << "a byte past a's area reached a";
  EXPECT_EQ(rest, Bytes(8, 0xff)) << "bytes past a's area reached a";
  EXPECT_TRUE(checks(checks_a_).empty());
  EXPECT_TRUE(checks(checks_b_).empty());
}

}  // namespace
}  // namespace vpio::devices

// The conformance suite every registered device runs (devices.cpp adds a
// device with one line): its stand-in card, shared by two guests through
// the device's monitor, the guests driven by the device's driver
// (guest_driver.hpp). No KVM: the guests' windows are driven as the VMM's
// vCPU threads drive them, and the card is the device's own chip on a wire.
// What every device must show:
//  - a driver probes, opens and reads its own guest's MAC;
//  - frames go out under their sender's MAC, intact and in order, and
//    reach the other guest (the card does not hear itself) and the wire;
//    frames from the wire reach the guest they are for;
//  - the guests take turns on the card, frame by frame, with nothing lost
//    across the context switches;
//  - from any state a guest left its card in (a random access stream), a
//    fresh driver opens it and works, and the other guest never noticed;
//  - isolation: beside an honest guest mid-transfer, a hostile guest's
//    random accesses never change the honest guest's frames, never put a
//    frame on the wire under another's MAC, never get it a frame that is
//    not for it, and never give the honest guest a machine check; every
//    DMA target the model passes lies in the guest's share.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "devices/registry.hpp"
#include "tests/conformance/frames.hpp"
#include "tests/conformance/guest_driver.hpp"
#include "tests/support/frame_recorder.hpp"

namespace vpio::conformance {
namespace {

using namespace std::chrono_literals;

const hw::MacAddress kMacA{{0x52, 0x54, 0x00, 0xc0, 0x00, 0x0a}};
const hw::MacAddress kMacB{{0x52, 0x54, 0x00, 0xc0, 0x00, 0x0b}};
const hw::MacAddress kStation{{0x52, 0x54, 0x00, 0xc0, 0x00, 0x0c}};
const hw::MacAddress kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
constexpr std::size_t kSizes[] = {60, 61, 64, 127, 300, 512, 1000, 1513, 1514, 98};
constexpr auto kDeadline = 10s;

std::vector<Bytes> only(const std::vector<Bytes>& frames, const hw::MacAddress& source) {
  std::vector<Bytes> out;
  for (const Bytes& f : frames)
    if (f.size() >= 12 && source_of(f) == source) out.push_back(f);
  return out;
}

// The wire: what the card sends, recorded.
using Station = testing_support::FrameRecorder;

// A guest's RAM: where a bus master's driver keeps its buffers.
constexpr std::size_t kGuestRamBytes = 256 << 10;

struct Guest {
  hw::MacAddress mac;
  std::vector<std::uint8_t> ram = std::vector<std::uint8_t>(kGuestRamBytes);
  dmm::SharedGuest* share = nullptr;
  std::unique_ptr<GuestDriver> driver;
  std::vector<Bytes> inbox;
  std::vector<Bytes> sent;
  std::mutex checks_mutex;
  std::vector<dmm::ViolationReport> checks;  // machine checks it got
  std::size_t machine_checks() {
    std::lock_guard lock(checks_mutex);
    return checks.size();
  }
};

class Conformance : public ::testing::TestWithParam<ConformanceDevice> {
 protected:
  void SetUp() override {
    kind_ = devices::find_nic_kind(GetParam().kind);
    ASSERT_NE(kind_, nullptr) << GetParam().kind << " is not in the device table";
    ASSERT_NE(kind_->make_stand_in, nullptr);
    ASSERT_NE(kind_->make_monitor, nullptr) << kind_->name << " has no vpio mode";
    card_ = kind_->make_stand_in(kStation);
    card_->network_chip().set_transmit_sink(&wire_);
    devices::NicMonitorOptions options;
    options.sharers = 2;
    // A hostile guest's operation left holding the card is stopped soon.
    options.stall_limit = 50ms;
    monitor_ = kind_->make_monitor(*card_, options);
    add(a_, "a", kMacA);
    add(b_, "b", kMacB);
  }
  void TearDown() override {
    if (monitor_) monitor_->stop();
  }

  void add(Guest& g, const char* name, const hw::MacAddress& mac) {
    g.mac = mac;
    dmm::GuestCallbacks callbacks;
    callbacks.violation = [&g](const dmm::ViolationReport& r) {
      std::lock_guard lock(g.checks_mutex);
      g.checks.push_back(r);
    };
    callbacks.ram = dmm::GuestMemory({dmm::RamRange{0, g.ram.size(), g.ram.data(), 0}});
    g.share = &monitor_->add_guest(name, mac, std::move(callbacks));
    g.driver = GetParam().driver(g.share->window(), g.ram);
  }
  void open(Guest& g) {
    g.driver = GetParam().driver(g.share->window(), g.ram);  // a fresh instance, as a module loaded
    ASSERT_TRUE(g.driver->open()) << "the driver's probe failed";
    ASSERT_EQ(g.driver->mac(), g.mac);
  }
  void service(Guest& g) {
    g.driver->service();
    for (Bytes& f : g.driver->take_received()) g.inbox.push_back(std::move(f));
  }
  // Calls `step` until `done()` holds or kDeadline has passed; returns
  // whether it holds.
  template <typename Done, typename Step>
  static bool until(Done done, Step step) {
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      step();
    }
    return true;
  }
  // Services both guests, then lets the monitor's thread run.
  void service_both() {
    service(a_);
    service(b_);
    std::this_thread::sleep_for(200us);
  }
  void send(Guest& g, const Bytes& frame) {
    ASSERT_TRUE(until([&] { return g.driver->send(frame); }, [&] { service(g); }))
        << g.share->name() << "'s driver stayed busy (or its sends failed) for 10 s";
    g.sent.push_back(frame);
    service(g);
  }
  // Services both guests until each inbox holds `a` and `b` frames.
  void receive_until(std::size_t a, std::size_t b) {
    until([&] { return a_.inbox.size() >= a && b_.inbox.size() >= b; }, [&] { service_both(); });
    EXPECT_EQ(a_.inbox.size(), a) << "frames received by guest a";
    EXPECT_EQ(b_.inbox.size(), b) << "frames received by guest b";
  }
  // Services both guests until g's inbox holds `frame`.
  void wait_for(Guest& g, const Bytes& frame) {
    const auto arrived = [&] {
      return std::find(g.inbox.begin(), g.inbox.end(), frame) != g.inbox.end();
    };
    if (!until(arrived, [&] { service_both(); }))
      ADD_FAILURE() << g.share->name() << " never received a frame of " << frame.size()
                    << " bytes from " << source_of(frame).to_string() << "; " << counts();
  }
  // Everyone's counts, for a failure's message.
  std::string counts() const {
    const auto card = card_->network_chip().counts();
    std::string text = "card: received " + std::to_string(card.frames_received) + ", dropped " +
                       std::to_string(card.frames_dropped) + "; monitor:";
    for (const auto& [name, value] : monitor_->report().counts)
      text += " " + name + " " + std::to_string(value);
    for (const Guest* g : {&a_, &b_}) {
      text += "; " + g->share->name() + ":";
      for (const auto& [name, value] : g->share->report().counts)
        text += " " + name + " " + std::to_string(value);
    }
    return text;
  }
  void from_wire(const Bytes& frame) { card_->network_chip().deliver(frame); }
  // A frame from the wire for these guests, delivered while their drivers
  // are idle: returns once each guest's card has stored it (its report's
  // frames_received grew). The monitor stores frames from its own thread;
  // one stored while a driver's handler is in its receive loop may wait for
  // the next frame (Linux's lib8390 acks PRX after its last look at CURR,
  // as on a card of its own), and the suite's wire sends no next frame.
  void from_wire_to(const Bytes& frame, std::initializer_list<Guest*> guests) {
    std::vector<std::uint64_t> before;
    for (Guest* g : guests) before.push_back(g->share->report().count("frames_received"));
    from_wire(frame);
    std::size_t i = 0;
    for (Guest* g : guests) {
      const auto stored = [&] { return g->share->report().count("frames_received") > before[i]; };
      if (!until(stored, [] { std::this_thread::sleep_for(100us); })) {
        ADD_FAILURE() << g->share->name() << "'s card never stored a frame from the wire; "
                      << counts();
        return;
      }
      ++i;
    }
  }

  // A hostile access: any port of the window, any width, any value.
  void random_access(Guest& g, std::mt19937& rng) {
    PassthroughWindow& w = g.share->window();
    const auto offset = static_cast<std::uint16_t>(rng() % w.ports());
    const unsigned size = 1u << (rng() % 2);
    switch (rng() % 4) {
      case 0: (void)w.port_read(offset, size); break;
      case 1:
      case 2: w.port_write(offset, size, static_cast<std::uint32_t>(rng())); break;
      default: {
        Bytes data((rng() % 64 + 1) * size);
        for (auto& byte : data) byte = static_cast<std::uint8_t>(rng());
        if (rng() % 2 == 0)
          w.port_write_string(offset, size, data);
        else
          w.port_read_string(offset, size, data);
      }
    }
  }

  void expect_no_machine_checks(Guest& g) {
    std::lock_guard lock(g.checks_mutex);
    for (const auto& r : g.checks)
      ADD_FAILURE() << g.share->name() << " got a machine check: code " << r.code << " address 0x"
                    << std::hex << r.address << " window offset 0x" << r.window_offset;
  }
  static void expect_frames(const std::string& what, const std::vector<Bytes>& got,
                            const std::vector<Bytes>& wanted) {
    ASSERT_EQ(got.size(), wanted.size()) << what;
    for (std::size_t i = 0; i < got.size(); ++i)
      EXPECT_EQ(got[i], wanted[i]) << what << ", frame " << i;
  }
  // A frame the device carries intact: its length as the device has it.
  static Bytes sized_frame(const hw::MacAddress& to, const hw::MacAddress& from, std::size_t size,
                           unsigned seed) {
    return make_frame(to, from, carried_size(GetParam(), size), seed);
  }
  std::uint64_t targets_refused() const { return monitor_->report().count("targets_refused"); }

  const devices::NicKind* kind_ = nullptr;
  Station wire_;
  std::unique_ptr<hw::StandInDevice> card_;
  std::unique_ptr<dmm::nic::NicMonitor> monitor_;
  Guest a_, b_;
};

TEST_P(Conformance, ADriverProbesOpensAndReadsItsOwnGuestsMac) {
  open(a_);
  open(b_);
  expect_no_machine_checks(a_);
  expect_no_machine_checks(b_);
}

TEST_P(Conformance, FramesReachTheWireAndTheOtherGuestIntactUnderTheirSendersMac) {
  open(a_);
  open(b_);
  std::vector<Bytes> to_a, to_b;
  for (unsigned i = 0; i < std::size(kSizes); ++i) {
    const hw::MacAddress& a_to = i % 2 == 0 ? kStation : kMacB;
    const hw::MacAddress& b_to = i % 2 == 0 ? kMacA : kStation;
    const Bytes from_a = sized_frame(a_to, kMacA, kSizes[i], i);
    const Bytes from_b = sized_frame(b_to, kMacB, kSizes[(i + 5) % std::size(kSizes)], 0x40 + i);
    send(a_, from_a);
    send(b_, from_b);
    if (HasFatalFailure()) return;
    if (a_to == kMacB) to_b.push_back(from_a);
    if (b_to == kMacA) to_a.push_back(from_b);
    const Bytes for_a = sized_frame(kMacA, kStation, kSizes[(i + 3) % std::size(kSizes)], 0x80 + i);
    const Bytes for_b = sized_frame(kMacB, kStation, kSizes[(i + 7) % std::size(kSizes)], 0xc0 + i);
    from_wire_to(for_a, {&a_});
    from_wire_to(for_b, {&b_});
    to_a.push_back(for_a);
    to_b.push_back(for_b);
    // Frames for neither guest are for nobody here.
    from_wire(sized_frame(kStation, kStation, 60, i));
    receive_until(to_a.size(), to_b.size());
  }
  const Bytes broadcast = sized_frame(kBroadcast, kStation, 60, 0xee);
  from_wire_to(broadcast, {&a_, &b_});
  to_a.push_back(broadcast);
  to_b.push_back(broadcast);
  receive_until(to_a.size(), to_b.size());

  expect_frames("guest a's frames on the wire", only(wire_.frames(), kMacA), a_.sent);
  expect_frames("guest b's frames on the wire", only(wire_.frames(), kMacB), b_.sent);
  EXPECT_EQ(wire_.frames().size(), a_.sent.size() + b_.sent.size()) << "a frame from neither guest";
  // Frames for a guest arrive in order from each source.
  for (const auto* source : {&kMacA, &kMacB, &kStation}) {
    expect_frames("received by a from " + source->to_string(), only(a_.inbox, *source),
                  only(to_a, *source));
    expect_frames("received by b from " + source->to_string(), only(b_.inbox, *source),
                  only(to_b, *source));
  }
  expect_no_machine_checks(a_);
  expect_no_machine_checks(b_);
  EXPECT_EQ(a_.driver->complaints(), std::vector<std::string>{});
  EXPECT_EQ(b_.driver->complaints(), std::vector<std::string>{});
  EXPECT_EQ(targets_refused(), 0u);
}

TEST_P(Conformance, TheGuestsTakeTurnsOnTheCardFrameByFrameAndNothingIsLost) {
  open(a_);
  open(b_);
  for (unsigned i = 0; i < 40; ++i) {
    send(a_, sized_frame(kStation, kMacA, kSizes[i % std::size(kSizes)], i));
    send(b_, sized_frame(kStation, kMacB, kSizes[(i + 1) % std::size(kSizes)], 0x80 + i));
    if (HasFatalFailure()) return;
  }
  receive_until(0, 0);
  expect_frames("guest a's frames on the wire", only(wire_.frames(), kMacA), a_.sent);
  expect_frames("guest b's frames on the wire", only(wire_.frames(), kMacB), b_.sent);
  // The card changed hands at least once per round.
  EXPECT_GE(monitor_->report().count("context_switches"), 40u);
  expect_no_machine_checks(a_);
  expect_no_machine_checks(b_);
}

TEST_P(Conformance, AFreshDriverWorksFromAnyStateAGuestLeftItsCardIn) {
  open(b_);
  for (unsigned seed = 1; seed <= 30; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    for (unsigned n = 0; n < 200; ++n) random_access(a_, rng);
    open(a_);
    a_.inbox.clear();
    b_.inbox.clear();
    const Bytes to_b = sized_frame(kMacB, kMacA, kSizes[seed % std::size(kSizes)], seed);
    const Bytes to_a = sized_frame(kMacA, kMacB, kSizes[(seed + 3) % std::size(kSizes)], seed);
    const Bytes from_station = sized_frame(kMacA, kStation, 200, seed);
    send(a_, to_b);
    send(b_, to_a);
    if (HasFatalFailure()) return;
    from_wire_to(from_station, {&a_});
    // The random stream may also have had the card send a frame of the
    // guest's again (its buffer still held one, under its own MAC): legal.
    wait_for(b_, to_b);
    wait_for(a_, to_a);
    wait_for(a_, from_station);
    for (const Bytes& f : b_.inbox)
      EXPECT_EQ(source_of(f), kMacA) << "guest b got a frame not from guest a";
    EXPECT_EQ(only(a_.inbox, kMacB), std::vector<Bytes>{to_a});
    EXPECT_EQ(only(a_.inbox, kStation), std::vector<Bytes>{from_station});
    if (HasFailure()) return;
  }
  expect_no_machine_checks(b_);
  EXPECT_EQ(targets_refused(), 0u);
}

TEST_P(Conformance, AHostileGuestBesideAnHonestOneReachesNothingOfIts) {
  for (unsigned seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(1000 + seed);
    open(b_);
    b_.inbox.clear();
    b_.sent.clear();
    const std::size_t wire_before = wire_.frames().size();
    std::vector<Bytes> to_b;
    for (unsigned i = 0; i < 20; ++i) {
      for (unsigned n = 0; n < 20; ++n) random_access(a_, rng);
      send(b_, sized_frame(kStation, kMacB, kSizes[(seed + i) % std::size(kSizes)], i));
      if (HasFatalFailure()) return;
      for (unsigned n = 0; n < 20; ++n) random_access(a_, rng);
      to_b.push_back(sized_frame(kMacB, kStation, kSizes[(seed + 2 * i) % std::size(kSizes)], i));
      if (i % 5 == 0) from_wire(sized_frame(kMacA, kStation, 100, i));  // for the hostile guest
      // The wire waits for the honest guest to take each frame: a burst
      // faster than the card drains would be lost on the card (its queue
      // full), which is no fault of the hostile guest's.
      from_wire_to(to_b.back(), {&b_});
      wait_for(b_, to_b.back());
    }
    until([&] { return only(b_.inbox, kStation).size() >= to_b.size(); },
          [&] {
            service(b_);
            std::this_thread::sleep_for(200us);
          });
    expect_frames("the honest guest's frames from the wire", only(b_.inbox, kStation), to_b);
    if (HasFailure()) ADD_FAILURE() << counts();
    for (const Bytes& f : b_.inbox)
      EXPECT_TRUE(destination_of(f) == kMacB || destination_of(f).is_group())
          << "the honest guest got a frame for " << destination_of(f).to_string();
    std::vector<Bytes> wire = wire_.frames();
    wire.erase(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(wire_before));
    expect_frames("the honest guest's frames on the wire", only(wire, kMacB), b_.sent);
    for (const Bytes& f : wire)
      EXPECT_TRUE(f.size() >= 14 && (source_of(f) == kMacA || source_of(f) == kMacB))
          << "a frame on the wire under neither guest's MAC";
    expect_no_machine_checks(b_);
    EXPECT_EQ(b_.driver->complaints(), std::vector<std::string>{});
    if (HasFailure()) return;
  }
  // The hostile guest heard nothing but what was for it (the honest guest
  // sent only to the station; the wire sent it only its own).
  const dmm::Report hostile = a_.share->report();
  EXPECT_LE(hostile.count("frames_received") + hostile.count("frames_queued") +
                hostile.count("frames_missed") + hostile.count("frames_filtered") +
                hostile.count("queue_drops"),
            12u * 4u);
  EXPECT_EQ(targets_refused(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Devices, Conformance, ::testing::ValuesIn(conformance_devices()),
                         [](const ::testing::TestParamInfo<ConformanceDevice>& param_info) {
                           return std::string(param_info.param.kind);
                         });

}  // namespace
}  // namespace vpio::conformance

// The hooked-I/O list and its dispatch, with a fake device and a fake monitor:
// each access goes exactly one way, the list can change between accesses, and
// the counts are exact per port, path and direction.
#include <gtest/gtest.h>

#include <vector>

#include "hooks/hooked_ports.hpp"
#include "devices/ne2000/chip_device.hpp"

namespace vpio {
namespace {

class FakeDevice final : public hw::PhysicalDevice {
 public:
  std::string describe() const override { return "fake"; }
  std::uint32_t read(std::uint16_t offset, unsigned) override {
    ++reads;
    return 0xd000u + offset;
  }
  void write(std::uint16_t, unsigned, std::uint32_t value) override {
    ++writes;
    last = value;
  }
  void read_string(std::uint16_t, unsigned size, std::span<std::uint8_t> data) override {
    string_elements += data.size() / size;
    for (auto& b : data) b = 0xdd;
  }
  void write_string(std::uint16_t, unsigned size, std::span<const std::uint8_t> data) override {
    string_elements += data.size() / size;
  }
  void set_interrupt_handler(std::function<void()>) override {}
  unsigned reads = 0, writes = 0;
  std::uint64_t string_elements = 0;
  std::uint32_t last = 0;
};

class FakeMonitor final : public HookedIoHandler {
 public:
  std::uint32_t hooked_read(std::uint16_t offset, unsigned) noexcept override {
    ++reads;
    return 0xa000u + offset;
  }
  void hooked_write(std::uint16_t, unsigned, std::uint32_t value) noexcept override {
    ++writes;
    last = value;
  }
  unsigned reads = 0, writes = 0;
  std::uint32_t last = 0;
};

TEST(PassthroughWindow, EachAccessGoesExactlyOneWay) {
  FakeDevice device;
  FakeMonitor monitor;
  PassthroughWindow window(0x20, device, monitor);
  window.hook(0x00);
  window.hook(0x1f);
  EXPECT_EQ(window.port_read(0x00, 1), 0xa000u);
  EXPECT_EQ(window.port_read(0x07, 1), 0xd007u);
  window.port_write(0x1f, 1, 5);
  window.port_write(0x10, 2, 0x1234);
  EXPECT_EQ(monitor.reads, 1u);
  EXPECT_EQ(monitor.writes, 1u);
  EXPECT_EQ(monitor.last, 5u);
  EXPECT_EQ(device.reads, 1u);
  EXPECT_EQ(device.writes, 1u);
  EXPECT_EQ(device.last, 0x1234u);
}

TEST(PassthroughWindow, TheListChangesAtRunTime) {
  FakeDevice device;
  FakeMonitor monitor;
  PassthroughWindow window(0x20, device, monitor);
  EXPECT_EQ(window.port_read(0x10, 2), 0xd010u);
  window.hook(0x10);
  EXPECT_EQ(window.port_read(0x10, 2), 0xa010u);
  window.unhook(0x10);
  EXPECT_EQ(window.port_read(0x10, 2), 0xd010u);
  window.hook_all();
  for (std::uint16_t p = 0; p < 0x20; ++p) EXPECT_TRUE(window.hooked(p));
  EXPECT_FALSE(window.hooked(0x20));
  window.hook(0x40);  // outside the window: ignored
  EXPECT_FALSE(window.hooked(0x40));
}

TEST(PassthroughWindow, EachDirectionIsHookedOnItsOwn) {
  FakeDevice device;
  FakeMonitor monitor;
  PassthroughWindow window(0x20, device, monitor);
  window.hook_all();
  window.set_hooked(0x10, true, false);  // writes direct, reads through the monitor
  EXPECT_FALSE(window.hooked(0x10));
  EXPECT_TRUE(window.reads_hooked(0x10));
  EXPECT_FALSE(window.writes_hooked(0x10));
  EXPECT_EQ(window.port_read(0x10, 1), 0xa010u);
  std::vector<std::uint8_t> buffer(8);
  window.port_read_string(0x10, 1, buffer);
  window.port_write(0x10, 1, 0x77);
  window.port_write_string(0x10, 1, buffer);
  EXPECT_EQ(monitor.reads, 1u + 8u);
  EXPECT_EQ(device.reads, 0u);
  EXPECT_EQ(device.writes, 1u);
  EXPECT_EQ(device.string_elements, 8u);
}

// A wide access goes direct only if every port it covers does: it must not
// carry a byte past the monitor to a hooked neighbour, or out of the window.
TEST(PassthroughWindow, AWideAccessIsDirectOnlyIfEveryPortItCoversIs) {
  FakeDevice device;
  FakeMonitor monitor;
  PassthroughWindow window(0x20, device, monitor);
  window.hook_all();
  window.unhook(0x10);
  window.unhook(0x11);
  window.port_write(0x10, 2, 1);  // 0x10..0x11: direct
  window.port_write(0x10, 4, 2);  // 0x12..0x13 hooked: the monitor
  window.port_write(0x0f, 2, 3);  // 0x0f hooked: the monitor
  EXPECT_EQ(device.writes, 1u);
  EXPECT_EQ(monitor.writes, 2u);
  window.unhook(0x12);
  window.unhook(0x13);
  window.port_write(0x10, 4, 4);
  EXPECT_EQ(device.writes, 2u);
  for (std::uint16_t p = 0x1c; p < 0x20; ++p) window.unhook(p);
  window.port_write(0x1e, 4, 5);  // 0x20..0x21 are past the window
  EXPECT_EQ((window.port_read(0x1e, 4)), 0xa01eu);
  EXPECT_EQ(device.writes, 2u);
  EXPECT_EQ(monitor.writes, 3u);
}

TEST(PassthroughWindow, StringElementsAreCountedPerPathExactly) {
  FakeDevice device;
  FakeMonitor monitor;
  PassthroughWindow window(0x20, device, monitor);
  std::vector<std::uint8_t> buffer(1514);
  window.port_write_string(0x10, 2, buffer);  // 757 words, direct
  window.port_read_string(0x10, 2, std::span(buffer).first(8));
  window.hook(0x10);
  window.port_read_string(0x10, 2, std::span(buffer).first(100));  // 50 words, hooked
  window.port_write(0x00, 1, 0x22);
  EXPECT_EQ(device.string_elements, 757u + 4u);
  EXPECT_EQ(monitor.reads, 50u);  // the default string handler loops
  const PortCounters& c = window.counters();
  EXPECT_EQ(c.count(0x10, IoPath::direct, true), 757u);
  EXPECT_EQ(c.count(0x10, IoPath::direct, false), 4u);
  EXPECT_EQ(c.count(0x10, IoPath::hooked, false), 50u);
  EXPECT_EQ(c.count(0x00, IoPath::direct, true), 1u);
  EXPECT_EQ(c.total(IoPath::direct), 762u);
  EXPECT_EQ(c.total(IoPath::hooked), 50u);
  EXPECT_EQ(c.total(IoPath::emulated), 0u);
  EXPECT_EQ(c.total(), 812u);
  EXPECT_EQ(c.count(0x40, IoPath::direct, true), 0u);
}

TEST(PassthroughWindow, RejectsImpossibleWindows) {
  FakeDevice device;
  FakeMonitor monitor;
  EXPECT_THROW(PassthroughWindow(0, device, monitor), std::invalid_argument);
  EXPECT_THROW(PassthroughWindow(257, device, monitor), std::invalid_argument);
}

TEST(ChipDevice, ForwardsToTheChipAndReportsRisingEdges) {
  devices::ChipDevice device(hw::MacAddress{{2, 0, 0, 0, 0, 1}});
  int interrupts = 0;
  device.set_interrupt_handler([&] { ++interrupts; });
  device.write(devices::Ne2000::kResetPort, 1, 0);
  EXPECT_EQ(device.read(0x07, 1) & 0x80, 0x80u);  // ISR.RST
  device.write(0x0f, 1, 0x40);                    // IMR: remote DMA complete
  device.write(0x0a, 1, 2);                       // RBCR = 2
  device.write(0x0b, 1, 0);
  device.write(0x08, 1, 0);  // RSAR = 0x4000
  device.write(0x09, 1, 0x40);
  device.write(0x00, 1, 0x12);  // remote write
  std::uint8_t two[2] = {1, 2};
  device.write_string(devices::Ne2000::kDataPort, 1, two);
  EXPECT_EQ(device.read(0x07, 1) & 0x40, 0x40u) << "ISR.RDC after the count ran out";
  EXPECT_EQ(interrupts, 1);
}

// Records what the window asks of the machine's posted writes.
class FakePostedWrites final : public PostedWrites {
 public:
  void post_writes(std::uint16_t port, std::uint16_t bytes, bool on) noexcept override {
    calls.push_back({port, bytes, on});
  }
  struct Call {
    std::uint16_t port, bytes;
    bool on;
    bool operator==(const Call&) const = default;
  };
  std::vector<Call> calls;
};

TEST(PassthroughWindow, PostedWritesFollowTheHookedList) {
  FakeDevice device;
  FakeMonitor monitor;
  FakePostedWrites posted;
  PassthroughWindow window(0x20, device, monitor);
  window.hook_all();
  window.post_direct_writes(posted, 0x300, 0x10, 4);
  EXPECT_TRUE(posted.calls.empty()) << "a hooked port is not posted";
  window.unhook(0x10);
  window.unhook(0x10);  // no change: no second registration
  window.unhook(0x03);  // another port: not posted
  window.hook(0x10);
  window.hook_all();  // already hooked: nothing
  window.unhook(0x10);
  using Call = FakePostedWrites::Call;
  EXPECT_EQ(posted.calls,
            (std::vector<Call>{{0x310, 4, true}, {0x310, 4, false}, {0x310, 4, true}}));
}

TEST(PassthroughWindow, APortDirectAtTheStartIsPostedAtOnce) {
  FakeDevice device;
  FakeMonitor monitor;
  FakePostedWrites posted;
  PassthroughWindow window(0x20, device, monitor);
  window.post_direct_writes(posted, 0x240, 0x10, 2);
  ASSERT_EQ(posted.calls.size(), 1u);
  EXPECT_EQ(posted.calls[0].port, 0x250);
  EXPECT_TRUE(posted.calls[0].on);
}

TEST(PassthroughWindow, PostedRangeMustLieInTheWindow) {
  FakeDevice device;
  FakeMonitor monitor;
  FakePostedWrites posted;
  PassthroughWindow window(0x20, device, monitor);
  EXPECT_THROW(window.post_direct_writes(posted, 0x300, 0x1e, 4), std::invalid_argument);
  EXPECT_THROW(window.post_direct_writes(posted, 0x300, 0x20, 1), std::invalid_argument);
  EXPECT_THROW(window.post_direct_writes(posted, 0x300, 0x10, 0), std::invalid_argument);
}

// A posted write drained after the port was hooked again goes to the
// monitor, as any hooked write; one drained while direct counts as coalesced.
TEST(PassthroughWindow, PostedWritesAreCountedByTheWayTheyWent) {
  FakeDevice device;
  FakeMonitor monitor;
  PassthroughWindow window(0x20, device, monitor);
  const std::vector<std::uint8_t> words(8, 0x5a);  // four 2-byte elements
  window.port_write_posted(0x10, 2, words);
  EXPECT_EQ(device.string_elements, 4u);
  EXPECT_EQ(window.last_path(), IoPath::coalesced);
  window.hook(0x10);
  window.port_write_posted(0x10, 2, words);
  EXPECT_EQ(monitor.writes, 4u);
  EXPECT_EQ(window.last_path(), IoPath::hooked);
  const PortCounters& c = window.counters();
  EXPECT_EQ(c.count(0x10, IoPath::coalesced, true), 4u);
  EXPECT_EQ(c.count(0x10, IoPath::hooked, true), 4u);
  EXPECT_EQ(c.count(0x10, IoPath::direct, true), 0u);
  EXPECT_EQ(c.total(), 8u);
}

}  // namespace
}  // namespace vpio

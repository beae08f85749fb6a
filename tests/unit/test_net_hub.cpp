// Hub fan-out, counting, drops and topology changes under load; the
// FrameQueue mailbox the other wire tests rely on.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

#include "hw/net/mac_address.hpp"
#include "net/frame_queue.hpp"
#include "net/hub.hpp"
#include "tests/support/net_test_names.hpp"

namespace vpio::net {
namespace {

// The wires carry hw/'s frames.

using namespace std::chrono_literals;

constexpr std::uint8_t kTestEtherTypeHigh = 0x88;  // 0x88b5: IEEE local experimental
constexpr std::uint8_t kTestEtherTypeLow = 0xb5;
constexpr std::size_t kSourceIdOffset = 11;  // last byte of the source MAC
constexpr std::size_t kSequenceOffset = 14;  // first payload byte

// A broadcast frame that says who sent it and its sequence number.
std::vector<std::uint8_t> make_frame(std::uint8_t source_id, std::uint32_t sequence,
                                     std::size_t length = kMinFrameBytes) {
  std::vector<std::uint8_t> frame(length, 0);
  for (std::size_t i = 0; i < 6 && i < length; ++i) frame[i] = 0xff;
  const std::array<std::uint8_t, 6> source = {0x02, 0, 0, 0, 0, source_id};
  for (std::size_t i = 0; i < source.size() && 6 + i < length; ++i) frame[6 + i] = source[i];
  if (length >= kEthernetHeaderBytes) {
    frame[12] = kTestEtherTypeHigh;
    frame[13] = kTestEtherTypeLow;
  }
  for (std::size_t i = 0; i < 4 && kSequenceOffset + i < length; ++i) {
    frame[kSequenceOffset + i] = static_cast<std::uint8_t>(sequence >> (8 * i));
  }
  for (std::size_t i = kSequenceOffset + 4; i < length; ++i) {
    frame[i] = static_cast<std::uint8_t>(i ^ sequence ^ source_id);
  }
  return frame;
}

std::uint32_t sequence_of(std::span<const std::uint8_t> frame) {
  std::uint32_t sequence = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    sequence |= static_cast<std::uint32_t>(frame[kSequenceOffset + i]) << (8 * i);
  }
  return sequence;
}

// Counts frames and checks that each source's frames arrive complete and in
// order; cheap enough for tens of thousands of frames.
class CountingSink final : public FrameSink {
 public:
  static constexpr std::size_t kMaxSources = 8;

  void deliver(std::span<const std::uint8_t> frame) override {
    frames.fetch_add(1);
    bytes.fetch_add(frame.size());
    const std::uint8_t source = frame[kSourceIdOffset];
    if (source >= kMaxSources) {
      misordered.fetch_add(1);
      return;
    }
    // One sender thread per source, so this slot has one writer.
    const std::uint32_t expected = next_sequence[source].load();
    if (sequence_of(frame) != expected) misordered.fetch_add(1);
    next_sequence[source].store(sequence_of(frame) + 1);
  }

  std::atomic<std::uint64_t> frames{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::uint64_t> misordered{0};
  std::array<std::atomic<std::uint32_t>, kMaxSources> next_sequence{};
};

TEST(HubTest, FanOutReachesEveryOtherPortButNotTheSender) {
  Hub hub;
  FrameQueue a_inbox(16), b_inbox(16), c_inbox(16);
  HubPort& a = hub.attach(a_inbox, "a");
  HubPort& b = hub.attach(b_inbox, "b");
  hub.attach(c_inbox, "c");
  EXPECT_EQ(hub.port_count(), 3u);
  EXPECT_EQ(b.name(), "b");

  const auto frame = make_frame(1, 7, 100);
  a.deliver(frame);

  EXPECT_EQ(a_inbox.size(), 0u) << "a hub must not echo a frame to its sender";
  auto at_b = b_inbox.pop(0ms);
  auto at_c = c_inbox.pop(0ms);
  ASSERT_TRUE(at_b && at_c);
  EXPECT_EQ(*at_b, frame);
  EXPECT_EQ(*at_c, frame);

  const HubPortCounters sent = a.counters();
  EXPECT_EQ(sent.frames_sent, 1u);
  EXPECT_EQ(sent.bytes_sent, 100u);
  EXPECT_EQ(sent.frames_received, 0u);
  const HubPortCounters received = b.counters();
  EXPECT_EQ(received.frames_received, 1u);
  EXPECT_EQ(received.bytes_received, 100u);
  EXPECT_EQ(received.frames_sent, 0u);
  EXPECT_EQ(hub.counters().frames_forwarded, 1u);
}

TEST(HubTest, ObserversSeeEachFrameExactlyOnce) {
  Hub hub;
  FrameQueue a_inbox(16), b_inbox(16), c_inbox(16);
  FrameQueue recorder(16), tracer(16);
  HubPort& a = hub.attach(a_inbox, "a");
  HubPort& b = hub.attach(b_inbox, "b");
  HubPort& c = hub.attach(c_inbox, "c");
  hub.add_observer(recorder);
  hub.add_observer(tracer);
  EXPECT_THROW(hub.add_observer(recorder), std::invalid_argument);

  a.deliver(make_frame(1, 0));
  b.deliver(make_frame(2, 0));
  c.deliver(make_frame(3, 0));

  for (FrameQueue* observer : {&recorder, &tracer}) {
    ASSERT_EQ(observer->size(), 3u);
    for (int source : {1, 2, 3}) {
      auto frame = observer->pop(0ms);
      ASSERT_TRUE(frame);
      EXPECT_EQ((*frame)[kSourceIdOffset], source);
    }
  }

  hub.remove_observer(tracer);
  EXPECT_THROW(hub.remove_observer(tracer), std::invalid_argument);
  a.deliver(make_frame(1, 1));
  EXPECT_EQ(recorder.size(), 1u);
  EXPECT_EQ(tracer.size(), 0u);
}

TEST(HubTest, ConcurrentSendersAreCountedExactly) {
  constexpr std::size_t kSenders = 4;
  constexpr std::uint32_t kFramesPerSender = 10'000;

  Hub hub;
  std::array<CountingSink, kSenders> receivers;
  CountingSink observer;
  std::vector<HubPort*> ports;
  for (std::size_t i = 0; i < kSenders; ++i) {
    ports.push_back(&hub.attach(receivers[i], "guest" + std::to_string(i)));
  }
  hub.add_observer(observer);

  // Frame lengths vary with the sequence so that byte counts are checked too.
  auto length_of = [](std::uint32_t sequence) { return kMinFrameBytes + sequence % 64; };
  std::uint64_t bytes_per_sender = 0;
  for (std::uint32_t s = 0; s < kFramesPerSender; ++s) bytes_per_sender += length_of(s);

  std::vector<std::thread> senders;
  for (std::size_t i = 0; i < kSenders; ++i) {
    senders.emplace_back([&, i] {
      const auto source = static_cast<std::uint8_t>(i);
      for (std::uint32_t s = 0; s < kFramesPerSender; ++s) {
        ports[i]->deliver(make_frame(source, s, length_of(s)));
      }
    });
  }
  for (std::thread& t : senders) t.join();

  constexpr std::uint64_t kTotal = kSenders * kFramesPerSender;
  EXPECT_EQ(hub.counters().frames_forwarded, kTotal);
  EXPECT_EQ(hub.counters().frames_dropped(), 0u);
  EXPECT_EQ(observer.frames.load(), kTotal);
  EXPECT_EQ(observer.bytes.load(), kSenders * bytes_per_sender);
  EXPECT_EQ(observer.misordered.load(), 0u);
  for (std::size_t i = 0; i < kSenders; ++i) {
    SCOPED_TRACE("port " + std::to_string(i));
    EXPECT_EQ(receivers[i].frames.load(), kTotal - kFramesPerSender);
    EXPECT_EQ(receivers[i].bytes.load(), (kSenders - 1) * bytes_per_sender);
    EXPECT_EQ(receivers[i].misordered.load(), 0u);
    const HubPortCounters c = ports[i]->counters();
    EXPECT_EQ(c.frames_sent, kFramesPerSender);
    EXPECT_EQ(c.bytes_sent, bytes_per_sender);
    EXPECT_EQ(c.frames_received, kTotal - kFramesPerSender);
    EXPECT_EQ(c.bytes_received, (kSenders - 1) * bytes_per_sender);
    EXPECT_EQ(c.frames_refused, 0u);
  }
}

TEST(HubTest, RuntAndOversizeFramesAreDroppedAndCounted) {
  Hub hub;
  FrameQueue a_inbox(16), b_inbox(16), observed(16);
  HubPort& a = hub.attach(a_inbox, "a");
  hub.attach(b_inbox, "b");
  hub.add_observer(observed);

  a.deliver({});
  a.deliver(make_frame(1, 0, kEthernetHeaderBytes - 1));
  a.deliver(make_frame(1, 1, kEthernetHeaderBytes));  // smallest accepted
  a.deliver(make_frame(1, 2, kMaxTaggedFrameBytes));  // largest accepted
  a.deliver(make_frame(1, 3, kMaxTaggedFrameBytes + 1));
  a.deliver(make_frame(1, 4, 9000));  // a jumbo frame

  const HubCounters counters = hub.counters();
  EXPECT_EQ(counters.runts_dropped, 2u);
  EXPECT_EQ(counters.oversize_dropped, 2u);
  EXPECT_EQ(counters.frames_dropped(), 4u);
  EXPECT_EQ(counters.frames_forwarded, 2u);
  EXPECT_EQ(a.counters().frames_refused, 4u);
  EXPECT_EQ(a.counters().frames_sent, 2u);
  EXPECT_EQ(b_inbox.size(), 2u);
  EXPECT_EQ(observed.size(), 2u);
  EXPECT_EQ(b_inbox.pop(0ms)->size(), kEthernetHeaderBytes);
  EXPECT_EQ(b_inbox.pop(0ms)->size(), kMaxTaggedFrameBytes);
}

TEST(HubTest, DetachedPortNeitherReceivesNorSends) {
  Hub hub;
  FrameQueue a_inbox(16), b_inbox(16), c_inbox(16);
  HubPort& a = hub.attach(a_inbox, "a");
  HubPort& b = hub.attach(b_inbox, "b");
  hub.attach(c_inbox, "c");

  hub.detach(b);
  EXPECT_EQ(hub.port_count(), 2u);
  EXPECT_THROW(hub.detach(b), std::invalid_argument);

  a.deliver(make_frame(1, 0));
  EXPECT_EQ(b_inbox.size(), 0u);
  EXPECT_EQ(c_inbox.size(), 1u);

  // A late send through the detached port is dropped, not a crash.
  b.deliver(make_frame(2, 0));
  EXPECT_EQ(a_inbox.size(), 0u);
  EXPECT_EQ(c_inbox.size(), 1u);
  EXPECT_EQ(hub.counters().detached_dropped, 1u);
  EXPECT_EQ(b.counters().frames_refused, 1u);

  Hub other;
  FrameQueue stranger_inbox(1);
  HubPort& stranger = other.attach(stranger_inbox, "stranger");
  EXPECT_THROW(hub.detach(stranger), std::invalid_argument);
}

TEST(HubTest, AttachAndDetachWhileFramesFlow) {
  constexpr std::size_t kSenders = 2;
  Hub hub;
  std::array<CountingSink, kSenders> receivers;
  std::vector<HubPort*> ports;
  for (std::size_t i = 0; i < kSenders; ++i) {
    ports.push_back(&hub.attach(receivers[i], "sender" + std::to_string(i)));
  }

  std::atomic<bool> running{true};
  std::array<std::uint32_t, kSenders> sent{};
  std::vector<std::thread> senders;
  for (std::size_t i = 0; i < kSenders; ++i) {
    senders.emplace_back([&, i] {
      std::uint32_t s = 0;
      while (running.load()) {
        ports[i]->deliver(make_frame(static_cast<std::uint8_t>(i), s++));
        // Like a vCPU that also runs its guest; keeps a 2-CPU host responsive.
        if (s % 32 == 0) std::this_thread::yield();
      }
      sent[i] = s;
    });
  }

  // A guest that comes and goes. Once detach returns its mailbox must see
  // nothing more, even though the senders keep going. The mailbox is small:
  // what matters is what reaches it (queued or dropped), not what it keeps.
  // No ASSERT in here: returning early would leave the senders running.
  for (int round = 0; round < 50; ++round) {
    FrameQueue visitor(16);
    auto reached_visitor = [&visitor] { return visitor.accepted() + visitor.dropped(); };
    HubPort& port = hub.attach(visitor, "visitor");
    const bool reached = visitor.wait_for_count(1, 5s);
    hub.detach(port);
    const std::uint64_t at_detach = reached_visitor();
    std::this_thread::sleep_for(1ms);
    const bool quiet_after_detach = reached_visitor() == at_detach;
    const bool counted = reached_visitor() == port.counters().frames_received;
    EXPECT_TRUE(reached && quiet_after_detach && counted)
        << "round " << round << ": reached " << reached << ", at detach " << at_detach << ", later "
        << reached_visitor() << ", port counted " << port.counters().frames_received;
    if (!(reached && quiet_after_detach && counted)) break;
  }
  running.store(false);
  for (std::thread& t : senders) t.join();

  EXPECT_EQ(hub.counters().frames_forwarded, std::uint64_t{sent[0]} + sent[1]);
  EXPECT_EQ(receivers[0].frames.load(), sent[1]);
  EXPECT_EQ(receivers[1].frames.load(), sent[0]);
  EXPECT_EQ(receivers[0].misordered.load() + receivers[1].misordered.load(), 0u);
  EXPECT_EQ(hub.port_count(), kSenders);
}

// A receiver that breaks the contract by calling back into its own hub.
class ReentrantSink final : public FrameSink {
 public:
  explicit ReentrantSink(Hub& hub) : hub_(hub) {}
  void deliver(std::span<const std::uint8_t> frame) override {
    if (port != nullptr) port->deliver(frame);  // would loop forever
    try {
      FrameQueue unused(1);
      hub_.attach(unused, "from inside");
    } catch (const std::logic_error&) {
      ++refused_topology_changes;
    }
  }
  HubPort* port = nullptr;
  int refused_topology_changes = 0;

 private:
  Hub& hub_;
};

TEST(HubTest, CallsBackIntoTheHubFromADeliveryAreRefused) {
  Hub hub;
  FrameQueue a_inbox(16);
  ReentrantSink echo(hub);
  HubPort& a = hub.attach(a_inbox, "a");
  echo.port = &hub.attach(echo, "echo");

  a.deliver(make_frame(1, 0));
  EXPECT_EQ(hub.counters().loop_dropped, 1u);
  EXPECT_EQ(echo.refused_topology_changes, 1);
  EXPECT_EQ(a_inbox.size(), 0u);
  EXPECT_EQ(hub.port_count(), 2u);
}

// Forwards to a port chosen after construction, so two hubs can be bridged.
class Bridge final : public FrameSink {
 public:
  void deliver(std::span<const std::uint8_t> frame) override { far_side->deliver(frame); }
  HubPort* far_side = nullptr;
};

TEST(HubTest, TwoHubsCanBeBridgedWithoutLooping) {
  Hub left, right;
  FrameQueue x_inbox(16), y_inbox(16);
  Bridge left_to_right, right_to_left;
  HubPort& x = left.attach(x_inbox, "x");
  HubPort& y = right.attach(y_inbox, "y");
  right_to_left.far_side = &left.attach(left_to_right, "bridge");
  left_to_right.far_side = &right.attach(right_to_left, "bridge");

  x.deliver(make_frame(1, 0));
  y.deliver(make_frame(2, 0));
  ASSERT_EQ(y_inbox.size(), 1u);
  ASSERT_EQ(x_inbox.size(), 1u);
  EXPECT_EQ((*y_inbox.pop(0ms))[kSourceIdOffset], 1);
  EXPECT_EQ((*x_inbox.pop(0ms))[kSourceIdOffset], 2);
  EXPECT_EQ(left.counters().frames_forwarded, 2u);
  EXPECT_EQ(right.counters().frames_forwarded, 2u);
  EXPECT_EQ(left.counters().frames_dropped() + right.counters().frames_dropped(), 0u);
}

TEST(FrameQueueTest, KeepsOrderAndCountsDropsBeyondItsBound) {
  FrameQueue queue(3);
  EXPECT_EQ(queue.capacity(), 3u);
  for (std::uint32_t s = 0; s < 5; ++s) queue.deliver(make_frame(1, s));
  EXPECT_EQ(queue.size(), 3u);
  EXPECT_EQ(queue.dropped(), 2u);
  EXPECT_EQ(queue.accepted(), 3u);
  for (std::uint32_t s = 0; s < 3; ++s) {
    auto frame = queue.pop(0ms);
    ASSERT_TRUE(frame);
    EXPECT_EQ(sequence_of(*frame), s) << "the queue keeps the oldest frames";
  }
  // Room again after popping.
  queue.deliver(make_frame(1, 9));
  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue.dropped(), 2u);
}

TEST(FrameQueueTest, PopWaitsAndTimesOut) {
  FrameQueue queue(4);
  const auto before = std::chrono::steady_clock::now();
  EXPECT_FALSE(queue.pop(50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - before, 45ms);
  EXPECT_FALSE(queue.wait_for_count(1, 10ms));
}

TEST(FrameQueueTest, WaitForCountWakesWhenFramesArrive) {
  FrameQueue queue(64);
  std::thread producer([&queue] {
    for (std::uint32_t s = 0; s < 10; ++s) {
      std::this_thread::sleep_for(1ms);
      queue.deliver(make_frame(1, s));
    }
  });
  EXPECT_TRUE(queue.wait_for_count(10, 5s));
  auto first = queue.pop(5s);
  producer.join();
  ASSERT_TRUE(first);
  EXPECT_EQ(sequence_of(*first), 0u);
  EXPECT_EQ(queue.size(), 9u);
}

TEST(FrameQueueTest, ZeroCapacityIsRejected) { EXPECT_THROW(FrameQueue(0), std::invalid_argument); }

}  // namespace
}  // namespace vpio::net

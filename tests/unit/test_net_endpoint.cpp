// The KVM tests' echo endpoint (tests/kvm/net_endpoint.hpp) over a real hub,
// with fake senders: announces, echoes, DONE_ACK counts, triggers, strays.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include "net/frame_queue.hpp"
#include "tests/kvm/net_endpoint.hpp"

namespace vpio::test {
namespace {

using namespace std::chrono_literals;
using Frame = std::vector<std::uint8_t>;

constexpr auto kArrives = 2000ms;    // something the endpoint must send
constexpr auto kStaysQuiet = 100ms;  // five announce intervals
constexpr std::size_t kQueueFrames = 4096;

const hw::MacAddress kEndpointMac{{0x02, 0, 0, 0, 0, 0xee}};
const hw::MacAddress kSenderA{{0x02, 0, 0, 0, 0, 0x0a}};
const hw::MacAddress kSenderB{{0x02, 0, 0, 0, 0, 0x0b}};
const hw::MacAddress kTarget{{0x02, 0, 0, 0, 0, 0x07}};
const hw::MacAddress kSomeoneElse{{0x02, 0, 0, 0, 0, 0x99}};
const hw::MacAddress kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

net_header header_of(const Frame& frame) {
  net_header h{};
  std::memcpy(&h, frame.data(), std::min(frame.size(), sizeof h));
  return h;
}

hw::MacAddress mac_of(const std::uint8_t* bytes) {
  hw::MacAddress mac;
  std::memcpy(mac.bytes.data(), bytes, mac.bytes.size());
  return mac;
}

// A guest stand-in on the hub: sends protocol frames, and takes out the
// frames addressed to it (the hub hands every port every frame).
class FakePeer {
 public:
  FakePeer(net::Hub& hub, hw::MacAddress mac)
      : hub_(hub), mac_(mac), port_(hub.attach(inbox_, "fake " + mac.to_string())) {}
  FakePeer(const FakePeer&) = delete;
  FakePeer& operator=(const FakePeer&) = delete;
  ~FakePeer() { hub_.detach(port_); }

  Frame build(const hw::MacAddress& dst, std::uint8_t type, std::uint32_t sequence,
              std::size_t data_len) const {
    Frame frame(net_frame_bytes(data_len));
    net_build_frame(frame.data(), dst.bytes.data(), mac_.bytes.data(), type, sequence, data_len);
    return frame;
  }
  void send(const Frame& frame) { port_.deliver(frame); }
  void send(std::uint8_t type, std::uint32_t sequence, std::size_t data_len = 0,
            const hw::MacAddress& dst = kEndpointMac) {
    send(build(dst, type, sequence, data_len));
  }

  // The next frame for us of `type`, skipping others (announces); nullopt
  // if none came within `timeout`.
  std::optional<Frame> next(std::uint8_t type, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return std::nullopt;
      std::optional<Frame> frame = inbox_.pop(left);
      if (!frame) return std::nullopt;
      if (mac_of(frame->data()) == mac_ && header_of(*frame).type == type) return frame;
    }
  }

 private:
  net::Hub& hub_;
  hw::MacAddress mac_;
  net::FrameQueue inbox_{kQueueFrames};
  net::HubPort& port_;
};

TEST(NetEchoEndpointTest, AnnouncesByUnicastUntilDataArrives) {
  net::Hub hub;
  FakePeer sender(hub, kSenderA);
  NetEchoEndpoint endpoint(hub, kEndpointMac, {kSenderA});

  for (int i = 0; i < 2; ++i) {
    auto announce = sender.next(NET_MSG_ANNOUNCE, kArrives);
    ASSERT_TRUE(announce);
    EXPECT_EQ(net_check_frame(announce->data(), announce->size()), NET_OK);
    EXPECT_EQ(mac_of(announce->data()), kSenderA);  // unicast, not broadcast
    EXPECT_EQ(mac_of(announce->data() + NET_MAC_BYTES), kEndpointMac);
  }
  sender.send(NET_MSG_DATA, 0, 10);
  ASSERT_TRUE(sender.next(NET_MSG_ECHO, kArrives));
  // Announces queued before the echo have been taken out with it.
  EXPECT_FALSE(sender.next(NET_MSG_ANNOUNCE, kStaysQuiet));
  EXPECT_GE(endpoint.counters().peer(kSenderA).frames_sent, 3u);
}

TEST(NetEchoEndpointTest, EchoesDataIntactWithMacsSwapped) {
  net::Hub hub;
  FakePeer sender(hub, kSenderA);
  NetEchoEndpoint endpoint(hub, kEndpointMac, {});

  const Frame data = sender.build(kEndpointMac, NET_MSG_DATA, 5, 1000);
  sender.send(data);
  auto echo = sender.next(NET_MSG_ECHO, kArrives);
  ASSERT_TRUE(echo);
  ASSERT_EQ(echo->size(), data.size());
  EXPECT_EQ(net_check_frame(echo->data(), echo->size()), NET_OK);
  EXPECT_EQ(mac_of(echo->data()), kSenderA);
  EXPECT_EQ(mac_of(echo->data() + NET_MAC_BYTES), kEndpointMac);
  const std::size_t type_at = offsetof(net_header, type);
  for (std::size_t i = 2 * NET_MAC_BYTES; i < data.size(); ++i) {
    if (i == type_at) continue;
    EXPECT_EQ((*echo)[i], data[i]) << "byte " << i;
  }

  const PeerCounters c = endpoint.counters().peer(kSenderA);
  EXPECT_EQ(c.data_intact, 1u);
  EXPECT_EQ(c.echoes, 1u);
  EXPECT_EQ(c.frames_sent, 1u);
  EXPECT_EQ(c.bad, 0u);
}

TEST(NetEchoEndpointTest, EchoesDuplicatesButDropsBadData) {
  net::Hub hub;
  FakePeer sender(hub, kSenderA);
  NetEchoEndpoint endpoint(hub, kEndpointMac, {});

  sender.send(NET_MSG_DATA, 0, 64);
  ASSERT_TRUE(sender.next(NET_MSG_ECHO, kArrives));
  sender.send(NET_MSG_DATA, 0, 64);  // a retransmit
  ASSERT_TRUE(sender.next(NET_MSG_ECHO, kArrives));
  Frame corrupt = sender.build(kEndpointMac, NET_MSG_DATA, 1, 64);
  corrupt[NET_HEADER_BYTES + 3] ^= 0x40;
  sender.send(corrupt);
  EXPECT_FALSE(sender.next(NET_MSG_ECHO, kStaysQuiet));

  const PeerCounters c = endpoint.counters().peer(kSenderA);
  EXPECT_EQ(c.data_intact, 1u);
  EXPECT_EQ(c.duplicates, 1u);
  EXPECT_EQ(c.echoes, 2u);
  EXPECT_EQ(c.bad, 1u);
}

TEST(NetEchoEndpointTest, DoneAckCarriesTheDistinctDataCount) {
  net::Hub hub;
  FakePeer sender(hub, kSenderA);
  NetEchoEndpoint endpoint(hub, kEndpointMac, {});

  for (std::uint32_t seq : {0u, 1u, 1u, 2u}) {
    sender.send(NET_MSG_DATA, seq, 100);
    ASSERT_TRUE(sender.next(NET_MSG_ECHO, kArrives));
  }
  sender.send(NET_MSG_DONE, 4);
  auto ack = sender.next(NET_MSG_DONE_ACK, kArrives);
  ASSERT_TRUE(ack);
  EXPECT_EQ(net_check_frame(ack->data(), ack->size()), NET_OK);
  EXPECT_EQ(header_of(*ack).sequence, 3u);

  const PeerCounters c = endpoint.counters().peer(kSenderA);
  EXPECT_TRUE(c.done_seen);
  EXPECT_EQ(c.done_count, 4u);
  EXPECT_EQ(c.frames_sent, 5u);
}

TEST(NetEchoEndpointTest, TriggerFiresOnceAfterTheWatchedSendersNthFrame) {
  net::Hub hub;
  FakePeer sender(hub, kSenderA), target(hub, kTarget);
  NetEchoEndpoint endpoint(hub, kEndpointMac, {});
  endpoint.add_trigger(kTarget, kSenderA, 3);

  for (std::uint32_t seq = 0; seq < 2; ++seq) {
    sender.send(NET_MSG_DATA, seq, 20);
    ASSERT_TRUE(sender.next(NET_MSG_ECHO, kArrives));
  }
  sender.send(NET_MSG_DATA, 1, 20);  // a duplicate does not count
  ASSERT_TRUE(sender.next(NET_MSG_ECHO, kArrives));
  EXPECT_FALSE(target.next(NET_MSG_ANNOUNCE, kStaysQuiet));

  sender.send(NET_MSG_DATA, 2, 20);
  auto trigger = target.next(NET_MSG_ANNOUNCE, kArrives);
  ASSERT_TRUE(trigger);
  EXPECT_EQ(net_check_frame(trigger->data(), trigger->size()), NET_OK);
  EXPECT_EQ(mac_of(trigger->data() + NET_MAC_BYTES), kEndpointMac);

  sender.send(NET_MSG_DATA, 3, 20);
  ASSERT_TRUE(sender.next(NET_MSG_ECHO, kArrives));
  EXPECT_FALSE(target.next(NET_MSG_ANNOUNCE, kStaysQuiet));
  const PeerCounters t = endpoint.counters().peer(kTarget);
  EXPECT_EQ(t.triggers_sent, 1u);
  EXPECT_EQ(t.frames_sent, 1u);
}

TEST(NetEchoEndpointTest, FramesForOtherMacsAreNotEchoed) {
  net::Hub hub;
  FakePeer sender(hub, kSenderA);
  NetEchoEndpoint endpoint(hub, kEndpointMac, {});

  sender.send(NET_MSG_DATA, 0, 30, kSomeoneElse);
  sender.send(NET_MSG_DATA, 1, 30, kBroadcast);
  EXPECT_TRUE(
      endpoint.wait_until([](const EndpointCounters& c) { return c.not_for_us == 1; }, kArrives));
  EXPECT_FALSE(sender.next(NET_MSG_ECHO, kStaysQuiet));
  const EndpointCounters c = endpoint.counters();
  EXPECT_EQ(c.not_for_us, 1u);  // the broadcast is no stray
  EXPECT_EQ(c.peer(kSenderA).data_intact, 0u);
  EXPECT_EQ(c.peer(kSenderA).frames_sent, 0u);
}

// Two senders at once, stop-and-wait each on its own thread; the endpoint
// keeps them apart and never sends from inside the hub's fan-out.
TEST(NetEchoEndpointTest, ServesSeveralSendersAtOnce) {
  constexpr std::uint32_t kFrames = 200;
  net::Hub hub;
  FakePeer a(hub, kSenderA), b(hub, kSenderB);
  NetEchoEndpoint endpoint(hub, kEndpointMac, {kSenderA, kSenderB});

  auto exchange = [](FakePeer& peer, std::uint32_t* echoed) {
    for (std::uint32_t seq = 0; seq < kFrames; ++seq) {
      peer.send(NET_MSG_DATA, seq, seq % NET_MAX_DATA);
      auto echo = peer.next(NET_MSG_ECHO, kArrives);
      if (echo && header_of(*echo).sequence == seq &&
          net_check_frame(echo->data(), echo->size()) == NET_OK)
        ++*echoed;
    }
    peer.send(NET_MSG_DONE, kFrames);
  };
  std::uint32_t echoed_a = 0, echoed_b = 0;
  std::thread ta(exchange, std::ref(a), &echoed_a), tb(exchange, std::ref(b), &echoed_b);
  ta.join();
  tb.join();
  EXPECT_EQ(echoed_a, kFrames);
  EXPECT_EQ(echoed_b, kFrames);
  ASSERT_TRUE(a.next(NET_MSG_DONE_ACK, kArrives));
  ASSERT_TRUE(b.next(NET_MSG_DONE_ACK, kArrives));

  const EndpointCounters c = endpoint.counters();
  for (const hw::MacAddress& mac : {kSenderA, kSenderB}) {
    EXPECT_EQ(c.peer(mac).data_intact, kFrames) << mac.to_string();
    EXPECT_EQ(c.peer(mac).echoes, kFrames) << mac.to_string();
    EXPECT_EQ(c.peer(mac).duplicates, 0u);
    EXPECT_TRUE(c.peer(mac).done_seen);
  }
  EXPECT_EQ(c.inbox_dropped, 0u);
  endpoint.stop();
  EXPECT_EQ(hub.counters().loop_dropped, 0u);
  EXPECT_EQ(hub.port_count(), 2u);  // the endpoint left the hub
}

}  // namespace
}  // namespace vpio::test

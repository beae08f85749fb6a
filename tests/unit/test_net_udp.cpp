// UdpWire on the loopback interface: wire to wire, hub to a plain UDP peer,
// size filtering, stop and restart, and errors; UdpEndpoint parsing.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "hw/net/mac_address.hpp"
#include "net/frame_queue.hpp"
#include "net/hub.hpp"
#include "base/owned_fd.hpp"
#include "net/udp_wire.hpp"
#include "tests/support/net_test_names.hpp"

namespace vpio::net {
namespace {

using base::OwnedFd;
using base::throw_net_errno;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Frame = std::vector<std::uint8_t>;

constexpr const char* kLoopback = "127.0.0.1";
constexpr auto kFrameTimeout = 3s;                // per frame expected to arrive
constexpr std::uint16_t kTestEtherType = 0x88b5;  // IEEE local experimental
constexpr std::uint16_t kDiscardPort = 9;         // a remote nothing in these tests reads

// A broadcast frame of `length` bytes whose payload depends on both values,
// so frames that differ in order or content compare unequal.
Frame make_frame(std::size_t length, std::uint8_t marker, std::uint32_t sequence = 0) {
  Frame frame(length);
  std::fill_n(frame.begin(), 6, std::uint8_t{0xff});
  const std::uint8_t source[6] = {0x02, 0x00, 0x00, 0x00, 0x00, marker};
  std::copy(std::begin(source), std::end(source), frame.begin() + 6);
  frame[12] = static_cast<std::uint8_t>(kTestEtherType >> 8);
  frame[13] = static_cast<std::uint8_t>(kTestEtherType & 0xff);
  for (std::size_t i = kEthernetHeaderBytes; i < length; ++i) {
    frame[i] = static_cast<std::uint8_t>(i * 7 + marker + sequence * 13);
  }
  return frame;
}

sockaddr_in loopback_address(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// A plain UDP socket on the loopback address: the far end of a wire.
OwnedFd open_udp_socket(std::uint16_t port = 0) {
  OwnedFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw_net_errno("socket(AF_INET, SOCK_DGRAM)");
  const sockaddr_in address = loopback_address(port);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    throw_net_errno("bind test socket");
  }
  return fd;
}

std::uint16_t port_of(const OwnedFd& fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw_net_errno("getsockname of test socket");
  }
  return ntohs(address.sin_port);
}

// A port free a moment ago. Two wires that point at each other need one
// port before either exists; another process could take it in between, but
// on a test host that window is negligible.
std::uint16_t unused_udp_port() { return port_of(open_udp_socket()); }

void send_datagram(const OwnedFd& from, std::uint16_t to_port, const Frame& bytes) {
  const sockaddr_in to = loopback_address(to_port);
  const ssize_t sent = ::sendto(from.get(), bytes.data(), bytes.size(), 0,
                                reinterpret_cast<const sockaddr*>(&to), sizeof to);
  ASSERT_EQ(sent, static_cast<ssize_t>(bytes.size())) << "sendto: " << std::strerror(errno);
}

struct Datagram {
  Frame bytes;
  std::uint16_t source_port = 0;
};

std::optional<Datagram> receive_datagram(const OwnedFd& fd) {
  const auto deadline = Clock::now() + kFrameTimeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd readable = {fd.get(), POLLIN, 0};
    if (::poll(&readable, 1, static_cast<int>(left.count())) <= 0) continue;
    Frame buffer(65536);
    sockaddr_in from{};
    socklen_t from_length = sizeof from;
    const ssize_t got = ::recvfrom(fd.get(), buffer.data(), buffer.size(), MSG_DONTWAIT,
                                   reinterpret_cast<sockaddr*>(&from), &from_length);
    if (got < 0) continue;
    buffer.resize(static_cast<std::size_t>(got));
    return Datagram{std::move(buffer), ntohs(from.sin_port)};
  }
}

std::optional<Frame> next_frame(FrameQueue& queue) {
  return queue.pop(std::chrono::duration_cast<std::chrono::milliseconds>(kFrameTimeout));
}

TEST(UdpWireEndpointTest, ParsesNumericIPv4AndPort) {
  EXPECT_EQ(UdpEndpoint::parse("127.0.0.1:5555"), (UdpEndpoint{"127.0.0.1", 5555}));
  EXPECT_EQ(UdpEndpoint::parse("0.0.0.0:0"), (UdpEndpoint{"0.0.0.0", 0}));
  EXPECT_EQ(UdpEndpoint::parse("255.255.255.255:65535"), (UdpEndpoint{"255.255.255.255", 65535}));
  EXPECT_EQ(UdpEndpoint::parse("10.1.2.3:1234").to_string(), "10.1.2.3:1234");
}

TEST(UdpWireEndpointTest, RejectsAnythingElseNamingTheText) {
  for (const char* text :
       {"", "127.0.0.1", "127.0.0.1:", ":5555", "localhost:5555", "1.2.3:5555", "1.2.3.4.5:5555",
        "[::1]:5555", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+1", "127.0.0.1:80x",
        "127.0.0.1: 80", "127.0.0.1:99999999999999999999"}) {
    try {
      UdpEndpoint::parse(text);
      ADD_FAILURE() << "'" << text << "' was accepted";
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find("'" + std::string(text) + "'"), std::string::npos)
          << error.what();
    }
  }
}

TEST(UdpWireTest, TwoWiresExchangeFramesBothWaysByteIdenticalInOrder) {
  constexpr std::size_t kFrameCount = 200;
  // Frames in flight at once; a socket's receive buffer holds them all even
  // when the reader is slow to be scheduled, so none is lost on loopback.
  constexpr std::size_t kWindow = 16;
  FrameQueue at_a(kFrameCount);  // outlive the wires, whose readers feed them
  FrameQueue at_b(kFrameCount);
  const std::uint16_t b_port = unused_udp_port();
  UdpWire a({kLoopback, 0}, {kLoopback, b_port});
  UdpWire b({kLoopback, b_port}, a.local());
  ASSERT_NE(a.local_port(), 0);
  ASSERT_EQ(b.local_port(), b_port);
  a.start(at_a);
  b.start(at_b);

  std::vector<Frame> a_to_b;
  std::vector<Frame> b_to_a;
  const std::size_t span = kMaxFrameBytes - kEthernetHeaderBytes + 1;
  for (std::uint32_t i = 0; i < kFrameCount; ++i) {
    // The extremes first, then sizes spread over the whole range.
    a_to_b.push_back(make_frame(kEthernetHeaderBytes + (i * 97 + span - 1) % span, 1, i));
    b_to_a.push_back(make_frame(kEthernetHeaderBytes + (i * 89) % span, 2, i));
  }
  ASSERT_EQ(a_to_b[0].size(), kMaxFrameBytes);
  ASSERT_EQ(b_to_a[0].size(), kEthernetHeaderBytes);

  for (std::size_t first = 0; first < kFrameCount; first += kWindow) {
    const std::size_t end = std::min(first + kWindow, kFrameCount);
    for (std::size_t i = first; i < end; ++i) {
      a.deliver(a_to_b[i]);
      b.deliver(b_to_a[i]);
    }
    ASSERT_TRUE(at_b.wait_for_count(end, kFrameTimeout))
        << "b has " << at_b.size() << " of " << end;
    ASSERT_TRUE(at_a.wait_for_count(end, kFrameTimeout))
        << "a has " << at_a.size() << " of " << end;
  }
  for (std::size_t i = 0; i < kFrameCount; ++i) {
    ASSERT_EQ(next_frame(at_b), a_to_b[i]) << "frame " << i << " from a to b";
    ASSERT_EQ(next_frame(at_a), b_to_a[i]) << "frame " << i << " from b to a";
  }

  std::uint64_t bytes_a_to_b = 0;
  for (const Frame& frame : a_to_b) bytes_a_to_b += frame.size();
  const UdpWireCounters sent = a.counters();
  const UdpWireCounters received = b.counters();
  EXPECT_EQ(sent.frames_sent, kFrameCount);
  EXPECT_EQ(sent.bytes_sent, bytes_a_to_b);
  EXPECT_EQ(sent.send_failures, 0u);
  EXPECT_EQ(received.frames_received, kFrameCount);
  EXPECT_EQ(received.bytes_received, bytes_a_to_b);
  EXPECT_EQ(received.foreign_source_frames, 0u);
  EXPECT_EQ(received.runts_dropped + received.oversize_dropped, 0u);
  EXPECT_EQ(a.counters().frames_received, kFrameCount);
  EXPECT_EQ(a.counters().foreign_source_frames, 0u);
}

TEST(UdpWireTest, BridgesAHubToAUdpPeerAndBack) {
  FrameQueue at_station(16);  // outlives the hub and the wire that feed it
  Hub hub;
  OwnedFd peer = open_udp_socket();
  OwnedFd stranger = open_udp_socket();
  UdpWire wire({kLoopback, 0}, {kLoopback, port_of(peer)});  // stops before the hub goes
  HubPort& station = hub.attach(at_station, "station");
  HubPort& uplink = hub.attach(wire, "udp");
  wire.start(uplink);

  // Hub to peer: one datagram holding exactly the frame, from the wire's port.
  const Frame outbound = make_frame(kMaxFrameBytes, 1);
  station.deliver(outbound);
  const auto datagram = receive_datagram(peer);
  ASSERT_TRUE(datagram) << "the peer never received the frame sent into the hub";
  EXPECT_EQ(datagram->bytes, outbound);
  EXPECT_EQ(datagram->source_port, wire.local_port());

  // Peer to hub.
  const Frame inbound = make_frame(300, 2);
  send_datagram(peer, wire.local_port(), inbound);
  EXPECT_EQ(next_frame(at_station), inbound);

  // A frame below the Ethernet minimum (ARP is 42 bytes) passes unpadded.
  const Frame arp_sized = make_frame(42, 3);
  send_datagram(peer, wire.local_port(), arp_sized);
  EXPECT_EQ(next_frame(at_station), arp_sized);

  // Another source is heard too, and counted.
  const Frame from_stranger = make_frame(kMinFrameBytes, 4);
  send_datagram(stranger, wire.local_port(), from_stranger);
  EXPECT_EQ(next_frame(at_station), from_stranger);

  wire.stop();
  const UdpWireCounters c = wire.counters();
  EXPECT_EQ(c.frames_sent, 1u);
  EXPECT_EQ(c.bytes_sent, outbound.size());
  EXPECT_EQ(c.frames_received, 3u);
  EXPECT_EQ(c.bytes_received, inbound.size() + arp_sized.size() + from_stranger.size());
  EXPECT_EQ(c.short_frames_received, 1u);
  EXPECT_EQ(c.foreign_source_frames, 1u);
  EXPECT_EQ(uplink.counters().frames_sent, 3u);
  EXPECT_EQ(uplink.counters().frames_received, 1u);
  EXPECT_EQ(hub.counters().frames_dropped(), 0u);
  EXPECT_EQ(wire.reader_error(), 0);
  hub.detach(uplink);
}

TEST(UdpWireTest, RuntAndOversizeDatagramsAreDroppedAndCounted) {
  FrameQueue received(16);
  OwnedFd peer = open_udp_socket();
  UdpWire wire({kLoopback, 0}, {kLoopback, port_of(peer)});
  wire.start(received);

  for (std::size_t dropped_size : {std::size_t{0}, kEthernetHeaderBytes - 1}) {
    send_datagram(peer, wire.local_port(), Frame(dropped_size, 0xaa));
  }
  for (std::size_t dropped_size : {kMaxTaggedFrameBytes + 1, std::size_t{9000}}) {
    send_datagram(peer, wire.local_port(), make_frame(dropped_size, 5));
  }
  // The smallest and largest frames that pass; loopback keeps the order, so
  // once they arrive the drops before them have been counted.
  const Frame smallest = make_frame(kEthernetHeaderBytes, 6);
  const Frame largest = make_frame(kMaxTaggedFrameBytes, 7);
  send_datagram(peer, wire.local_port(), smallest);
  send_datagram(peer, wire.local_port(), largest);
  EXPECT_EQ(next_frame(received), smallest);
  EXPECT_EQ(next_frame(received), largest);

  const UdpWireCounters c = wire.counters();
  EXPECT_EQ(c.runts_dropped, 2u);
  EXPECT_EQ(c.oversize_dropped, 2u);
  EXPECT_EQ(c.frames_received, 2u);
  EXPECT_EQ(c.bytes_received, smallest.size() + largest.size());
  EXPECT_EQ(c.short_frames_received, 1u);
  EXPECT_EQ(received.size(), 0u);
}

TEST(UdpWireTest, StopIsPromptIdempotentAndRestartable) {
  FrameQueue received(16);
  OwnedFd peer = open_udp_socket();
  UdpWire wire({kLoopback, 0}, {kLoopback, port_of(peer)});
  wire.stop();  // before any start: nothing to do
  wire.start(received);
  EXPECT_THROW(wire.start(received), std::logic_error);

  const auto stop_started = Clock::now();
  wire.stop();
  EXPECT_LT(Clock::now() - stop_started, 1s);
  wire.stop();
  EXPECT_EQ(wire.reader_error(), 0);

  // The reader is joined, so nothing can reach the queue; the datagram
  // waits in the socket and the restarted reader hands it on.
  const Frame while_stopped = make_frame(100, 8);
  send_datagram(peer, wire.local_port(), while_stopped);
  EXPECT_EQ(received.size(), 0u);
  wire.start(received);
  EXPECT_EQ(next_frame(received), while_stopped);
}

TEST(UdpWireTest, BindingABusyPortNamesTheEndpointAndTheCall) {
  OwnedFd occupant = open_udp_socket();
  const UdpEndpoint busy{kLoopback, port_of(occupant)};
  try {
    UdpWire wire(busy, {kLoopback, kDiscardPort});
    FAIL() << "binding " << busy.to_string() << " twice did not throw";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::errc::address_in_use);
    const std::string what = error.what();
    EXPECT_NE(what.find(busy.to_string()), std::string::npos) << what;
    EXPECT_NE(what.find("bind"), std::string::npos) << what;
  }
}

TEST(UdpWireTest, MalformedEndpointsAreRejectedBeforeTouchingTheKernel) {
  EXPECT_THROW(UdpWire({"localhost", 0}, {kLoopback, kDiscardPort}), std::invalid_argument);
  EXPECT_THROW(UdpWire({kLoopback, 0}, {"::1", kDiscardPort}), std::invalid_argument);
  EXPECT_THROW(UdpWire({kLoopback, 0}, {kLoopback, 0}), std::invalid_argument);
}

}  // namespace
}  // namespace vpio::net

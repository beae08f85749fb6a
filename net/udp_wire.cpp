// Endpoint parsing, the bound UDP socket, and the reader thread that turns
// received datagrams into deliver() calls.
#include "net/udp_wire.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#include "net/hub.hpp"

namespace vpio::net {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

// Frames received per wake-up before checking for stop again, so a flooding
// peer cannot hold the reader away from a stop request.
constexpr int kMaxFramesPerWakeup = 64;

sockaddr_in socket_address_of(const UdpEndpoint& endpoint, const char* role) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(endpoint.port);
  if (::inet_pton(AF_INET, endpoint.host.c_str(), &address.sin_addr) != 1) {
    throw std::invalid_argument(std::string("UdpWire: ") + role + " host '" + endpoint.host +
                                "' is not a numeric IPv4 address");
  }
  return address;
}

// ICMP errors about earlier datagrams (the peer is not listening yet, a route
// came and went) surface on a later receive; they say nothing about this
// socket, so the reader carries on as a wire would.
bool reports_an_earlier_send(int err) {
  return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH || err == EHOSTDOWN ||
         err == ENETDOWN;
}

}  // namespace

UdpEndpoint UdpEndpoint::parse(std::string_view text) {
  const auto malformed = [text](const char* why) {
    return std::invalid_argument("UdpEndpoint: '" + std::string(text) + "' is not IPv4:PORT (" +
                                 why + ")");
  };
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) throw malformed("no ':' before the port");

  UdpEndpoint endpoint;
  endpoint.host = std::string(text.substr(0, colon));
  in_addr ignored{};
  if (::inet_pton(AF_INET, endpoint.host.c_str(), &ignored) != 1) {
    throw malformed("the host is not a numeric IPv4 address");
  }
  const std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  const auto [end, error] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || error != std::errc{} || end != port_text.data() + port_text.size() ||
      port > std::numeric_limits<std::uint16_t>::max()) {
    throw malformed("the port is not a number from 0 to 65535");
  }
  endpoint.port = static_cast<std::uint16_t>(port);
  return endpoint;
}

std::string UdpEndpoint::to_string() const { return host + ":" + std::to_string(port); }

UdpWire::UdpWire(UdpEndpoint local, UdpEndpoint remote)
    : local_(std::move(local)), remote_(std::move(remote)) {
  const sockaddr_in local_address = socket_address_of(local_, "local");
  const sockaddr_in remote_address = socket_address_of(remote_, "remote");
  if (remote_.port == 0) {
    throw std::invalid_argument("UdpWire: remote " + remote_.to_string() + " has no port");
  }
  remote_address_ = remote_address.sin_addr.s_addr;
  remote_port_ = remote_address.sin_port;

  // Non-blocking, so the reader drains the queue and returns to poll, and a
  // send never stalls a vCPU thread. Unconnected, so datagrams from any
  // source arrive (connect() would filter them to the remote).
  socket_ = base::OwnedFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!socket_.valid()) base::throw_net_errno("socket(AF_INET, SOCK_DGRAM) for " + describe());
  if (::bind(socket_.get(), reinterpret_cast<const sockaddr*>(&local_address),
             sizeof local_address) != 0) {
    base::throw_net_errno("bind to " + local_.to_string() + " for " + describe());
  }
  sockaddr_in bound{};
  socklen_t bound_length = sizeof bound;
  if (::getsockname(socket_.get(), reinterpret_cast<sockaddr*>(&bound), &bound_length) != 0) {
    base::throw_net_errno("getsockname for " + describe());
  }
  local_.port = ntohs(bound.sin_port);
}

UdpWire::~UdpWire() { stop(); }

std::string UdpWire::describe() const {
  return "udp wire " + local_.to_string() + " -> " + remote_.to_string();
}

void UdpWire::start(hw::FrameSink& receiver) {
  if (reader_.running())
    throw std::logic_error("UdpWire::start: " + describe() + " already started");
  // MSG_TRUNC reports a datagram's real length, so one longer than this
  // buffer is recognised as oversize without a buffer that could hold it.
  // POLLERR is a pending ICMP report; the receive in drain_socket clears it.
  reader_.start(socket_.get(), POLLIN | POLLERR,
                [this, &receiver,
                 buffer = std::vector<std::uint8_t>(hw::kMaxTaggedFrameBytes)](short revents) mutable {
                  if ((revents & POLLNVAL) != 0) return EBADF;
                  return (revents & (POLLIN | POLLERR)) != 0 ? drain_socket(receiver, buffer) : 0;
                });
}

void UdpWire::stop() noexcept { reader_.stop(); }

void UdpWire::deliver(std::span<const std::uint8_t> frame) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = remote_address_;
  to.sin_port = remote_port_;
  const ssize_t sent = ::sendto(socket_.get(), frame.data(), frame.size(), MSG_NOSIGNAL,
                                reinterpret_cast<const sockaddr*>(&to), sizeof to);
  if (sent < 0 || static_cast<std::size_t>(sent) != frame.size()) {
    send_failures_.fetch_add(1, kRelaxed);
    return;
  }
  frames_sent_.fetch_add(1, kRelaxed);
  bytes_sent_.fetch_add(frame.size(), kRelaxed);
}

UdpWireCounters UdpWire::counters() const noexcept {
  UdpWireCounters c;
  c.frames_sent = frames_sent_.load(kRelaxed);
  c.bytes_sent = bytes_sent_.load(kRelaxed);
  c.send_failures = send_failures_.load(kRelaxed);
  c.frames_received = frames_received_.load(kRelaxed);
  c.bytes_received = bytes_received_.load(kRelaxed);
  c.short_frames_received = short_frames_received_.load(kRelaxed);
  c.foreign_source_frames = foreign_source_frames_.load(kRelaxed);
  c.runts_dropped = runts_dropped_.load(kRelaxed);
  c.oversize_dropped = oversize_dropped_.load(kRelaxed);
  return c;
}

int UdpWire::drain_socket(hw::FrameSink& receiver, std::span<std::uint8_t> buffer) {
  for (int i = 0; i < kMaxFramesPerWakeup; ++i) {
    sockaddr_in from{};
    socklen_t from_length = sizeof from;
    const ssize_t got = ::recvfrom(socket_.get(), buffer.data(), buffer.size(), MSG_TRUNC,
                                   reinterpret_cast<sockaddr*>(&from), &from_length);
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      if (errno == EINTR || reports_an_earlier_send(errno)) continue;
      return errno;
    }
    const std::size_t length = static_cast<std::size_t>(got);
    if (length < hw::kEthernetHeaderBytes) {
      runts_dropped_.fetch_add(1, kRelaxed);
      continue;
    }
    if (length > buffer.size()) {
      oversize_dropped_.fetch_add(1, kRelaxed);
      continue;
    }
    if (length < hw::kMinFrameBytes) short_frames_received_.fetch_add(1, kRelaxed);
    const bool from_remote = from_length == sizeof from && from.sin_family == AF_INET &&
                             from.sin_addr.s_addr == remote_address_ &&
                             from.sin_port == remote_port_;
    if (!from_remote) foreign_source_frames_.fetch_add(1, kRelaxed);
    frames_received_.fetch_add(1, kRelaxed);
    bytes_received_.fetch_add(length, kRelaxed);
    receiver.deliver(buffer.first(length));
  }
  return 0;
}

}  // namespace vpio::net

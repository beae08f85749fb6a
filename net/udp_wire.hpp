// A UDP socket as a wire backend, interoperable with QEMU's
// `-netdev socket,udp=REMOTE:PORT,localaddr=LOCAL:PORT`: one raw Ethernet
// frame per datagram, no length prefix, no FCS. IPv4 unicast only.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "net/fd_reader.hpp"
#include "hw/net/frame_sink.hpp"
#include "base/owned_fd.hpp"

namespace vpio::net {

// A numeric IPv4 address and a UDP port; no name resolution.
struct UdpEndpoint {
  std::string host;
  std::uint16_t port = 0;

  // Parses "A.B.C.D:PORT". Throws std::invalid_argument naming the text.
  static UdpEndpoint parse(std::string_view text);
  std::string to_string() const;

  bool operator==(const UdpEndpoint&) const = default;
};

struct UdpWireCounters {
  std::uint64_t frames_sent = 0;  // one datagram each, to the remote
  std::uint64_t bytes_sent = 0;
  std::uint64_t send_failures = 0;    // socket buffer full, no route, ...
  std::uint64_t frames_received = 0;  // handed to the receiver
  std::uint64_t bytes_received = 0;
  std::uint64_t short_frames_received = 0;  // below hw::kMinFrameBytes, handed on unpadded
  std::uint64_t foreign_source_frames = 0;  // from a source other than the remote, handed on
  std::uint64_t runts_dropped = 0;          // shorter than an Ethernet header
  std::uint64_t oversize_dropped = 0;       // longer than hw::kMaxTaggedFrameBytes
};

// Threading: deliver() may be called from any thread, also while the reader
// runs. The reader thread calls the receiver, one frame at a time, between
// start() and stop(); the receiver must outlive that span.
//
// To join a hub: `HubPort& port = hub.attach(wire, name); wire.start(port);`
// and stop the wire (or destroy it) before the hub goes.
//
// Datagrams are taken from any source, as QEMU's socket netdev does; those
// not from the remote endpoint are still delivered but also counted in
// foreign_source_frames, so a misdirected peer shows up in the counters.
// Short frames are not padded: a QEMU peer sends what its chip model sent,
// and padding is the sending chip's job (see hub.hpp).
class UdpWire final : public hw::FrameSink {
 public:
  // Binds `local` (port 0: the kernel chooses) without SO_REUSEADDR, so a
  // second wire on a busy port fails instead of splitting its traffic.
  // Throws std::invalid_argument for a malformed host or a remote port of 0,
  // and std::system_error naming the endpoint and the failed call (bind:
  // EADDRINUSE when the port is taken, EADDRNOTAVAIL for a foreign address).
  UdpWire(UdpEndpoint local, UdpEndpoint remote);
  UdpWire(const UdpWire&) = delete;
  UdpWire& operator=(const UdpWire&) = delete;
  ~UdpWire() override;

  // `local` carries the port actually bound.
  const UdpEndpoint& local() const noexcept { return local_; }
  std::uint16_t local_port() const noexcept { return local_.port; }
  const UdpEndpoint& remote() const noexcept { return remote_; }

  // Starts the reader thread. Throws std::logic_error if already started.
  void start(hw::FrameSink& receiver);
  // Wakes and joins the reader; idempotent, and start() may follow again.
  // Datagrams that arrive while stopped wait in the socket's buffer.
  void stop() noexcept;

  // Sends one frame as one datagram to the remote. Never throws and never
  // blocks: a refused datagram is counted in send_failures, as a wire would
  // lose it.
  void deliver(std::span<const std::uint8_t> frame) override;

  UdpWireCounters counters() const noexcept;
  // The errno that ended the reader thread early, or 0.
  int reader_error() const noexcept { return reader_.error(); }

 private:
  // Receives what the socket has queued; the errno that ends the reader, or 0.
  int drain_socket(hw::FrameSink& receiver, std::span<std::uint8_t> buffer);
  std::string describe() const;

  UdpEndpoint local_;
  UdpEndpoint remote_;
  // The remote's address and port in network byte order, as sendto and
  // recvfrom see them; plain integers so users need not see socket headers.
  std::uint32_t remote_address_ = 0;
  std::uint16_t remote_port_ = 0;
  base::OwnedFd socket_;

  std::atomic<std::uint64_t> frames_sent_{0};
  std::atomic<std::uint64_t> bytes_sent_{0};
  std::atomic<std::uint64_t> send_failures_{0};
  std::atomic<std::uint64_t> frames_received_{0};
  std::atomic<std::uint64_t> bytes_received_{0};
  std::atomic<std::uint64_t> short_frames_received_{0};
  std::atomic<std::uint64_t> foreign_source_frames_{0};
  std::atomic<std::uint64_t> runts_dropped_{0};
  std::atomic<std::uint64_t> oversize_dropped_{0};
  // Last: it stops (in its destructor) before the counters its thread
  // updates go.
  FdReader reader_;
};

}  // namespace vpio::net

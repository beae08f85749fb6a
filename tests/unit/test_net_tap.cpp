// TapDevice against the real kernel: each test forks a child that enters a
// fresh network namespace, so taps never appear in the test host's namespace.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "hw/net/mac_address.hpp"
#include "net/frame_queue.hpp"
#include "base/owned_fd.hpp"
#include "net/tap_device.hpp"
#include "tests/support/net_test_names.hpp"

namespace vpio::net {
namespace {

// The wires carry hw/'s frames.
using base::OwnedFd;
using base::throw_net_errno;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kFrameTimeout = 3s;                // per frame expected to cross the tap
constexpr auto kChildTimeout = 20s;               // whole child, including namespace setup
constexpr std::uint16_t kTestEtherType = 0x88b5;  // IEEE local experimental

// What a child reports through its pipe: the first byte is the verdict.
constexpr char kPassed = 'P';
constexpr char kSkipped = 'S';
constexpr char kFailed = 'F';

// Errors that mean "this host cannot make taps" (no /dev/net/tun, not root),
// not "the code is wrong": only those skip the test.
bool environment_refused(const std::system_error& error) {
  const int code = error.code().value();
  const std::string what = error.what();
  const bool refused = code == EPERM || code == EACCES || code == ENOENT;
  const bool setup_call = what.find("unshare") != std::string::npos ||
                          what.find("/dev/net/tun") != std::string::npos ||
                          what.find("TUNSETIFF") != std::string::npos;
  return refused && setup_call;
}

// Runs `body` in a forked child inside a new network namespace. The body
// returns an empty string on success or what went wrong. The parent reports
// through GoogleTest, which must not be used in the child.
void run_in_fresh_network_namespace(const std::function<std::string()>& body) {
  int pipe_ends[2];
  ASSERT_EQ(::pipe2(pipe_ends, O_CLOEXEC), 0) << std::strerror(errno);
  OwnedFd verdict_in(pipe_ends[0]);
  OwnedFd verdict_out(pipe_ends[1]);

  const pid_t child = ::fork();
  ASSERT_GE(child, 0) << "fork: " << std::strerror(errno);
  if (child == 0) {
    verdict_in.reset();
    std::string verdict;
    try {
      if (::unshare(CLONE_NEWNET) != 0) throw_net_errno("unshare(CLONE_NEWNET)");
      const std::string failure = body();
      verdict = failure.empty() ? std::string(1, kPassed) : kFailed + failure;
    } catch (const std::system_error& error) {
      verdict = (environment_refused(error) ? kSkipped : kFailed) + std::string(error.what());
    } catch (const std::exception& error) {
      verdict = kFailed + std::string("exception: ") + error.what();
    }
    [[maybe_unused]] const ssize_t written =
        ::write(verdict_out.get(), verdict.data(), verdict.size());
    ::_exit(0);  // not exit(): the parent's atexit handlers are not ours to run
  }
  verdict_out.reset();

  std::string verdict;
  const auto deadline = Clock::now() + kChildTimeout;
  bool timed_out = false;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd readable = {verdict_in.get(), POLLIN, 0};
    const int ready = left.count() <= 0 ? 0 : ::poll(&readable, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      timed_out = true;
      break;
    }
    char chunk[512];
    const ssize_t got = ::read(verdict_in.get(), chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    verdict.append(chunk, static_cast<std::size_t>(got));
  }
  if (timed_out) ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);

  ASSERT_FALSE(timed_out) << "child did not finish within " << kChildTimeout.count() << " s";
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "child died (status " << status << "); last report: " << verdict;
  ASSERT_FALSE(verdict.empty()) << "child reported nothing";
  if (verdict[0] == kSkipped) GTEST_SKIP() << "cannot create a tap here: " << verdict.substr(1);
  EXPECT_EQ(verdict[0], kPassed) << verdict.substr(1);
}

std::vector<std::uint8_t> make_test_frame(std::size_t length, std::uint8_t marker) {
  std::vector<std::uint8_t> frame(length);
  std::fill_n(frame.begin(), 6, std::uint8_t{0xff});  // broadcast: no MAC filter applies
  const std::uint8_t source[6] = {0x02, 0x00, 0x00, 0x00, 0x00, marker};
  std::copy(std::begin(source), std::end(source), frame.begin() + 6);
  frame[12] = static_cast<std::uint8_t>(kTestEtherType >> 8);
  frame[13] = static_cast<std::uint8_t>(kTestEtherType & 0xff);
  for (std::size_t i = 14; i < length; ++i) frame[i] = static_cast<std::uint8_t>(i * 7 + marker);
  return frame;
}

// A raw packet socket on one interface: the host side of the tap.
OwnedFd open_packet_socket(const std::string& interface) {
  OwnedFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
  if (!fd.valid()) throw_net_errno("socket(AF_PACKET)");
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_ALL);
  address.sll_ifindex = static_cast<int>(::if_nametoindex(interface.c_str()));
  if (address.sll_ifindex == 0) throw_net_errno("if_nametoindex " + interface);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    throw_net_errno("bind AF_PACKET socket to " + interface);
  }
  return fd;
}

// Reads the packet socket until `wanted` arrives or time runs out. Other
// traffic (the kernel's IPv6 chatter when a link comes up) is skipped.
bool packet_socket_sees(int fd, const std::vector<std::uint8_t>& wanted) {
  const auto deadline = Clock::now() + kFrameTimeout;
  std::vector<std::uint8_t> buffer(65536);
  while (Clock::now() < deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd readable = {fd, POLLIN, 0};
    if (::poll(&readable, 1, static_cast<int>(std::max<long>(left.count(), 1))) <= 0) continue;
    const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (got < 0) continue;
    if (std::equal(wanted.begin(), wanted.end(), buffer.begin(), buffer.begin() + got)) return true;
  }
  return false;
}

// Pops frames until one satisfies `match` or time runs out.
std::optional<std::vector<std::uint8_t>> queue_receives(
    FrameQueue& queue, const std::function<bool(const std::vector<std::uint8_t>&)>& match) {
  const auto deadline = Clock::now() + kFrameTimeout;
  while (Clock::now() < deadline) {
    auto frame =
        queue.pop(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    if (frame && match(*frame)) return frame;
  }
  return std::nullopt;
}

std::string send_on_packet_socket(int fd, const std::vector<std::uint8_t>& frame) {
  const ssize_t sent = ::send(fd, frame.data(), frame.size(), 0);
  if (sent != static_cast<ssize_t>(frame.size())) {
    return "send on packet socket: " + std::string(std::strerror(errno));
  }
  return {};
}

TEST(TapDeviceTest, FramesCrossTheTapInBothDirections) {
  run_in_fresh_network_namespace([]() -> std::string {
    FrameQueue from_host(1024);  // outlives the tap, whose reader feeds it
    TapDevice tap("vpiotest0");
    if (tap.name() != "vpiotest0") return "tap is named '" + tap.name() + "'";
    tap.up();
    tap.start(from_host);
    try {
      tap.start(from_host);
      return "a second start() did not throw";
    } catch (const std::logic_error&) {
    }
    OwnedFd host = open_packet_socket(tap.name());

    // Guest to host: what the tap is given arrives on the interface.
    const auto to_host = make_test_frame(kMaxFrameBytes, 1);
    tap.deliver(to_host);
    if (tap.counters().frames_written != 1 || tap.counters().write_failures != 0) {
      return "write to the tap failed";
    }
    if (!packet_socket_sees(host.get(), to_host))
      return "packet socket never saw the frame written to the tap";

    // Host to guest: what the interface sends reaches the reader's receiver.
    const auto from_host_frame = make_test_frame(200, 2);
    if (auto error = send_on_packet_socket(host.get(), from_host_frame); !error.empty())
      return error;
    if (!queue_receives(from_host, [&](const auto& f) { return f == from_host_frame; })) {
      return "reader thread never delivered the frame sent on the interface";
    }

    // The host sends runts (ARP is 42 bytes); the reader pads them like a wire.
    const auto runt = make_test_frame(42, 3);
    if (auto error = send_on_packet_socket(host.get(), runt); !error.empty()) return error;
    auto padded = queue_receives(from_host, [&](const auto& f) {
      return f.size() >= runt.size() && std::equal(runt.begin(), runt.end(), f.begin());
    });
    if (!padded) return "reader thread never delivered the runt";
    if (padded->size() != kMinFrameBytes)
      return "runt arrived as " + std::to_string(padded->size()) + " bytes";
    if (!std::all_of(padded->begin() + 42, padded->end(), [](std::uint8_t b) { return b == 0; })) {
      return "runt padding is not zero";
    }
    if (tap.counters().runts_padded == 0) return "runts_padded was not counted";

    const auto stop_started = Clock::now();
    tap.stop();
    if (Clock::now() - stop_started > 1s) return "stop() took more than a second";
    if (tap.reader_error() != 0)
      return "reader ended with errno " + std::to_string(tap.reader_error());

    // Stopped means stopped: nothing more reaches the receiver.
    const std::size_t queued = from_host.size();
    const auto while_stopped = make_test_frame(100, 4);
    if (auto error = send_on_packet_socket(host.get(), while_stopped); !error.empty()) return error;
    std::this_thread::sleep_for(100ms);
    if (from_host.size() != queued) return "a frame arrived after stop()";

    // And it can start again, picking up what queued meanwhile.
    tap.start(from_host);
    if (!queue_receives(from_host, [&](const auto& f) { return f == while_stopped; })) {
      return "after a restart the reader did not deliver the frame queued while stopped";
    }
    return {};
  });
}

TEST(TapDeviceTest, KernelNamedTapVanishesWithItsOwner) {
  run_in_fresh_network_namespace([]() -> std::string {
    std::string name;
    {
      FrameQueue sink(1);  // outlives the tap, whose reader feeds it
      TapDevice tap;
      name = tap.name();
      if (name.rfind("tap", 0) != 0) return "kernel chose the unexpected name '" + name + "'";
      if (::if_nametoindex(name.c_str()) == 0)
        return "no interface " + name + " while the tap lives";
      // A tap that is down refuses frames; that is counted, not thrown.
      tap.deliver(make_test_frame(kMinFrameBytes, 5));
      if (tap.counters().write_failures != 1)
        return "a write to a down tap was not counted as failed";
      // The reader starts and stops cleanly even if nothing ever arrives.
      tap.start(sink);
    }
    if (::if_nametoindex(name.c_str()) != 0) return "interface " + name + " outlived its TapDevice";
    return {};
  });
}

TEST(TapDeviceTest, ErrorsNameTheDeviceAndTheCall) {
  run_in_fresh_network_namespace([]() -> std::string {
    TapDevice first("vpiodup0");
    try {
      TapDevice second("vpiodup0");  // the name is attached to `first`
      return "attaching a second owner to a busy tap did not throw";
    } catch (const std::system_error& error) {
      const std::string what = error.what();
      if (what.find("vpiodup0") == std::string::npos ||
          what.find("TUNSETIFF") == std::string::npos) {
        return "error does not name the device and call: " + what;
      }
    }
    return {};
  });
}

TEST(TapDeviceTest, OverlongNameIsRejectedBeforeTouchingTheKernel) {
  EXPECT_THROW(TapDevice("a-name-longer-than-ifnamsiz"), std::invalid_argument);
}

}  // namespace
}  // namespace vpio::net

// TAP creation through /dev/net/tun, link control through SIOCSIFFLAGS, and
// the reader thread that turns the tap's queue into deliver() calls.
#include "net/tap_device.hpp"

// struct ifreq comes from glibc's <net/if.h>; <linux/if.h> would clash with it.
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "net/hub.hpp"

namespace vpio::net {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;
constexpr const char* kTunDevicePath = "/dev/net/tun";

// Bigger than any frame a tap with a jumbo MTU could hand us, so an oversize
// frame is seen whole and dropped rather than read truncated.
constexpr std::size_t kReadBufferBytes = 65536;
// Frames read per wake-up before checking for stop again, so a flooding host
// cannot hold the reader away from a stop request.
constexpr int kMaxFramesPerWakeup = 64;

std::string describe(const std::string& name) {
  return name.empty() ? std::string("tap (kernel-named)") : "tap '" + name + "'";
}

ifreq request_for(const std::string& name) {
  ifreq request{};
  name.copy(request.ifr_name, IFNAMSIZ - 1);
  return request;
}

}  // namespace

TapDevice::TapDevice(const std::string& requested_name) {
  if (requested_name.size() >= IFNAMSIZ) {
    throw std::invalid_argument("TapDevice: interface name '" + requested_name +
                                "' is longer than " + std::to_string(IFNAMSIZ - 1) + " characters");
  }
  // Non-blocking, so the reader drains the queue and returns to poll, and a
  // write never stalls a vCPU thread.
  tap_ = base::OwnedFd(::open(kTunDevicePath, O_RDWR | O_CLOEXEC | O_NONBLOCK));
  if (!tap_.valid()) {
    base::throw_net_errno(std::string("open ") + kTunDevicePath + " for " + describe(requested_name));
  }
  ifreq request = request_for(requested_name);
  request.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI);
  if (::ioctl(tap_.get(), TUNSETIFF, &request) < 0) {
    base::throw_net_errno("ioctl TUNSETIFF for " + describe(requested_name));
  }
  name_.assign(request.ifr_name, ::strnlen(request.ifr_name, IFNAMSIZ));
}

TapDevice::~TapDevice() { stop(); }

void TapDevice::up() {
  // Interface flags are set through any socket of the tap's namespace.
  base::OwnedFd control(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!control.valid()) base::throw_net_errno("socket(AF_INET) to bring up " + describe(name_));
  ifreq request = request_for(name_);
  if (::ioctl(control.get(), SIOCGIFFLAGS, &request) < 0) {
    base::throw_net_errno("ioctl SIOCGIFFLAGS on " + describe(name_));
  }
  request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
  if (::ioctl(control.get(), SIOCSIFFLAGS, &request) < 0) {
    base::throw_net_errno("ioctl SIOCSIFFLAGS (IFF_UP) on " + describe(name_));
  }
}

void TapDevice::start(hw::FrameSink& receiver) {
  if (reader_.running())
    throw std::logic_error("TapDevice::start: " + describe(name_) + " already started");
  reader_.start(tap_.get(), POLLIN,
                [this, &receiver,
                 buffer = std::vector<std::uint8_t>(kReadBufferBytes)](short revents) mutable {
                  // Polling again would return at once forever; end instead
                  // of spinning.
                  if ((revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) return EIO;
                  return (revents & POLLIN) != 0 ? drain_tap(receiver, buffer) : 0;
                });
}

void TapDevice::stop() noexcept { reader_.stop(); }

void TapDevice::deliver(std::span<const std::uint8_t> frame) {
  const ssize_t written = ::write(tap_.get(), frame.data(), frame.size());
  if (written < 0 || static_cast<std::size_t>(written) != frame.size()) {
    write_failures_.fetch_add(1, kRelaxed);
    return;
  }
  frames_written_.fetch_add(1, kRelaxed);
  bytes_written_.fetch_add(frame.size(), kRelaxed);
}

TapCounters TapDevice::counters() const noexcept {
  TapCounters c;
  c.frames_written = frames_written_.load(kRelaxed);
  c.bytes_written = bytes_written_.load(kRelaxed);
  c.write_failures = write_failures_.load(kRelaxed);
  c.frames_read = frames_read_.load(kRelaxed);
  c.bytes_read = bytes_read_.load(kRelaxed);
  c.runts_padded = runts_padded_.load(kRelaxed);
  c.oversize_dropped = oversize_dropped_.load(kRelaxed);
  return c;
}

int TapDevice::drain_tap(hw::FrameSink& receiver, std::span<std::uint8_t> buffer) {
  for (int i = 0; i < kMaxFramesPerWakeup; ++i) {
    const ssize_t got = ::read(tap_.get(), buffer.data(), buffer.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      return errno;
    }
    std::size_t length = static_cast<std::size_t>(got);
    if (length > hw::kMaxTaggedFrameBytes) {
      oversize_dropped_.fetch_add(1, kRelaxed);
      continue;
    }
    // The host stack hands over frames as short as 42 bytes (ARP); a real
    // wire carries them padded to the minimum, and chips drop runts.
    if (length < hw::kMinFrameBytes) {
      std::fill(buffer.begin() + static_cast<std::ptrdiff_t>(length),
                buffer.begin() + static_cast<std::ptrdiff_t>(hw::kMinFrameBytes), std::uint8_t{0});
      length = hw::kMinFrameBytes;
      runts_padded_.fetch_add(1, kRelaxed);
    }
    frames_read_.fetch_add(1, kRelaxed);
    bytes_read_.fetch_add(length, kRelaxed);
    receiver.deliver(buffer.first(length));
  }
  return 0;
}

}  // namespace vpio::net

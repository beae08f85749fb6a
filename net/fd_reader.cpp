// The reader thread shared by the wire backends.
#include "net/fd_reader.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <stdexcept>

namespace vpio::net {

FdReader::FdReader() : stop_event_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!stop_event_.valid()) base::throw_net_errno("eventfd for a wire's reader thread");
}

void FdReader::start(int fd, short events, OnReady on_ready) {
  if (thread_.joinable()) throw std::logic_error("FdReader::start: already started");
  error_.store(0, std::memory_order_relaxed);
  thread_ = std::thread(
      [this, fd, events, on_ready = std::move(on_ready)] { run(fd, events, on_ready); });
}

void FdReader::stop() noexcept {
  if (!thread_.joinable()) return;
  const std::uint64_t wake = 1;
  // Cannot fail short of counter overflow; the read below resets it.
  [[maybe_unused]] const ssize_t written = ::write(stop_event_.get(), &wake, sizeof wake);
  thread_.join();
  std::uint64_t pending = 0;
  [[maybe_unused]] const ssize_t consumed = ::read(stop_event_.get(), &pending, sizeof pending);
}

void FdReader::run(int fd, short events, const OnReady& on_ready) {
  enum { kFd, kStop };
  std::array<pollfd, 2> watched{};
  watched[kFd] = {fd, events, 0};
  watched[kStop] = {stop_event_.get(), POLLIN, 0};
  for (;;) {
    if (::poll(watched.data(), watched.size(), -1) < 0) {
      if (errno == EINTR) continue;
      error_.store(errno, std::memory_order_relaxed);
      return;
    }
    if (watched[kStop].revents != 0) return;
    if (watched[kFd].revents == 0) continue;
    if (const int err = on_ready(watched[kFd].revents); err != 0) {
      error_.store(err, std::memory_order_relaxed);
      return;
    }
  }
}

}  // namespace vpio::net

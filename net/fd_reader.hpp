// The reader thread of a wire backend (TAP, UDP): waits for one fd to be
// ready, hands each wakeup to the backend, and stops promptly when asked.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

#include "base/owned_fd.hpp"

namespace vpio::net {

class FdReader {
 public:
  // Called on the reader thread with the fd's poll revents; returns 0 to go
  // on waiting, or the errno value that ends the reader.
  using OnReady = std::function<int(short revents)>;

  // Throws std::system_error without an eventfd.
  FdReader();
  FdReader(const FdReader&) = delete;
  FdReader& operator=(const FdReader&) = delete;
  ~FdReader() { stop(); }

  // Starts the thread polling `fd` for `events`. Throws std::logic_error if
  // already started (owners check running() first, to name themselves).
  void start(int fd, short events, OnReady on_ready);
  bool running() const noexcept { return thread_.joinable(); }
  // Wakes and joins the thread; idempotent, and start() may follow again.
  void stop() noexcept;
  // The errno that ended the thread early, or 0.
  int error() const noexcept { return error_.load(std::memory_order_relaxed); }

 private:
  void run(int fd, short events, const OnReady& on_ready);

  base::OwnedFd stop_event_;  // an eventfd; written once to wake the thread's poll
  std::thread thread_;
  std::atomic<int> error_{0};
};

}  // namespace vpio::net

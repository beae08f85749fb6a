// Channel 0 of a flat guest's 8254, ticking on a thread of its own.
#include "vmm/pit_timer.hpp"

#include <algorithm>
#include <cstdio>

namespace vpio {
namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

Clock::time_point at_ns(std::uint64_t ns) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

}  // namespace

PitTimer::PitTimer(std::function<void()> tick, std::function<void()> first_start)
    : tick_(std::move(tick)), first_start_(std::move(first_start)) {}

PitTimer::~PitTimer() { stop(); }

void PitTimer::stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

std::uint64_t PitTimer::ticks() const noexcept {
  std::lock_guard lock(mutex_);
  return ticks_;
}

std::uint32_t PitTimer::port_read(std::uint16_t offset, unsigned size) noexcept {
  std::lock_guard lock(mutex_);
  const std::uint64_t now = now_ns();
  std::uint32_t value = 0;
  for (unsigned i = 0; i < size; ++i) {
    const auto port = static_cast<std::uint16_t>(offset + i);
    const std::uint8_t byte = port < hw::Pit8254::kWindowPorts ? pit_.read(port, now) : 0xff;
    value |= std::uint32_t{byte} << (8 * i);
  }
  return value;
}

void PitTimer::port_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept {
  bool starting = false;
  {
    std::lock_guard lock(mutex_);
    const std::uint64_t now = now_ns();
    const std::uint64_t generation = pit_.generation();
    for (unsigned i = 0; i < size; ++i) {
      const auto port = static_cast<std::uint16_t>(offset + i);
      if (port < hw::Pit8254::kWindowPorts)
        pit_.write(port, static_cast<std::uint8_t>(value >> (8 * i)), now);
    }
    if (pit_.generation() == generation || stopping_) return;
    if (!thread_.joinable() && pit_.period_ns() != 0) {
      try {
        thread_ = std::thread([this] { run(); });
        starting = true;
      } catch (...) {
        std::fprintf(stderr, "vpio: cannot start the PIT's thread: the guest gets no ticks\n");
      }
    }
  }
  changed_.notify_all();
  if (starting && first_start_) first_start_();
}

// Raises one edge at the end of each period since the count was loaded. A
// tick that comes late (the thread was not scheduled) is raised once, and
// the next comes at the next boundary of the guest's period: ticks that
// would have been one pending interrupt are not replayed.
void PitTimer::run() noexcept {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const std::uint64_t period = pit_.period_ns();
    if (period == 0) {
      changed_.wait(lock);
      continue;
    }
    const std::uint64_t generation = pit_.generation();
    const std::uint64_t since = pit_.counting_since_ns();
    const std::uint64_t step = std::max<std::uint64_t>(
        period, static_cast<std::uint64_t>(std::chrono::nanoseconds(kMinTickPeriod).count()));
    std::uint64_t next = since + step;
    while (!stopping_ && pit_.generation() == generation) {
      if (changed_.wait_until(lock, at_ns(next),
                              [&] { return stopping_ || pit_.generation() != generation; }))
        break;
      ++ticks_;
      lock.unlock();
      if (tick_) tick_();
      lock.lock();
      const std::uint64_t now = now_ns();
      next += step;
      if (next <= now) next += (now - next) / step * step + step;
    }
  }
}

}  // namespace vpio

// A flat guest's 8254 at ports 0x40-0x43 (hw::Pit8254) and the thread that
// turns channel 0's periodic output into ISA IRQ 0 edges. No thread runs
// until the guest first loads a count: a guest that leaves the timer alone
// sees ports that answer, and nothing else (no interrupt, no exit).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "hooks/port_bus.hpp"
#include "hw/pit8254.hpp"

namespace vpio {

class PitTimer final : public PortDevice {
 public:
  static constexpr std::uint16_t kBasePort = 0x40;
  static constexpr unsigned kIrq = 0;
  // The shortest period ticks are raised at: a guest that programs a faster
  // rate gets ticks at this one (counts read back still run at its rate),
  // as ticks it could not take would merge at the interrupt controller.
  static constexpr std::chrono::microseconds kMinTickPeriod{1000};

  // tick: one edge on IRQ 0, from the timer's thread. first_start: called
  // once, on the guest's vCPU thread, when the guest first starts the timer.
  PitTimer(std::function<void()> tick, std::function<void()> first_start);
  PitTimer(const PitTimer&) = delete;
  PitTimer& operator=(const PitTimer&) = delete;
  ~PitTimer() override;

  // Ends the ticks for good (the guest has ended). Idempotent.
  void stop() noexcept;
  // Edges raised so far.
  std::uint64_t ticks() const noexcept;

  // Wider accesses act as byte accesses to consecutive ports.
  std::uint32_t port_read(std::uint16_t offset, unsigned size) noexcept override;
  void port_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept override;

 private:
  void run() noexcept;

  std::function<void()> tick_;
  std::function<void()> first_start_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  hw::Pit8254 pit_;
  bool stopping_ = false;
  std::uint64_t ticks_ = 0;
  std::thread thread_;  // started at the first count loaded
};

}  // namespace vpio

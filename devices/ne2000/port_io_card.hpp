// A real NE2000-class ISA card reached through host port I/O: the physical
// device behind passthrough and VPIO when the host has such a card.
//
// Interrupts are polled. An ISA card's IRQ goes to the host's interrupt
// controller, and Linux offers userspace no way to receive it (no VFIO or UIO
// for a bare ISA device), so the card's line is derived by reading its ISR
// every poll interval and comparing it with the IMR tracked from the writes
// passing through the card. A rising edge of that derived line is the
// interrupt; latency is up to one poll interval.
//
// The IMR is therefore kept here, not on the card: the card's own IMR stays 0
// so that its IRQ line never rises. The host has no driver for that IRQ, and
// a line that keeps rising unanswered is an interrupt storm the host kernel
// ends by disabling the line for everyone on it ("Disabling IRQ #9", seen in
// the lab before this). Reads of IMR (page 2) return the value written.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "devices/ne2000/ne2000.hpp"
#include "hw/host_ports.hpp"
#include "hw/physical_device.hpp"

namespace vpio::devices {

struct PortIoCardConfig {
  // How often the poller samples ISR; must be positive.
  std::chrono::microseconds poll_interval{1000};
};

struct PortIoCardCounters {
  std::uint64_t polls = 0;  // ISR samples taken by the poller
  std::uint64_t edges = 0;  // rising edges of the derived line the poller saw
};

// Thread safety: every member may be called from any thread; port accesses
// and the poller's samples are serialized by one lock, so a multi-port access
// is never split by a sample. The interrupt handler is called from the
// poller thread with no lock held and may call back into the card.
class PortIoCard final : public hw::PhysicalDevice {
 public:
  static constexpr std::uint16_t kWindowPorts = Ne2000::kWindowPorts;

  // Requests the window's ports, resets the card and reads its station PROM.
  // Throws std::invalid_argument for a base that is not 32-port aligned or a
  // non-positive poll interval, whatever ports.request() throws, and
  // std::runtime_error naming the base when no NE2000 answers there. Leaves
  // the card stopped, ISR acknowledged, IMR 0, register page 0.
  PortIoCard(hw::HostPorts& ports, std::uint16_t base, PortIoCardConfig config = {});
  // Stops the poller and leaves the card stopped with its interrupts masked,
  // so that it raises nothing on the host's IRQ line once nobody listens.
  ~PortIoCard() override;
  PortIoCard(const PortIoCard&) = delete;
  PortIoCard& operator=(const PortIoCard&) = delete;

  std::uint16_t base() const noexcept { return base_; }
  hw::MacAddress mac() const noexcept { return mac_; }  // from the station PROM
  PortIoCardCounters counters() const;
  // counters() by name: interrupt_polls, interrupt_edges.
  std::vector<Count> counts() const override;

  std::string describe() const override;
  // Accesses outside the window or of a size other than 1, 2 or 4 are
  // refused (reads return all ones): they would reach other host devices.
  std::uint32_t read(std::uint16_t offset, unsigned size) override;
  void write(std::uint16_t offset, unsigned size, std::uint32_t value) override;
  void read_string(std::uint16_t offset, unsigned size, std::span<std::uint8_t> data) override;
  void write_string(std::uint16_t offset, unsigned size,
                    std::span<const std::uint8_t> data) override;
  // Starts the poller on the first non-null handler; a null handler silences
  // delivery and leaves the poller running.
  void set_interrupt_handler(std::function<void()> handler) override;

 private:
  void check_bus_answers();
  void reset_card();
  void read_station_prom();
  // Polls ISR until one of bits is set or the deadline passes; returns the
  // last value read.
  std::uint8_t wait_for_isr(std::uint8_t bits);
  void quiesce();

  // All *_locked members run with mutex_ held.
  bool track_register_write_locked(std::uint16_t offset, std::uint8_t value);
  void track_reset_locked();
  bool sample_line_locked();
  void lower_line_if_clear_locked();
  void poll(std::stop_token stop);

  hw::HostPorts& ports_;
  const std::uint16_t base_;
  const PortIoCardConfig config_;
  hw::MacAddress mac_;

  mutable std::mutex mutex_;
  std::condition_variable_any wakeup_;  // only the destructor's stop wakes it early
  // What the card's registers hold, as far as the writes through it tell.
  unsigned page_ = 0;     // CR bits 7:6
  std::uint8_t imr_ = 0;  // IMR
  // The derived line: only the poller raises it (and calls the handler);
  // writes and resets may lower it, which re-arms the edge.
  bool line_ = false;
  std::function<void()> handler_;
  PortIoCardCounters counters_;
  std::jthread poller_;  // last: stopped before the members it uses go away
};

}  // namespace vpio::devices

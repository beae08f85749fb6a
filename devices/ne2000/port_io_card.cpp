// A real NE2000 behind host port I/O: probe, forwarded accesses, and the
// interrupt line derived by polling ISR (see port_io_card.hpp for why).
#include "devices/ne2000/port_io_card.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "hw/hex.hpp"

namespace vpio::devices {

using hw::hex;

using namespace ne2000;

namespace {

// The DP8390 registers occupy the first 16 ports of the window.
constexpr std::uint16_t kRegisterPorts = 0x10;
constexpr std::uint16_t kDataPort = Ne2000::kDataPort;
constexpr std::uint16_t kResetPort = Ne2000::kResetPort;
constexpr std::uint8_t kFloatingBus = 0xff;

// A DP8390 resets within a couple of milliseconds; an ISA bus with nothing on
// it never answers, so give up well before a user wonders.
constexpr auto kProbeTimeout = std::chrono::milliseconds(100);
constexpr auto kProbeSleep = std::chrono::microseconds(100);

// The PROM is read in word mode, as on a 16-bit card: each word carries one
// PROM byte in both halves.
constexpr std::uint8_t kDcrProbe = kDcrNormal | kDcrFifo8Bytes | kDcrWordTransfer;  // 0x49
constexpr std::size_t kPromWords = kPromBytes / 2;
constexpr std::size_t kSignatureWord0 = 14;
constexpr std::size_t kSignatureWord1 = 15;
constexpr std::uint8_t kCrStopped = kCrPage0 | kCrNoDma | kCrStop;                // 0x21
constexpr std::uint8_t kCrRemoteReadStart = kCrPage0 | kCrRemoteRead | kCrStart;  // 0x0a

bool valid_size(unsigned size) { return size == 1 || size == 2 || size == 4; }

std::uint32_t all_ones(unsigned size) { return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1; }

}  // namespace

// ---- PortIoCard: probe ----

PortIoCard::PortIoCard(hw::HostPorts& ports, std::uint16_t base, PortIoCardConfig config)
    : ports_(ports), base_(base), config_(config) {
  // An aligned 16-bit base always leaves the whole window below 0x10000.
  if (base % kWindowPorts != 0) {
    throw std::invalid_argument("NE2000 base " + hex(base) + " is not 32-port aligned");
  }
  if (config_.poll_interval.count() <= 0) {
    throw std::invalid_argument("NE2000 at " + hex(base) + ": poll interval must be positive");
  }
  ports_.request(base_, kWindowPorts);
  // No other thread knows the card yet, so the probe needs no lock.
  check_bus_answers();
  reset_card();
  read_station_prom();
  quiesce();
}

PortIoCard::~PortIoCard() {
  if (poller_.joinable()) {
    poller_.request_stop();
    poller_.join();
  }
  quiesce();
}

// An empty ISA bus floats high. The registers are read before the reset
// because reading the data and reset ports has side effects; CR alone never
// reads 0xff on a DP8390, but demanding all sixteen keeps the verdict plain.
void PortIoCard::check_bus_answers() {
  for (std::uint16_t offset = 0; offset < kRegisterPorts; ++offset) {
    if (ports_.inb(static_cast<std::uint16_t>(base_ + offset)) != kFloatingBus) return;
  }
  throw std::runtime_error("no card answers at " + hex(base_) + " (its ports read 0xff)");
}

// The NE2000 ASIC resets the DP8390 on an access to its reset port; writing
// back what was read is the sequence that works on every clone.
void PortIoCard::reset_card() {
  const auto reset_port = static_cast<std::uint16_t>(base_ + kResetPort);
  ports_.outb(reset_port, ports_.inb(reset_port));
  const std::uint8_t isr = wait_for_isr(kIsrRst);
  if ((isr & kIsrRst) == 0) {
    throw std::runtime_error(
        "the card at " + hex(base_) + " did not reset: ISR.RST not set within " +
        std::to_string(kProbeTimeout.count()) + " ms (ISR reads " + hex(isr) + "); not an NE2000");
  }
}

void PortIoCard::read_station_prom() {
  auto reg = [this](std::uint16_t offset, std::uint8_t value) {
    ports_.outb(static_cast<std::uint16_t>(base_ + offset), value);
  };
  reg(kCr, kCrStopped);
  reg(kDcr, kDcrProbe);
  // Monitor mode and loopback, so that the card, started for the remote DMA,
  // stores and sends nothing while its ring is unprogrammed.
  reg(kRcr, kRcrMonitor);
  reg(kTcr, kTcrInternalLoopback);
  reg(kIsr, 0xff);
  reg(kRbcr0, static_cast<std::uint8_t>(kPromBytes));
  reg(kRbcr1, 0);
  reg(kRsar0, 0);
  reg(kRsar1, 0);
  reg(kCr, kCrRemoteReadStart);

  std::array<std::uint16_t, kPromWords> words{};
  for (auto& word : words) word = ports_.inw(static_cast<std::uint16_t>(base_ + kDataPort));
  const std::uint8_t isr = wait_for_isr(kIsrRdc);
  reg(kIsr, kIsrRdc);

  std::string dump;
  bool doubled = true;
  std::array<std::uint8_t, kPromWords> prom{};
  for (std::size_t i = 0; i < kPromWords; ++i) {
    const auto low = static_cast<std::uint8_t>(words[i]);
    const auto high = static_cast<std::uint8_t>(words[i] >> 8);
    doubled = doubled && low == high;
    prom[i] = low;
    char text[8];
    std::snprintf(text, sizeof text, "%s%04x", i == 0 ? "" : " ", unsigned{words[i]});
    dump += text;
  }
  std::string failure;
  if ((isr & kIsrRdc) == 0) {
    failure = "the card at " + hex(base_) +
              " did not complete the remote DMA of its station PROM (ISR " + hex(isr) +
              ", words read: " + dump + "); not an NE2000";
  } else if (!doubled || prom[kSignatureWord0] != kPromSignature ||
             prom[kSignatureWord1] != kPromSignature) {
    failure = "the card at " + hex(base_) + " is not an NE2000: its station PROM reads " + dump +
              " in word mode, expected each byte doubled and 'W' (0x57) in bytes 14 and 15";
  }
  if (!failure.empty()) {
    // It answered like a DP8390, so stopping it is safe and leaves it quiet.
    quiesce();
    throw std::runtime_error(failure);
  }
  std::copy_n(prom.begin(), mac_.bytes.size(), mac_.bytes.begin());
}

std::uint8_t PortIoCard::wait_for_isr(std::uint8_t bits) {
  const auto isr_port = static_cast<std::uint16_t>(base_ + kIsr);
  const auto deadline = std::chrono::steady_clock::now() + kProbeTimeout;
  for (;;) {
    const std::uint8_t isr = ports_.inb(isr_port);
    if ((isr & bits) != 0 || std::chrono::steady_clock::now() >= deadline) return isr;
    std::this_thread::sleep_for(kProbeSleep);
  }
}

// Stopped, everything acknowledged, nothing unmasked: the state the probe
// leaves and the destructor restores. Callers hold the lock or own the card.
void PortIoCard::quiesce() {
  ports_.outb(static_cast<std::uint16_t>(base_ + kCr), kCrStopped);
  ports_.outb(static_cast<std::uint16_t>(base_ + kIsr), 0xff);
  ports_.outb(static_cast<std::uint16_t>(base_ + kImr), 0);
  page_ = 0;
  imr_ = 0;
  line_ = false;
}

// ---- PortIoCard: accesses ----

std::string PortIoCard::describe() const {
  return "NE2000 at host port " + hex(base_) + " (PROM " + mac_.to_string() + "), polled every " +
         std::to_string(config_.poll_interval.count()) + " us";
}

PortIoCardCounters PortIoCard::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

std::vector<hw::PhysicalDevice::Count> PortIoCard::counts() const {
  const PortIoCardCounters c = counters();
  return {{"interrupt_polls", c.polls}, {"interrupt_edges", c.edges}};
}

std::uint32_t PortIoCard::read(std::uint16_t offset, unsigned size) {
  if (!valid_size(size) || offset + size > kWindowPorts) return all_ones(size);
  const auto port = static_cast<std::uint16_t>(base_ + offset);
  std::lock_guard lock(mutex_);
  std::uint32_t value = 0;
  switch (size) {
    case 1: value = ports_.inb(port); break;
    case 2: value = ports_.inw(port); break;
    default: value = ports_.inl(port); break;
  }
  // IMR reads back (page 2) as written, not as the card holds it (0).
  if (page_ == 2 && offset <= kImr && kImr < offset + size) {
    const unsigned shift = 8 * static_cast<unsigned>(kImr - offset);
    value = (value & ~(std::uint32_t{kIsrInterruptMask} << shift)) | std::uint32_t{imr_} << shift;
  }
  // Reading the reset port resets the card as writing it does.
  if (offset + size > kResetPort) track_reset_locked();
  return value;
}

void PortIoCard::write(std::uint16_t offset, unsigned size, std::uint32_t value) {
  if (!valid_size(size) || offset + size > kWindowPorts) return;
  const auto port = static_cast<std::uint16_t>(base_ + offset);
  std::lock_guard lock(mutex_);
  const std::uint32_t written = value;
  // The card's own IMR stays 0: the mask is applied here (see the header).
  if (page_ == 0 && offset <= kImr && kImr < offset + size)
    value &= ~(std::uint32_t{0xff} << 8 * static_cast<unsigned>(kImr - offset));
  switch (size) {
    case 1: ports_.outb(port, static_cast<std::uint8_t>(value)); break;
    case 2: ports_.outw(port, static_cast<std::uint16_t>(value)); break;
    default: ports_.outl(port, value); break;
  }
  // The ISA bus splits a wide access into byte accesses to consecutive
  // ports, in ascending order; track it the same way.
  bool line_may_drop = false;
  for (unsigned lane = 0; lane < size; ++lane) {
    const auto lane_offset = static_cast<std::uint16_t>(offset + lane);
    if (lane_offset < kRegisterPorts) {
      const auto byte = static_cast<std::uint8_t>(written >> (8 * lane));
      line_may_drop = track_register_write_locked(lane_offset, byte) || line_may_drop;
    }
  }
  if (line_may_drop) lower_line_if_clear_locked();
  if (offset + size > kResetPort) track_reset_locked();
}

void PortIoCard::read_string(std::uint16_t offset, unsigned size, std::span<std::uint8_t> data) {
  if (!valid_size(size) || offset + size > kWindowPorts) return;
  std::lock_guard lock(mutex_);
  ports_.ins(static_cast<std::uint16_t>(base_ + offset), size, data);
  if (offset + size > kResetPort && data.size() >= size) track_reset_locked();
}

void PortIoCard::write_string(std::uint16_t offset, unsigned size,
                              std::span<const std::uint8_t> data) {
  if (!valid_size(size) || offset + size > kWindowPorts) return;
  std::lock_guard lock(mutex_);
  ports_.outs(static_cast<std::uint16_t>(base_ + offset), size, data);
  // A string write to registers would need per-element tracking; drivers use
  // string I/O on the data port only, so only the reset port is followed.
  if (offset + size > kResetPort && data.size() >= size) track_reset_locked();
}

// ---- PortIoCard: the polled interrupt line ----

// Returns whether the write can have dropped the line: one to CR (a page
// change lets ISR be read again), or to page-0 ISR or IMR.
bool PortIoCard::track_register_write_locked(std::uint16_t offset, std::uint8_t value) {
  if (offset == kCr) {
    page_ = unsigned{value} >> kCrPageShift;
    return true;
  }
  if (page_ != 0) return false;
  if (offset == kImr) imr_ = value & kIsrInterruptMask;
  return offset == kImr || offset == kIsr;
}

// A DP8390 reset selects page 0 and masks every interrupt, which drops the
// line without a look at ISR.
void PortIoCard::track_reset_locked() {
  page_ = 0;
  imr_ = 0;
  line_ = false;
}

// ISR sits at offset 7 of page 0 only (page 1 has CURR there), so a sample
// is taken only when the tracked page says so.
bool PortIoCard::sample_line_locked() {
  if (page_ != 0) return line_;
  const std::uint8_t isr = ports_.inb(static_cast<std::uint16_t>(base_ + kIsr));
  return (isr & imr_ & kIsrInterruptMask) != 0;
}

// After a write that can change ISR, IMR or the page, the line is resampled so
// that an acknowledgement that drops it re-arms the edge at once. A rise is
// left to the poller: recording it here would swallow the edge the handler
// must see.
void PortIoCard::lower_line_if_clear_locked() {
  if (line_ && !sample_line_locked()) line_ = false;
}

void PortIoCard::set_interrupt_handler(std::function<void()> handler) {
  std::lock_guard lock(mutex_);
  handler_ = std::move(handler);
  if (handler_ && !poller_.joinable()) {
    poller_ = std::jthread([this](std::stop_token stop) { poll(std::move(stop)); });
  }
}

void PortIoCard::poll(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  for (;;) {
    // Nothing but a stop request ends the wait early.
    wakeup_.wait_for(lock, stop, config_.poll_interval, [] { return false; });
    if (stop.stop_requested()) return;
    if (page_ != 0) continue;
    ++counters_.polls;
    const bool level = sample_line_locked();
    const bool rose = level && !line_;
    line_ = level;
    if (!rose) continue;
    ++counters_.edges;
    // A copy: the handler may replace itself, or call into the card.
    std::function<void()> handler = handler_;
    if (!handler) continue;
    lock.unlock();
    handler();
    lock.lock();
  }
}

}  // namespace vpio::devices

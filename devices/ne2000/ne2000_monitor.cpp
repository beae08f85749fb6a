// The NE2000's side of the Device Modeling Monitor.
#include "hw/bytes.hpp"
#include "devices/ne2000/ne2000_monitor.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace vpio::devices {
namespace reg = ne2000;

namespace {

constexpr std::uint16_t kDataPort = Ne2000Model::kDataPort;
constexpr std::uint16_t kResetPort = Ne2000Model::kResetPort;
constexpr std::uint16_t kWindowPorts = Ne2000Model::kWindowPorts;

// Whether an access of `size` bytes at `offset` covers the reset port: a
// wide one (outw +0x1e, outl +0x1c) resets the card as a byte access does.
bool covers_reset(std::uint16_t offset, unsigned size) {
  return offset <= kResetPort && kResetPort < offset + size;
}
// The card's own settings while the monitor holds it: word transfers,
// normal operation, 8-byte FIFO threshold.
constexpr std::uint8_t kMonitorDcr = reg::kDcrWordTransfer | reg::kDcrNormal | reg::kDcrFifo8Bytes;
constexpr std::uint8_t kRun = reg::kCrStart | reg::kCrNoDma;  // page 0, started, no DMA
constexpr std::uint8_t kReceiveEvents = reg::kIsrPrx | reg::kIsrRxe | reg::kIsrOvw;
// Polls of ISR for a remote DMA or transmit of the monitor's own to end.
// The chip and QEMU finish at once; real cards within microseconds.
constexpr unsigned kCardPolls = 100000;

using hw::hi;
using hw::lo;


}  // namespace

// ---- Guests ----

Ne2000Monitor::Guest::Guest(Ne2000Monitor& monitor, std::string name, hw::MacAddress mac,
                            GuestLayout layout, GuestCallbacks callbacks)
    : dmm::SharedGuest(monitor.core_, std::move(name), std::move(callbacks), kWindowPorts),
      monitor_(monitor),
      mac_(mac),
      model_(layout),
      shadow_(mac) {
  shadow_.set_irq_line(hw::on_rising_edge(this->callbacks().raise_irq));
}

std::optional<CardRange> Ne2000Monitor::Guest::card_dma_range() const {
  std::lock_guard lock(monitor_.core_.gate());
  return dma_range_;
}

GuestStats Ne2000Monitor::Guest::stats() const {
  std::lock_guard lock(monitor_.core_.gate());
  GuestStats s;
  const dmm::SharedGuestCounts shared = monitor_.core_.counts_locked(*this);
  s.context_switches = shared.context_switches;
  s.violations = shared.violations;
  s.frames_sent = frames_sent_;
  const dmm::nic::ReceiverCounts c = monitor_.demux_.counts(demux_index_);
  s.frames_received = c.frames_received;
  s.frames_filtered = c.frames_filtered;
  s.frames_missed = c.frames_missed;
  s.queue_drops = c.queue_drops;
  s.frames_queued = c.frames_queued;
  return s;
}

dmm::Report Ne2000Monitor::Guest::report() const {
  const GuestStats g = stats();
  return {{{"mac", mac_.to_string()}},
          {{"context_switches", g.context_switches},
           {"violations", g.violations},
           {"frames_sent", g.frames_sent},
           {"frames_received", g.frames_received},
           {"frames_filtered", g.frames_filtered},
           {"frames_missed", g.frames_missed},
           {"queue_drops", g.queue_drops},
           {"frames_queued", g.frames_queued}}};
}

// Called under the monitor's lock (by its demultiplexer).
bool Ne2000Monitor::Guest::store(std::span<const std::uint8_t> frame) {
  const std::uint64_t before = shadow_.counters().frames_received;
  shadow_.deliver(frame);
  return shadow_.counters().frames_received > before;
}

std::uint32_t Ne2000Monitor::Guest::hooked_read(std::uint16_t offset, unsigned size) noexcept {
  Ne2000Monitor& m = monitor_;
  Lock lock(m.core_.gate());
  if (m.core_.stopping_locked()) return ~0u;
  try {
    if (covers_reset(offset, size)) {
      // Reading the reset port resets the card as writing it does.
      m.reset_locked(*this);
      return shadow_.read(offset, size);
    }
    const bool page0 = (model_.registers().cr >> reg::kCrPageShift) == 0;
    // Any read that covers ISR (a byte at +0x07, a word at +0x06, ...) is
    // a poll of the card's events.
    if (page0 && offset <= reg::kIsr && reg::kIsr < offset + size) {
      if (m.dma_owner() == this) m.core_.poll_operation_locked();
      m.core_.check_on_wait_locked();
      m.demux_.flush(demux_index_);
    }
    return shadow_.read(offset, size);
  } catch (...) {
    return ~0u;
  }
}

void Ne2000Monitor::Guest::hooked_write(std::uint16_t offset, unsigned size,
                                        std::uint32_t value) noexcept {
  Ne2000Monitor& m = monitor_;
  Lock lock(m.core_.gate());
  if (m.core_.stopping_locked()) return;
  try {
    if (offset == kDataPort && m.dma_owner() == this) {
      std::array<std::uint8_t, 4> bytes{};
      for (unsigned i = 0; i < bytes.size(); ++i)
        bytes[i] = static_cast<std::uint8_t>(value >> (8 * i));
      m.card_dma_write_locked(*this, std::span(bytes).first(std::min<std::size_t>(size, 4)));
      return;
    }
    if (offset >= kDataPort) {
      // The data port outside a remote write on the card, and the ASIC's
      // other ports, reach the guest's own card only; an access that covers
      // the reset port is a reset, whatever its width.
      if (covers_reset(offset, size)) m.reset_locked(*this);
      shadow_.write(offset, size, value);
      return;
    }
    // A wide access to registers is byte accesses to consecutive ports.
    for (unsigned i = 0; i < size && offset + i < kWindowPorts; ++i) {
      const auto port = static_cast<std::uint16_t>(offset + i);
      if (!m.write_byte_locked(lock, *this, port, static_cast<std::uint8_t>(value >> (8 * i))))
        break;
    }
    if (m.demux_.has_queued(demux_index_)) m.demux_.flush(demux_index_);
  } catch (...) {
  }
}

void Ne2000Monitor::Guest::hooked_read_string(std::uint16_t offset, unsigned size,
                                              std::span<std::uint8_t> data) noexcept {
  if (offset != kDataPort) return HookedIoHandler::hooked_read_string(offset, size, data);
  Lock lock(monitor_.core_.gate());
  try {
    if (!monitor_.core_.stopping_locked()) shadow_.read_string(offset, size, data);
  } catch (...) {
  }
}

void Ne2000Monitor::Guest::hooked_write_string(std::uint16_t offset, unsigned size,
                                               std::span<const std::uint8_t> data) noexcept {
  if (offset != kDataPort) return HookedIoHandler::hooked_write_string(offset, size, data);
  Lock lock(monitor_.core_.gate());
  try {
    if (monitor_.core_.stopping_locked()) return;
    if (monitor_.dma_owner() == this)
      monitor_.card_dma_write_locked(*this, data);
    else
      shadow_.write_string(offset, size, data);
  } catch (...) {
  }
}

// ---- The monitor ----

unsigned default_tx_pages(unsigned guests) noexcept {
  return guests * kTwoBufferTxPages + kMinRingPages <= kCardMemoryPages ? kTwoBufferTxPages
                                                                        : kMinTxPages;
}

Ne2000Monitor::Ne2000Monitor(hw::PhysicalDevice& card, MonitorConfig config)
    : card_(card), config_(config), core_(card, config.sharing), demux_(config.queue_frames) {
  static_assert(kCardMemoryPages == reg::kEndMemoryPage - reg::kFirstMemoryPage);
  if (config_.tx_pages < kMinTxPages)
    throw std::invalid_argument(
        "NE2000 monitor: a transmit area of " + std::to_string(config_.tx_pages) +
        " pages holds no maximal frame (" + std::to_string(kMinTxPages) + " pages)");
  if (config_.max_guests == 0 ||
      config_.max_guests * config_.tx_pages + kMinRingPages > kCardMemoryPages)
    throw std::invalid_argument(
        "NE2000 monitor: " + std::to_string(config_.max_guests) + " guests of " +
        std::to_string(config_.tx_pages) + " transmit pages leave no receive ring of " +
        std::to_string(kMinRingPages) + " pages in " + std::to_string(kCardMemoryPages));
  ring_start_ =
      static_cast<std::uint8_t>(reg::kFirstMemoryPage + config_.max_guests * config_.tx_pages);
  {
    Lock lock(core_.gate());
    program_card_locked();
  }
  core_.start(*this);
}

Ne2000Monitor::~Ne2000Monitor() { stop(); }

void Ne2000Monitor::stop() { core_.stop(); }

Ne2000Monitor::Guest& Ne2000Monitor::add_guest(std::string name, hw::MacAddress mac,
                                               GuestCallbacks callbacks) {
  Lock lock(core_.gate());
  check_new_guest("NE2000 monitor", name, mac, guests_, config_.max_guests, describe_card());
  GuestLayout layout;
  layout.tx_pages = config_.tx_pages;
  layout.card_tx_page =
      static_cast<std::uint8_t>(reg::kFirstMemoryPage + guests_.size() * config_.tx_pages);
  guests_.push_back(
      std::unique_ptr<Guest>(new Guest(*this, std::move(name), mac, layout, std::move(callbacks))));
  // The guest's operations may touch its transmit area on the card, nothing else.
  guests_.back()->set_share(dmm::DmaShare::device_range(std::uint64_t{layout.card_tx_page} << 8,
                                                         std::uint64_t{layout.tx_pages} << 8));
  guests_.back()->demux_index_ = demux_.add(*guests_.back());
  return *guests_.back();
}

std::string Ne2000Monitor::describe_card() const { return card_.describe(); }

MonitorStats Ne2000Monitor::stats() const {
  std::lock_guard lock(core_.gate());
  MonitorStats s = stats_;
  const dmm::SharingStats shared = core_.stats_locked();
  s.context_switches = shared.context_switches;
  s.switch_nanoseconds = shared.switch_nanoseconds;
  s.drains = shared.services;
  s.wait_checks = shared.wait_checks;
  s.targets_checked = shared.targets_checked;
  s.targets_refused = shared.targets_refused;
  return s;
}

dmm::Report Ne2000Monitor::report() const {
  const MonitorStats m = stats();
  return {{},
          {{"context_switches", m.context_switches},
           {"switch_nanoseconds", m.switch_nanoseconds},
           {"frames_drained", m.frames_drained},
           {"frames_unclaimed", m.frames_unclaimed},
           {"frames_looped", m.frames_looped},
           {"ring_resyncs", m.ring_resyncs},
           {"drains", m.drains},
           {"wait_checks", m.wait_checks},
           {"targets_checked", m.targets_checked},
           {"targets_refused", m.targets_refused}}};
}

void Ne2000Monitor::drain_now() { core_.service_now(); }

// ---- Guest writes ----

// The card is never reset for a guest: its own card is, and of the guest's
// work on the card only its remote DMA, which ends with it (the bytes it
// wrote stay in its transmit area, as on a card of its own). Another guest's
// DMA or transmit is never touched, so a reset is always allowed (issue 15).
void Ne2000Monitor::reset_locked(Guest& g) {
  if (dma_owner() == &g) abort_card_dma_locked(g);
  g.model_.on_write(kResetPort, 0);
  sync_hooks_locked(g);
}

bool Ne2000Monitor::write_byte_locked(Lock& lock, Guest& g, std::uint16_t offset,
                                      std::uint8_t value) {
  if (offset == kResetPort) {
    reset_locked(g);
    g.shadow_.write(offset, 1, value);
    return true;
  }
  // A finished DMA is no longer the guest's to keep: see whether the card
  // ended it before the model judges a write to the DMA registers.
  if (dma_owner() == &g && offset >= reg::kRsar0 && offset <= reg::kRbcr1)
    core_.poll_operation_locked();
  const Decision d = g.model_.on_write(offset, value);
  if (d.action == Action::refuse) {
    if (d.ends_card_dma && dma_owner() == &g) abort_card_dma_locked(g);
    violation_locked(g, d.verdict, offset);
    return false;
  }
  if (d.ends_card_dma && dma_owner() == &g) abort_card_dma_locked(g);
  // Question 2, checked again by the core against the guest's share.
  if (d.action != Action::shadow && d.action != Action::reset) {
    const dmm::DmaTarget target = g.model_.target(d);
    if (!core_.check_targets_locked(g, {&target, 1}, offset)) {
      g.model_.card_dma_done();  // nothing runs on the card
      sync_hooks_locked(g);
      return false;
    }
  }
  if (d.action == Action::start_card_dma) {
    if (!acquire_card_locked(lock, g)) return false;
    start_card_dma_locked(g, d);
  } else if (d.action == Action::copy_from_card) {
    if (!core_.wait_free_locked(lock, &g)) return false;
    copy_from_card_locked(g, d);
  } else if (d.action == Action::transmit) {
    if (!acquire_card_locked(lock, g)) return false;
    if (!transmit_locked(g, d)) return false;
  } else if (d.action == Action::transmit_copy) {
    if (!acquire_card_locked(lock, g)) return false;
    if (!transmit_copy_locked(g, d)) return false;
  }
  g.shadow_.write(offset, 1, value);
  return true;
}

void Ne2000Monitor::violation_locked(Guest& g, Verdict verdict, std::uint16_t offset) {
  core_.violation_locked(
      g, {static_cast<std::uint16_t>(verdict.violation), verdict.card_address, offset});
}

// ---- The card between guests ----

// A guest's remote DMA held the card past the stall limit: the card's DMA
// is stopped, and the guest told (violation 8, at its RSAR).
dmm::ViolationReport Ne2000Monitor::stop_stalled_operation(dmm::SharedGuest& owner) {
  Guest& g = static_cast<Guest&>(owner);
  g.model_.card_dma_done();
  abort_card_dma_locked(g);
  return {static_cast<std::uint16_t>(Violation::remote_dma_stalled), g.model_.registers().rsar,
          reg::kCr};
}

bool Ne2000Monitor::acquire_card_locked(Lock& lock, Guest& g) {
  if (!core_.wait_free_locked(lock, &g)) return false;
  load_context_locked(g);
  return true;
}

// Restores g's card context unless the card holds it already. A switch
// between guests is counted and timed; writes of a context changed by the
// guest itself (its DCR) are not.
void Ne2000Monitor::load_context_locked(Guest& g) {
  CardContext wanted = g.model_.card_context();
  // While g's validated DMA runs, the card's RSAR/RBCR are its remainder:
  // left alone. Otherwise they are 0, so no direct access reaches memory.
  const bool dma_running = dma_owner() == &g;
  if (dma_running) {
    wanted.rsar = g.loaded_context_.rsar;
    wanted.rbcr = g.loaded_context_.rbcr;
  }
  if (loaded_ == &g && g.loaded_context_ == wanted) return;
  const auto start = Clock::now();
  for (const auto& w : card_context_writes(wanted)) {
    const bool dma_register = w.offset == reg::kRsar0 || w.offset == reg::kRsar1 ||
                              w.offset == reg::kRbcr0 || w.offset == reg::kRbcr1;
    if (dma_running && dma_register) continue;
    card_write(w.offset, w.value);
  }
  g.loaded_context_ = wanted;
  loaded_ = &g;
  core_.context_loaded_locked(g, start);
}

void Ne2000Monitor::start_card_dma_locked(Guest& g, const Decision& d) {
  program_card_dma(d.card.address, d.card.bytes, reg::kCrRemoteWrite);
  g.loaded_context_.rsar = d.card.address;
  g.loaded_context_.rbcr = d.card.bytes;
  g.dma_range_ = d.card;
  core_.begin_operation_locked(g);
  sync_hooks_locked(g);
}

// A remote read of the guest's transmit area: a card need not stop a read
// at RBCR, so the read never reaches it; the range is copied from the card
// into the guest's own card, whose remote read (started by the same CR
// write) then serves the data port.
void Ne2000Monitor::copy_from_card_locked(Guest& g, const Decision& d) {
  std::vector<std::uint8_t> bytes(d.card.bytes);
  card_read_memory(d.card.address, bytes);
  Ne2000State state = g.shadow_.save();
  const std::size_t at = d.view_address - reg::kMemoryStart;
  std::copy_n(bytes.begin(), std::min(bytes.size(), state.memory.size() - at),
              state.memory.begin() + static_cast<std::ptrdiff_t>(at));
  g.shadow_.restore(state);
}

// Writes of the guest's running remote write that the window did not let go
// direct (32-bit ones near its transmit area's end, or posted ones drained
// late): moved in the card's own transfers, which stop at the count the
// monitor programmed.
void Ne2000Monitor::card_dma_write_locked(Guest& g, std::span<const std::uint8_t> bytes) {
  const unsigned width = (g.loaded_context_.dcr & reg::kDcrWordTransfer) != 0 ? 2 : 1;
  card_.write_string(kDataPort, width, bytes);
}

// The window's hooked-I/O list is the model's (question 3).
void Ne2000Monitor::sync_hooks_locked(Guest& g) {
  g.set_hooked(g.model_.hooked());
}

// The card reports the end of the owner's remote DMA by ISR.RDC.
bool Ne2000Monitor::operation_ended(dmm::SharedGuest& owner) {
  if ((card_read(reg::kIsr) & reg::kIsrRdc) == 0) return false;
  Guest& g = static_cast<Guest&>(owner);
  g.model_.card_dma_done();
  release_card_dma_locked();
  sync_hooks_locked(g);
  // The guest's own card ran the same DMA without data; complete it there
  // so that it reports RDC (and raises its line) as the card did.
  const auto& r = g.model_.registers();
  const unsigned width = (r.dcr & reg::kDcrWordTransfer) != 0 ? 2 : 1;
  std::vector<std::uint8_t> filler((r.rbcr + width - 1) / width * width);
  g.shadow_.write_string(kDataPort, width, filler);
  return true;
}

// The model has already ended (or replaced) the guest's DMA.
void Ne2000Monitor::abort_card_dma_locked(Guest& g) {
  card_write(reg::kCr, kRun);
  release_card_dma_locked();
  sync_hooks_locked(g);
}

void Ne2000Monitor::release_card_dma_locked() {
  card_write(reg::kIsr, reg::kIsrRdc);
  // No count may outlive the DMA it was validated for (an aborted one
  // leaves its remainder on the card).
  card_write(reg::kRbcr0, 0);
  card_write(reg::kRbcr1, 0);
  if (Guest* owner = dma_owner(); owner != nullptr) {
    owner->loaded_context_.rsar = 0;
    owner->loaded_context_.rbcr = 0;
    owner->dma_range_.reset();
  }
  core_.end_operation_locked();
}

bool Ne2000Monitor::transmit_locked(Guest& g, const Decision& d) {
  // The source address must be the guest's own: no guest sends as another.
  std::array<std::uint8_t, 12> addresses{};
  card_read_memory(d.card.address, addresses);
  if (!std::equal(g.mac_.bytes.begin(), g.mac_.bytes.end(), addresses.begin() + 6)) {
    violation_locked(
        g, {Violation::foreign_source_address, std::uint32_t{g.model_.registers().tpsr} << 8 | 6u},
        reg::kCr);
    return false;
  }
  load_context_locked(g);  // the read above used the card's DMA registers
  card_write(reg::kTpsr, hi(d.card.address));
  card_write(reg::kTbcr0, lo(d.card.bytes));
  card_write(reg::kTbcr1, hi(d.card.bytes));
  card_write(reg::kCr, kRun | reg::kCrTransmit);
  const std::uint8_t isr = wait_card_isr(reg::kIsrPtx | reg::kIsrTxe);
  if (isr != 0) card_write(reg::kIsr, isr);
  if ((isr & reg::kIsrPtx) != 0) ++g.frames_sent_;

  // The card does not hear itself: frames for other guests on it go round.
  if (demux_.addressed_to_others(addresses, &g)) {
    std::vector<std::uint8_t> frame(d.card.bytes);
    card_read_memory(d.card.address, frame);
    ++stats_.frames_looped;
    demux_locked(frame, &g);
  }
  return true;
}

// A frame in pages of the guest's own card that are not on the physical
// card: its bytes come from the shadow, except any part in the transmit
// area, which is on the card. The copy is sent from the start of the
// guest's transmit area (the card finishes a transmit before the monitor
// goes on), and what it overwrote there is put back, so the guest's own
// card keeps every byte it wrote.
bool Ne2000Monitor::transmit_copy_locked(Guest& g, const Decision& d) {
  const Ne2000State shadow = g.shadow_.save();
  std::vector<std::uint8_t> frame(d.card.bytes);
  const std::size_t at = d.view_address - reg::kMemoryStart;
  std::copy_n(shadow.memory.begin() + static_cast<std::ptrdiff_t>(at), frame.size(), frame.begin());
  const auto part = g.model_.tx_area_part(d.view_address, d.card.bytes);
  if (part.card.bytes != 0)
    card_read_memory(part.card.address, std::span(frame).subspan(part.offset, part.card.bytes));
  // Whole words: the monitor's transfers are word-wide.
  std::vector<std::uint8_t> saved((frame.size() + 1) & ~std::size_t{1});
  card_read_memory(d.card.address, saved);
  card_write_memory(d.card.address, frame);
  const bool sent = transmit_locked(g, d);
  card_write_memory(d.card.address, saved);
  load_context_locked(g);
  return sent;
}

// ---- The card ----

void Ne2000Monitor::card_write(std::uint16_t offset, std::uint8_t value) {
  card_.write(offset, 1, value);
}

std::uint8_t Ne2000Monitor::card_read(std::uint16_t offset) {
  return static_cast<std::uint8_t>(card_.read(offset, 1));
}

// A remote read of card memory by the monitor; the card must be free.
void Ne2000Monitor::card_read_memory(std::uint16_t address, std::span<std::uint8_t> out) {
  if (loaded_ != nullptr) {
    card_write(reg::kDcr, kMonitorDcr);
    loaded_ = nullptr;
  }
  const auto bytes = static_cast<std::uint16_t>((out.size() + 1) & ~std::size_t{1});
  program_card_dma(address, bytes, reg::kCrRemoteRead);
  std::vector<std::uint8_t> words(bytes);
  card_.read_string(kDataPort, 2, words);
  std::copy_n(words.begin(), out.size(), out.begin());
  wait_card_isr(reg::kIsrRdc);
  card_write(reg::kIsr, reg::kIsrRdc);
  card_write(reg::kCr, kRun);
}

// A remote write of card memory by the monitor; the card must be free. An
// odd length writes one byte more (word transfers), which callers allow for.
void Ne2000Monitor::card_write_memory(std::uint16_t address, std::span<const std::uint8_t> bytes) {
  if (loaded_ != nullptr) {
    card_write(reg::kDcr, kMonitorDcr);
    loaded_ = nullptr;
  }
  std::vector<std::uint8_t> words((bytes.size() + 1) & ~std::size_t{1});
  std::copy(bytes.begin(), bytes.end(), words.begin());
  program_card_dma(address, static_cast<std::uint16_t>(words.size()), reg::kCrRemoteWrite);
  card_.write_string(kDataPort, 2, words);
  wait_card_isr(reg::kIsrRdc);
  card_write(reg::kIsr, reg::kIsrRdc);
  card_write(reg::kCr, kRun);
}

// Any DMA still running is aborted first.
void Ne2000Monitor::program_card_dma(std::uint16_t address, std::uint16_t bytes,
                                     std::uint8_t command) {
  card_write(reg::kCr, kRun);
  card_write(reg::kRbcr0, lo(bytes));
  card_write(reg::kRbcr1, hi(bytes));
  card_write(reg::kRsar0, lo(address));
  card_write(reg::kRsar1, hi(address));
  card_write(reg::kCr, static_cast<std::uint8_t>(reg::kCrStart | command));
}

// Polls ISR until one of `bits` is set (or the budget runs out); the bits seen.
std::uint8_t Ne2000Monitor::wait_card_isr(std::uint8_t bits) {
  for (unsigned poll = 0; poll < kCardPolls; ++poll)
    if (const std::uint8_t seen = card_read(reg::kIsr) & bits; seen != 0) return seen;
  return 0;
}

// The card as the monitor runs it: every guest's transmit area below a
// receive ring the monitor owns, receiving everything on the wire.
void Ne2000Monitor::program_card_locked() {
  card_read(kResetPort);
  card_write(kResetPort, 0);
  wait_card_isr(reg::kIsrRst);
  card_write(reg::kCr, reg::kCrStop | reg::kCrNoDma);
  card_write(reg::kDcr, kMonitorDcr);
  card_write(reg::kRbcr0, 0);
  card_write(reg::kRbcr1, 0);
  card_write(reg::kRcr, reg::kRcrMonitor);
  card_write(reg::kTcr, reg::kTcrInternalLoopback);
  card_write(reg::kPstart, ring_start_);
  card_write(reg::kBnry, ring_start_);
  card_write(reg::kPstop, reg::kEndMemoryPage);
  card_write(reg::kIsr, 0xff);
  card_write(reg::kImr, kReceiveEvents);
  card_write(reg::kCr, reg::kCrStop | reg::kCrNoDma | reg::kCrPage1);
  next_page_ = static_cast<std::uint8_t>(ring_start_ + 1);
  card_write(reg::kCurr, next_page_);
  for (unsigned i = 0; i < 8; ++i) card_write(static_cast<std::uint16_t>(reg::kMar0 + i), 0xff);
  card_write(reg::kCr, reg::kCrStop | reg::kCrNoDma);
  card_write(reg::kCr, kRun);
  card_write(reg::kTcr, 0);
  card_write(reg::kRcr, reg::kRcrPromiscuous | reg::kRcrBroadcast | reg::kRcrMulticast);
  loaded_ = nullptr;
}

// Reads every frame the card has stored and hands it on.
void Ne2000Monitor::service() { drain_locked(); }

bool Ne2000Monitor::has_events() { return (card_read(reg::kIsr) & kReceiveEvents) != 0; }

void Ne2000Monitor::drain_locked() {
  const std::uint8_t isr = card_read(reg::kIsr) & kReceiveEvents;
  if (isr != 0) card_write(reg::kIsr, isr);  // before CURR: a later frame raises PRX again
  card_write(reg::kCr, kRun | reg::kCrPage1);
  const std::uint8_t curr = card_read(reg::kCurr);
  card_write(reg::kCr, kRun);
  const unsigned stop = reg::kEndMemoryPage;
  while (next_page_ != curr) {
    std::array<std::uint8_t, reg::kRingHeaderBytes> header{};
    card_read_memory(static_cast<std::uint16_t>(next_page_ << 8), header);
    const std::uint8_t next = header[1];
    const unsigned count = header[2] | unsigned{header[3]} << 8;
    const bool ok = next >= ring_start_ && next < stop && count > reg::kRingHeaderBytes &&
                    count <= reg::kRingHeaderBytes + reg::kMaxWireFrameBytes + 4;
    if (!ok) {
      ++stats_.ring_resyncs;
      next_page_ = curr;
    } else {
      std::vector<std::uint8_t> frame(count - reg::kRingHeaderBytes);
      const unsigned start = (unsigned{next_page_} << 8) + reg::kRingHeaderBytes;
      const std::size_t to_end = std::min<std::size_t>(frame.size(), (stop << 8) - start);
      card_read_memory(static_cast<std::uint16_t>(start), std::span(frame).first(to_end));
      if (to_end < frame.size())
        card_read_memory(static_cast<std::uint16_t>(ring_start_ << 8),
                         std::span(frame).subspan(to_end));
      ++stats_.frames_drained;
      demux_locked(frame, nullptr);
      next_page_ = next;
    }
    const unsigned boundary = next_page_ == ring_start_ ? stop - 1 : next_page_ - 1u;
    card_write(reg::kBnry, static_cast<std::uint8_t>(boundary));
  }
  demux_.flush_all();
}

// By destination: a guest's own MAC, or a group address for every guest.
void Ne2000Monitor::demux_locked(std::span<const std::uint8_t> frame, const Guest* from) {
  if (!demux_.deliver(frame, from) && from == nullptr) ++stats_.frames_unclaimed;
}

}  // namespace vpio::devices

// The NE2000 VPIO model: classification, translation and validation of a
// guest's programming, in-flight tracking, the hooked-I/O list.
#include "devices/ne2000/ne2000_model.hpp"

#include <algorithm>

#include "devices/ne2000/ne2000.hpp"

namespace vpio::devices {
namespace reg = ne2000;
namespace {

constexpr unsigned kPageShift = 8;
constexpr std::uint32_t kMemoryEnd = reg::kMemoryStart + reg::kMemoryBytes;
// The DP8390's remote DMA address is 16 bits wide and wraps.
constexpr std::uint32_t kRemoteAddressMask = 0xffff;
constexpr std::uint8_t kCrRunState = reg::kCrStart | reg::kCrStop;
// DCR bits the card keeps whatever a guest writes: normal operation (LS) on,
// auto-initialise (AR, bit 4: the card's own send-packet DMA) off.
constexpr std::uint8_t kDcrAutoInit = 0x10;

// The 16-bit registers are written a byte at a time, low byte first or not.
void set_byte(std::uint16_t& reg16, unsigned which, std::uint8_t value) noexcept {
  const unsigned shift = which * 8;
  reg16 = static_cast<std::uint16_t>((reg16 & ~(0xffu << shift)) | (unsigned{value} << shift));
}

std::uint8_t low(unsigned v) noexcept { return static_cast<std::uint8_t>(v & 0xff); }
std::uint8_t high(unsigned v) noexcept { return static_cast<std::uint8_t>((v >> 8) & 0xff); }

Decision refuse(Verdict verdict) noexcept {
  Decision d;
  d.action = Action::refuse;
  d.verdict = verdict;
  return d;
}
Decision refuse(Violation v, std::uint32_t address) noexcept { return refuse({v, address}); }

}  // namespace

std::string_view violation_name(Violation v) noexcept {
  switch (v) {
    case Violation::none: return "none";
    case Violation::remote_dma_outside_share: return "remote DMA outside the guest's share";
    case Violation::transmit_outside_share:
      return "transmit of bytes outside the card's memory, or with a DMA in one command";
    case Violation::transmit_length: return "transmit of an impossible length";
    case Violation::not_initialised: return "card used before it was initialised";
    case Violation::remote_dma_stalled: return "remote DMA held the card too long";
    case Violation::foreign_source_address: return "transmit with another station's address";
    case Violation::remote_dma_reprogrammed: return "remote DMA reprogrammed while it runs";
  }
  return "?";
}

std::array<CardRegisterWrite, kCardContextWrites> card_context_writes(
    const CardContext& c) noexcept {
  return {{{reg::kDcr, c.dcr},
           {reg::kRsar0, low(c.rsar)},
           {reg::kRsar1, high(c.rsar)},
           {reg::kRbcr0, low(c.rbcr)},
           {reg::kRbcr1, high(c.rbcr)},
           {reg::kTpsr, c.tpsr},
           {reg::kTbcr0, low(c.tbcr)},
           {reg::kTbcr1, high(c.tbcr)}}};
}

std::uint16_t Ne2000Model::translate(std::uint32_t view_address) const noexcept {
  return static_cast<std::uint16_t>(view_address - view_tx_start() +
                                    (std::uint32_t{layout_.card_tx_page} << kPageShift));
}

CardContext Ne2000Model::card_context() const noexcept {
  CardContext c;
  c.dcr = static_cast<std::uint8_t>((regs_.dcr | reg::kDcrNormal) & ~kDcrAutoInit);
  // No remote DMA: the card's RSAR and RBCR hold only what the monitor
  // programmed from a range this model validated (Decision::card), never
  // the guest's own values, which may have changed since (issue 13: an
  // RBCR of 0xffff loaded with a transmit opened all of card memory).
  c.rsar = 0;
  c.rbcr = 0;
  c.tpsr = in_tx_area(std::uint32_t{regs_.tpsr} << kPageShift, regs_)
               ? high(translate(std::uint32_t{regs_.tpsr} << kPageShift))
               : std::uint8_t{0};
  c.tbcr = regs_.tbcr;
  return c;
}

dmm::HookedAccesses Ne2000Model::hooked() const noexcept {
  dmm::HookedAccesses h;
  for (std::uint16_t port = 0; port < kWindowPorts; ++port) {
    h.reads.set(port);
    h.writes.set(port);
  }
  if (card_dma_)
    for (std::uint16_t port = kDataPort; port < kDataPort + direct_ports_; ++port)
      h.writes.reset(port);
  return h;
}

dmm::DmaTarget Ne2000Model::target(const Decision& d) const noexcept {
  dmm::DmaTarget t;
  t.space = dmm::DmaSpace::device_memory;
  t.device_address = d.card.address;
  t.bytes = d.card.bytes;
  switch (d.action) {
    case Action::start_card_dma:  // a remote write: the guest's bytes into card memory
      t.direction = dmm::DmaDirection::device_writes;
      t.guest_address = regs_.rsar;
      break;
    case Action::copy_from_card:  // a remote read of the transmit area
      t.direction = dmm::DmaDirection::device_reads;
      t.guest_address = d.view_address;
      break;
    case Action::transmit:
      t.direction = dmm::DmaDirection::device_reads;
      t.guest_address = std::uint32_t{regs_.tpsr} << 8;
      break;
    case Action::transmit_copy:  // the copy goes into the area, then out
      t.direction = dmm::DmaDirection::device_writes;
      t.guest_address = d.view_address;
      break;
    default:
      t.bytes = 0;
      break;
  }
  return t;
}

bool Ne2000Model::runs(const Ne2000GuestRegisters& r) noexcept {
  return (r.cr & reg::kCrStart) != 0 && (r.cr & reg::kCrStop) == 0;
}

// The area ends where the guest's receive ring starts, if that is inside
// it: the project's own driver keeps one buffer at 0x40 and its ring from
// 0x46, lib8390 two buffers and its ring from 0x4c, and each ring's pages
// must stay its own card's however many pages the card gives the guest.
std::uint32_t Ne2000Model::view_tx_end(const Ne2000GuestRegisters& r) const noexcept {
  const unsigned end_page = unsigned{layout_.view_tx_page} + layout_.tx_pages;
  const bool ring_inside = r.pstart > layout_.view_tx_page && r.pstart < end_page;
  return std::uint32_t{ring_inside ? r.pstart : end_page} << kPageShift;
}

// The remote DMA a CR write starts. One that starts in the transmit area
// runs on the card, straight through: it must stay in the area, and not
// cross the guest's PSTOP, where its own card would wrap. In word mode the
// card moves whole words, so an odd count touches one byte more. A write
// there runs with the data port direct (32-bit writes only if
// kCardOverreach bytes of the area are left past its end); a read is
// copied from the card into the guest's own card, which serves it.
// Any other DMA is the guest's own card's alone, wherever it goes (its
// PROM, its ring, memory the card does not have, which reads as the chip
// reads it and takes no writes), so long as it does not walk into the
// transmit area, whose bytes are on the card: vpio cannot split one DMA
// between the two.
Decision Ne2000Model::classify_remote_dma(const Ne2000GuestRegisters& r) const noexcept {
  const bool write = (r.cr & reg::kCrDmaMask) == reg::kCrRemoteWrite;
  const bool words = (r.dcr & reg::kDcrWordTransfer) != 0;
  const std::uint32_t count = words ? (r.rbcr + 1u) & ~1u : r.rbcr;
  if (count == 0) return {};
  const std::uint32_t pstop = std::uint32_t{r.pstop} << kPageShift;
  const std::uint32_t pstart = std::uint32_t{r.pstart} << kPageShift;
  if (in_tx_area(r.rsar, r)) {
    const std::uint32_t end = r.rsar + count;
    const std::uint32_t area_end = view_tx_end(r);
    if (pstart != pstop && pstop > r.rsar && pstop < end)
      return refuse(Violation::remote_dma_outside_share, pstop);
    if (end > area_end) return refuse(Violation::remote_dma_outside_share, area_end);
    if (!initialised_) return refuse(Violation::not_initialised, r.rsar);
    Decision d;
    d.action = write ? Action::start_card_dma : Action::copy_from_card;
    d.card = {translate(r.rsar), static_cast<std::uint16_t>(write ? r.rbcr : count)};
    d.view_address = r.rsar;
    d.direct_ports = end + kCardOverreach <= area_end ? kDataPortSpan : kDataPortWordSpan;
    return d;
  }
  // Walked a page at a time as the chip walks it: the address wraps at
  // 16 bits, and from PSTOP to PSTART whatever their order.
  std::uint32_t address = r.rsar;
  for (std::uint32_t left = count; left > 0;) {
    if (in_tx_area(address, r)) return refuse(Violation::remote_dma_outside_share, address);
    const std::uint32_t page_end = ((address >> kPageShift) + 1u) << kPageShift;
    const std::uint32_t step = std::min(left, page_end - address);
    left -= step;
    address = (address + step) & kRemoteAddressMask;
    if (address == pstop) address = pstart;
  }
  return {};
}

Decision Ne2000Model::classify_transmit(const Ne2000GuestRegisters& r) const noexcept {
  const std::uint32_t start = std::uint32_t{r.tpsr} << kPageShift;
  // A transmitter looped back to its own receiver puts nothing on the wire.
  if ((r.tcr & reg::kTcrLoopbackMask) != 0) return {};
  if (!initialised_) return refuse(Violation::not_initialised, start);
  if (r.tbcr < kMinTransmitBytes || r.tbcr > reg::kMaxWireFrameBytes)
    return refuse(Violation::transmit_length, start);
  if (in_tx_area(start, r) && start + r.tbcr <= view_tx_end(r))
    return {Action::transmit, {}, {translate(start), r.tbcr}, false};
  // Elsewhere in the guest's own memory the frame is its own card's to send:
  // the monitor sends a copy. Past the end of memory a card would read what
  // is not there (or wrap into what is not the guest's).
  if (start < reg::kMemoryStart || start + r.tbcr > kMemoryEnd)
    return refuse(Violation::transmit_outside_share, start);
  Decision d;
  d.action = Action::transmit_copy;
  d.card = {translate(view_tx_start()), r.tbcr};
  d.view_address = static_cast<std::uint16_t>(start);
  return d;
}

Ne2000Model::AreaPart Ne2000Model::tx_area_part(std::uint32_t view_address,
                                                std::uint16_t bytes) const noexcept {
  const std::uint32_t from = std::max(view_address, view_tx_start());
  const std::uint32_t to = std::min(view_address + bytes, view_tx_end(regs_));
  if (from >= to) return {};
  return {static_cast<std::uint16_t>(from - view_address),
          {translate(from), static_cast<std::uint16_t>(to - from)}};
}

Decision Ne2000Model::on_command(std::uint8_t value) noexcept {
  Ne2000GuestRegisters next = regs_;
  // The run state is a latch, as on the chip: a command naming neither STA
  // nor STP (lib8390 selects pages and triggers sends that way) keeps it.
  next.cr = (value & kCrRunState) != 0
                ? value
                : static_cast<std::uint8_t>(value | (regs_.cr & kCrRunState));
  Decision decision;
  const std::uint8_t dma = value & reg::kCrDmaMask;
  const bool starts_dma = dma == reg::kCrRemoteRead || dma == reg::kCrRemoteWrite;
  if (starts_dma) decision = classify_remote_dma(next);
  if (!decision.verdict.ok()) return decision;
  // A transmit and a DMA start in one write: the DMA is refused or started
  // above, and the transmit is checked as well.
  if ((value & reg::kCrTransmit) != 0 && runs(next)) {
    // No driver starts a DMA and a transmit in one write; the card would
    // run both on the same pages.
    if (decision.action != Action::shadow)
      return refuse(Violation::transmit_outside_share, std::uint32_t{next.tpsr} << kPageShift);
    decision = classify_transmit(next);
    if (!decision.verdict.ok()) return decision;
  }
  // Any other DMA command (abort, or a new DMA) ends a remote DMA on the card,
  // and so does a transmit: the monitor uses the card's DMA registers for it
  // (the source-address check), so the direct path must go first (issue 13).
  if (card_dma_ &&
      ((dma != 0 && dma != reg::kCrSendPacket) || decision.action == Action::transmit ||
       decision.action == Action::transmit_copy)) {
    decision.ends_card_dma = true;
    card_dma_ = false;
  }
  if (decision.action == Action::start_card_dma) {
    card_dma_ = true;
    direct_ports_ = decision.direct_ports;
  }
  if (runs(next) && dcr_written_) initialised_ = true;
  regs_.cr = static_cast<std::uint8_t>(next.cr & ~reg::kCrTransmit);
  return decision;
}

Decision Ne2000Model::on_write(std::uint16_t offset, std::uint8_t value) noexcept {
  if (offset == kResetPort) {
    regs_ = Ne2000GuestRegisters{};
    card_dma_ = dcr_written_ = initialised_ = false;
    Decision d;
    d.action = Action::reset;
    return d;
  }
  if (offset >= kDataPort) return {};
  if (offset == reg::kCr) return on_command(value);
  const unsigned page = regs_.cr >> reg::kCrPageShift;
  if (page == 1) {
    if (offset >= reg::kPar0 && offset < reg::kPar0 + 6) regs_.par[offset - reg::kPar0] = value;
    if (offset == reg::kCurr) regs_.curr = value;
    if (offset >= reg::kMar0) regs_.mar[offset - reg::kMar0] = value;
  }
  if (page != 0) return {};
  // The card counts the running DMA from what the monitor programmed; a
  // driver ends a DMA (CR) before it programs the next (issue 13: RBCR
  // rewritten mid-DMA was the first step of an escape).
  const bool dma_register = offset == reg::kRsar0 || offset == reg::kRsar1 ||
                            offset == reg::kRbcr0 || offset == reg::kRbcr1;
  if (card_dma_ && dma_register) {
    // The DMA the guest broke is taken from it: the data port is hooked
    // again, and its later writes to these registers reach its own card.
    Decision d = refuse(Violation::remote_dma_reprogrammed, regs_.rsar);
    d.ends_card_dma = true;
    card_dma_ = false;
    return d;
  }
  // The ring's pointers are the guest's own card's whatever their values:
  // the card runs the monitor's ring, and the guest's own card survives any.
  Ne2000GuestRegisters& next = regs_;
  switch (offset) {
    case reg::kPstart: next.pstart = value; break;
    case reg::kPstop: next.pstop = value; break;
    case reg::kBnry: next.bnry = value; break;
    case reg::kTpsr: next.tpsr = value; break;
    case reg::kTbcr0: set_byte(next.tbcr, 0, value); break;
    case reg::kTbcr1: set_byte(next.tbcr, 1, value); break;
    case reg::kRsar0: set_byte(next.rsar, 0, value); break;
    case reg::kRsar1: set_byte(next.rsar, 1, value); break;
    case reg::kRbcr0: set_byte(next.rbcr, 0, value); break;
    case reg::kRbcr1: set_byte(next.rbcr, 1, value); break;
    case reg::kRcr: next.rcr = value; break;
    case reg::kTcr: next.tcr = value; break;
    case reg::kDcr:
      next.dcr = value;
      dcr_written_ = true;
      break;
    case reg::kImr: next.imr = value; break;
    default: break;
  }
  return {};
}

}  // namespace vpio::devices

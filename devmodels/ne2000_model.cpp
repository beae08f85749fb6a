// The NE2000 VPIO model: DMA and ring validation, in-flight tracking.
#include "devmodels/ne2000_model.hpp"

#include <algorithm>

#include "hw/ne2000.hpp"

namespace vpio::devmodels {
namespace reg = hw::ne2000;
namespace {

constexpr std::uint16_t kResetPort = 0x1f;
constexpr std::uint16_t kMinTransmitBytes = 1;  // the chip pads nothing: 1..1518
constexpr unsigned kPageShift = 8;

// The 16-bit registers are written a byte at a time, low byte first or not.
void set_byte(std::uint16_t& reg16, unsigned which, std::uint8_t value) noexcept {
  const unsigned shift = which * 8;
  reg16 = static_cast<std::uint16_t>((reg16 & ~(0xffu << shift)) | (unsigned{value} << shift));
}

}  // namespace

std::string_view violation_name(Violation v) noexcept {
  switch (v) {
    case Violation::none: return "none";
    case Violation::remote_dma_outside_share: return "remote DMA outside the guest's share";
    case Violation::transmit_outside_share: return "transmit outside the guest's share";
    case Violation::transmit_length: return "transmit of an impossible length";
    case Violation::ring_outside_share: return "receive ring outside the guest's share";
    case Violation::ring_inverted: return "receive ring with PSTART >= PSTOP";
    case Violation::reset_while_busy: return "reset with a transmit in flight";
  }
  return "?";
}

Verdict Ne2000Model::check_remote_dma(bool write) const noexcept {
  // Reading the PROM (below 0x20) is every driver's first step; writing it is not.
  if (!write && regs_.rsar + std::uint32_t{regs_.rbcr} <= reg::kPromBytes) return {};
  // Walk the range as the chip will, wrapping from PSTOP to PSTART.
  std::uint32_t address = regs_.rsar;
  for (std::uint32_t left = regs_.rbcr; left > 0;) {
    const unsigned page = address >> kPageShift;
    if (!page_in_share(page)) return {Violation::remote_dma_outside_share, address};
    const std::uint32_t page_end = (page + 1u) << kPageShift;
    const std::uint32_t step = std::min(left, page_end - address);
    left -= step;
    address += step;
    if ((address >> kPageShift) == regs_.pstop && regs_.pstart < regs_.pstop)
      address = std::uint32_t{regs_.pstart} << kPageShift;
  }
  return {};
}

Verdict Ne2000Model::check_transmit() const noexcept {
  if (regs_.tbcr < kMinTransmitBytes || regs_.tbcr > reg::kMaxWireFrameBytes)
    return {Violation::transmit_length, regs_.tbcr};
  const std::uint32_t start = std::uint32_t{regs_.tpsr} << kPageShift;
  const std::uint32_t last = start + regs_.tbcr - 1;
  if (!page_in_share(regs_.tpsr)) return {Violation::transmit_outside_share, start};
  if (!page_in_share(last >> kPageShift)) return {Violation::transmit_outside_share, last};
  return {};
}

Verdict Ne2000Model::check_ring() const noexcept {
  const std::uint32_t pstart = regs_.pstart, pstop = regs_.pstop;
  if (!page_in_share(pstart)) return {Violation::ring_outside_share, pstart << kPageShift};
  if (pstop > share_.end_page || pstop <= share_.first_page)
    return {Violation::ring_outside_share, pstop << kPageShift};
  if (pstart >= pstop) return {Violation::ring_inverted, pstart << kPageShift};
  // CURR and BNRY need only stay in the share: Linux's lib8390 parks BNRY at
  // PSTART - 1 (its TX pages), which the chip reads modulo the ring.
  for (std::uint32_t pointer : {std::uint32_t{regs_.curr}, std::uint32_t{regs_.bnry}})
    if (!page_in_share(pointer)) return {Violation::ring_outside_share, pointer << kPageShift};
  return {};
}

Verdict Ne2000Model::on_write(std::uint16_t offset, std::uint8_t value) noexcept {
  if (offset == kResetPort) {
    if (transmitting_) return {Violation::reset_while_busy, 0};
    regs_ = Ne2000GuestRegisters{};
    remote_dma_ = false;
    ring_programmed_ = false;
    return {};
  }
  if (offset >= 0x10) return {};  // the data port: the model is not on that path
  const unsigned page = regs_.cr >> reg::kCrPageShift;
  if (offset == reg::kCr) {
    Ne2000GuestRegisters next = regs_;
    next.cr = value;
    const std::uint8_t dma = value & reg::kCrDmaMask;
    Ne2000Model probe = *this;
    probe.regs_ = next;
    if (ring_programmed_ && (value & reg::kCrStart) && !(value & reg::kCrStop)) {
      if (Verdict v = probe.check_ring(); !v.ok()) return v;
    }
    if (dma == reg::kCrRemoteRead || dma == reg::kCrRemoteWrite) {
      if (Verdict v = probe.check_remote_dma(dma == reg::kCrRemoteWrite); !v.ok()) return v;
      remote_dma_ = regs_.rbcr > 0;
    } else if (dma == reg::kCrNoDma) {
      remote_dma_ = false;
    }
    if (value & reg::kCrTransmit) {
      if (Verdict v = probe.check_transmit(); !v.ok()) return v;
      transmitting_ = true;
    }
    regs_.cr = value;
    return {};
  }
  if (page == 0) {
    switch (offset) {
      case reg::kPstart:
        regs_.pstart = value;
        ring_programmed_ = true;
        break;
      case reg::kPstop:
        regs_.pstop = value;
        ring_programmed_ = true;
        break;
      case reg::kBnry: regs_.bnry = value; break;
      case reg::kTpsr: regs_.tpsr = value; break;
      case reg::kTbcr0: set_byte(regs_.tbcr, 0, value); break;
      case reg::kTbcr1: set_byte(regs_.tbcr, 1, value); break;
      case reg::kRsar0: set_byte(regs_.rsar, 0, value); break;
      case reg::kRsar1: set_byte(regs_.rsar, 1, value); break;
      case reg::kRbcr0: set_byte(regs_.rbcr, 0, value); break;
      case reg::kRbcr1: set_byte(regs_.rbcr, 1, value); break;
      case reg::kRcr: regs_.rcr = value; break;
      case reg::kTcr: regs_.tcr = value; break;
      case reg::kDcr: regs_.dcr = value; break;
      case reg::kImr: regs_.imr = value; break;
      default: break;
    }
    // Ring pointers moved while the card runs must stay in the share.
    if ((offset == reg::kPstart || offset == reg::kPstop || offset == reg::kBnry) &&
        ring_programmed_ && (regs_.cr & reg::kCrStart) && !(regs_.cr & reg::kCrStop)) {
      if (Verdict v = check_ring(); !v.ok()) return v;
    }
  } else if (page == 1) {
    if (offset >= reg::kPar0 && offset < reg::kPar0 + 6) regs_.par[offset - reg::kPar0] = value;
    if (offset == reg::kCurr) regs_.curr = value;
    if (offset >= reg::kMar0) regs_.mar[offset - reg::kMar0] = value;
  }
  return {};
}

void Ne2000Model::on_isr(std::uint8_t isr) noexcept {
  if (isr & (reg::kIsrPtx | reg::kIsrTxe)) transmitting_ = false;
  if (isr & reg::kIsrRdc) remote_dma_ = false;
}

}  // namespace vpio::devmodels

// The VPIO model of the NE2000, one per guest sharing a card. It answers the
// three questions of the monitor for each access the guest makes:
//   1. is the card reusable now (no remote DMA of this guest in flight on it)?
//   2. is a DMA about to begin, and what card memory will it touch: a remote
//      DMA or transmit in the guest's transmit area (translated to where that
//      area lives on the card), or anything else, which stays in the guest's
//      own virtual card (its shadow);
//   3. which ports must stay hooked: all but the data port's writes, which
//      go direct while the guest's remote write runs on the card.
// The guest sees a whole card: PROM, registers and pages 0x40..0x7f. Only its
// transmit area (GuestLayout) is backed by card memory; the receive ring is
// virtual, filled by the monitor. The model validates every programming that
// would touch card memory and names what a refused one would have touched;
// everything else (ring pointers, DMA in the guest's other pages, resets)
// is its own card's business and never refused (issue 15).
// It knows nothing of KVM, of the monitor or of other guests.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <string_view>

#include "dmm/device_model.hpp"

namespace vpio::devices {

// Where the guest's transmit area is, in its view and on the card. In the
// guest's view the area ends early where its receive ring starts, if that
// is inside it (Ne2000Model::view_tx_end).
struct GuestLayout {
  std::uint8_t view_tx_page = 0x40;  // first page of the area as the guest sees it
  std::uint8_t tx_pages = 6;         // 6: one maximal frame; 12: lib8390's two buffers
  std::uint8_t card_tx_page = 0x40;  // where the area lives on the physical card
};

// Violation codes; the number is what a machine check reports (docs/vpio.md).
// Codes 4, 5 and 6 (the receive ring's pointers, a reset while another
// guest transmits) are retired: neither ever reaches the card (issue 15).
enum class Violation : std::uint8_t {
  none = 0,
  remote_dma_outside_share = 1,  // leaves the transmit area it started in, or enters it
  transmit_outside_share = 2,    // TPSR..TPSR+TBCR leaves the card's memory (or a DMA and a
                                 // transmit in one command)
  transmit_length = 3,           // TBCR of no Ethernet frame's length
  not_initialised = 7,           // DMA or transmit on the card before DCR and a start
  remote_dma_stalled = 8,        // a remote DMA held the card past the monitor's limit
  foreign_source_address = 9,    // a transmitted frame names another station as its source
  remote_dma_reprogrammed = 10,  // RSAR/RBCR written while the guest's DMA runs on the card
};
std::string_view violation_name(Violation v) noexcept;

struct Verdict {
  Violation violation = Violation::none;
  std::uint32_t card_address = 0;  // in the guest's view: what it would have touched
  bool ok() const noexcept { return violation == Violation::none; }
};

// What the monitor must do with one guest write the model has seen.
enum class Action : std::uint8_t {
  refuse,          // a violation: perform nothing
  shadow,          // the guest's virtual card only
  start_card_dma,  // CR starting a remote write in the transmit area: run it on the card
  // CR starting a remote read in the transmit area: the monitor copies the
  // range from the card into the guest's own card, which serves the read.
  copy_from_card,
  transmit,  // CR.TXP: transmit from the transmit area on the card
  // CR.TXP of a frame that is not wholly in the transmit area: in pages of
  // the guest's own card that are not on the physical card (lib8390's
  // second buffer where the card gives the guest one). The monitor sends a
  // copy from the guest's transmit area on the card, then puts back what
  // the copy overwrote.
  transmit_copy,
  reset,     // the reset port: reset the guest's virtual card
};

// A range of card memory, as the card addresses it.
struct CardRange {
  std::uint16_t address = 0;
  std::uint16_t bytes = 0;
};

struct Decision {
  Action action = Action::shadow;
  Verdict verdict;
  // start_card_dma, copy_from_card, transmit: the translated range;
  // transmit_copy: where on the card the copy goes (the area's start), and
  // the frame's length.
  CardRange card;
  // start_card_dma: how many ports from the data port on may take the
  // guest's writes direct (kDataPortSpan or kDataPortWordSpan).
  std::uint16_t direct_ports = 0;
  // copy_from_card, transmit_copy: where the range is in the guest's view.
  std::uint16_t view_address = 0;
  // The write ends the guest's remote DMA on the card (an abort, a new
  // command, or a refused reprogramming of it): the monitor aborts it on the
  // card before anything else.
  bool ends_card_dma = false;
};

// The guest's registers as it programmed them (its view).
struct Ne2000GuestRegisters {
  std::uint8_t cr = 0x21;
  std::uint8_t pstart = 0, pstop = 0, bnry = 0, tpsr = 0, curr = 0;
  std::uint16_t tbcr = 0, rsar = 0, rbcr = 0;
  std::uint8_t rcr = 0, tcr = 0, dcr = 0, imr = 0;
  std::array<std::uint8_t, 6> par{};
  std::array<std::uint8_t, 8> mar{};
};

// The guest-specific state that lives on the physical card: the one declared
// list a context switch saves (from the model: these registers are write-only
// on a DP8390) and restores (by writing them, in this order, on page 0).
struct CardContext {
  std::uint8_t dcr = 0;  // data configuration: word or byte transfers, byte order
  // The remote DMA registers are always 0 in a context: a guest's DMA runs
  // on the card only as the range the model validated, programmed by the
  // monitor when it starts; a context load must never hand the card a
  // count or address the guest wrote.
  std::uint16_t rsar = 0;
  std::uint16_t rbcr = 0;
  std::uint8_t tpsr = 0;   // transmit page, translated
  std::uint16_t tbcr = 0;  // transmit count
  bool operator==(const CardContext&) const = default;
};
struct CardRegisterWrite {
  std::uint16_t offset;
  std::uint8_t value;
};
inline constexpr std::size_t kCardContextWrites = 8;

std::array<CardRegisterWrite, kCardContextWrites> card_context_writes(
    const CardContext& c) noexcept;

class Ne2000Model final : public dmm::DeviceModel {
 public:
  static constexpr std::uint16_t kWindowPorts = 0x20;
  static constexpr std::uint16_t kDataPort = 0x10;
  // A 32-bit access to the data port covers +0x10..+0x13; the three ports
  // after it decode nothing else (nothing on the chip and QEMU's card, the
  // data port again on some real ones). Unhooking the first two lets only
  // byte and word accesses go direct, since the window sends an access
  // through the monitor when any port it covers is hooked.
  static constexpr std::uint16_t kDataPortSpan = 4;
  static constexpr std::uint16_t kDataPortWordSpan = 2;
  static constexpr std::uint16_t kResetPort = 0x1f;
  // A card may move a whole 32-bit access once one byte of the count is left,
  // from RSAR rounded down to even (QEMU's NE2000 does): 32-bit writes go
  // direct only while this much of the transmit area is left past the DMA's
  // end; otherwise the monitor splits them into the card's transfers.
  static constexpr std::uint32_t kCardOverreach = 3;
  // The shortest transmit: destination, source and type. A DP8390 sends
  // shorter runts as given, but one without a whole source address could
  // not be checked against the guest's own.
  static constexpr std::uint16_t kMinTransmitBytes = 14;

  explicit Ne2000Model(GuestLayout layout) : layout_(layout) {}

  // A guest write of one byte at an offset of the window (not the data port)
  // before it reaches anything. Each write to the reset port, or read of it,
  // is given as on_write(kResetPort, ...).
  Decision on_write(std::uint16_t offset, std::uint8_t value) noexcept;
  // The monitor saw the card finish (or abort) this guest's remote DMA.
  void card_dma_done() noexcept { card_dma_ = false; }

  // Question 1: may the card be handed to another guest now?
  bool reusable() const noexcept override { return !card_dma_; }
  bool card_dma_in_flight() const noexcept { return card_dma_; }
  // Question 3: the hooked-I/O list, the window's kWindowPorts ports. Reads
  // of the data port never go direct: a card need not stop a read at RBCR
  // (QEMU's NE2000 reads on past it), so only the direction every card
  // bounds by the count may reach it unchecked.
  dmm::HookedAccesses hooked() const noexcept override;
  // Question 2's answer for a decision that runs on the card: the card
  // memory it makes the card touch, as the guest named it and translated.
  // Only for start_card_dma, copy_from_card, transmit and transmit_copy.
  dmm::DmaTarget target(const Decision& d) const noexcept;
  // The guest has written DCR and started its card since it was last reset.
  bool initialised() const noexcept { return initialised_; }

  const Ne2000GuestRegisters& registers() const noexcept { return regs_; }
  const GuestLayout& layout() const noexcept { return layout_; }
  CardContext card_context() const noexcept;

  // The part of the guest's view [view_address, view_address + bytes) that
  // lies in its transmit area now: how far into the range it starts, and
  // where it is on the card (bytes 0: none of it).
  struct AreaPart {
    std::uint16_t offset = 0;
    CardRange card;
  };
  AreaPart tx_area_part(std::uint32_t view_address, std::uint16_t bytes) const noexcept;

 private:
  std::uint32_t view_tx_start() const noexcept { return std::uint32_t{layout_.view_tx_page} << 8; }
  std::uint32_t view_tx_end(const Ne2000GuestRegisters& r) const noexcept;
  bool in_tx_area(std::uint32_t address, const Ne2000GuestRegisters& r) const noexcept {
    return address >= view_tx_start() && address < view_tx_end(r);
  }
  std::uint16_t translate(std::uint32_t view_address) const noexcept;
  Decision on_command(std::uint8_t value) noexcept;
  Decision classify_remote_dma(const Ne2000GuestRegisters& next) const noexcept;
  Decision classify_transmit(const Ne2000GuestRegisters& next) const noexcept;
  static bool runs(const Ne2000GuestRegisters& r) noexcept;

  GuestLayout layout_;
  Ne2000GuestRegisters regs_;
  bool card_dma_ = false;           // a remote write of this guest runs on the card
  std::uint16_t direct_ports_ = 0;  // of that write (Decision::direct_ports)
  bool dcr_written_ = false;
  bool initialised_ = false;
};

}  // namespace vpio::devices

// The VPIO model of the NE2000 (first part): what a guest's programming of the
// card will make it touch, checked against the card memory the guest may use.
// Covers: remote DMA (read/write, with the DP8390's wrap from PSTOP to
// PSTART), transmit (TPSR/TBCR), the receive ring pointers, and whether a
// transmit or remote DMA is in flight (is the card reusable). Leaves out, for
// now: address translation between a guest's view and its share, the receive
// demultiplexing and the context switch (see docs/vpio-plan.md). Knows nothing
// of KVM or of guests other than through its share.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace vpio::devmodels {

// The part of card memory one guest may touch, in 256-byte pages
// [first_page, end_page) inside 0x40..0x80, plus reading the PROM.
struct CardShare {
  std::uint8_t first_page = 0x40;
  std::uint16_t end_page = 0x80;
};

enum class Violation : std::uint8_t {
  none,
  remote_dma_outside_share,  // RSAR..RSAR+RBCR leaves the share (or writes the PROM)
  transmit_outside_share,    // TPSR..TPSR+TBCR leaves the share
  transmit_length,           // TBCR of no Ethernet frame's length
  ring_outside_share,        // PSTART/PSTOP/BNRY/CURR outside the share
  ring_inverted,             // PSTART >= PSTOP when the card is started
  reset_while_busy,          // reset with a transmit in flight
};
std::string_view violation_name(Violation v) noexcept;

struct Verdict {
  Violation violation = Violation::none;
  std::uint32_t card_address = 0;  // what the violation would have touched
  bool ok() const noexcept { return violation == Violation::none; }
};

// The guest-specific registers, as the guest programmed them: one declared
// list, what a context switch saves and restores.
struct Ne2000GuestRegisters {
  std::uint8_t cr = 0x21;
  std::uint8_t pstart = 0, pstop = 0, bnry = 0, tpsr = 0, curr = 0;
  std::uint16_t tbcr = 0, rsar = 0, rbcr = 0;
  std::uint8_t rcr = 0, tcr = 0, dcr = 0, imr = 0;
  std::array<std::uint8_t, 6> par{};
  std::array<std::uint8_t, 8> mar{};
};

class Ne2000Model {
 public:
  explicit Ne2000Model(CardShare share) : share_(share) {}

  // A guest write to the window (offset 0x00..0x1f) before it reaches the
  // card. A verdict that is not ok means: do not perform it.
  Verdict on_write(std::uint16_t offset, std::uint8_t value) noexcept;
  // The card's ISR as read (by the guest or the monitor): completions end
  // what was in flight.
  void on_isr(std::uint8_t isr) noexcept;

  bool transmit_in_flight() const noexcept { return transmitting_; }
  bool remote_dma_in_flight() const noexcept { return remote_dma_; }
  // Question 1 of the model: may the card be handed to another guest now?
  bool reusable() const noexcept { return !transmitting_ && !remote_dma_; }
  const Ne2000GuestRegisters& registers() const noexcept { return regs_; }
  const CardShare& share() const noexcept { return share_; }

 private:
  bool page_in_share(unsigned page) const noexcept {
    return page >= share_.first_page && page < share_.end_page;
  }
  Verdict check_remote_dma(bool write) const noexcept;
  Verdict check_transmit() const noexcept;
  Verdict check_ring() const noexcept;

  CardShare share_;
  Ne2000GuestRegisters regs_;
  bool transmitting_ = false;
  bool remote_dma_ = false;
  // Drivers start the card to read the PROM before they program the ring;
  // the ring is checked once PSTART or PSTOP has been written.
  bool ring_programmed_ = false;
};

}  // namespace vpio::devmodels

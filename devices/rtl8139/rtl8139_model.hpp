// The RTL8139's VPIO model, one per guest sharing a card: the three
// questions (dmm/device_model.hpp) for a bus master whose every DMA address
// is in a register.
//   1. Reusable? Always: a guest's transmit runs whole while the monitor
//      holds the gate, and the card's receive ring is the monitor's.
//   2. A DMA, and where? A dword write of TSDn handing slot n over: the
//      card reads SIZE bytes at TSADn. The model refuses a SIZE past the
//      card's FIFO (1792) or short of an Ethernet header, a range not
//      wholly in the guest's RAM, and a frame whose source address (read
//      from the guest's RAM) is not the guest's own; the
//      monitor programs the card with the range's DMA address (IOVA). The
//      receive ring (RBSTART, its size from RCR) must lie wholly in the
//      guest's RAM whenever the receiver is on: frames are copied there.
//      C+ registers (the 8139C+'s descriptor rings and tally DMA) and
//      EEPROM write commands (which would change the card for every guest)
//      are refused.
//   3. Hooked? Everything but reads of the PHY's and media status, which
//      are the card's link and no guest's: the registers are the guest's
//      shadow card's, and a transmit is a DMA to check.
// Knows nothing of KVM, of the monitor or of other guests.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "devices/rtl8139/rtl8139.hpp"
#include "dmm/device_model.hpp"
#include "dmm/guest_memory.hpp"
#include "hw/net/mac_address.hpp"

namespace vpio::devices {

// The number is what a machine check reports (MCi_STATUS bits 31:16); the
// address (MCi_ADDR) is guest-physical, or the register or EEPROM word.
enum class Rtl8139Violation : std::uint8_t {
  none = 0,
  tx_size = 1,       // a slot longer than the FIFO; address: TSADn
  tx_address = 2,    // a slot not wholly in the guest's RAM; address: TSADn
  rx_ring = 3,       // the receive ring not wholly in the guest's RAM; address: RBSTART
  cplus = 4,         // a C+ register; address: its offset
  eeprom_write = 5,  // an EEPROM write, erase or write-enable command; address: the word
  tx_source = 6,     // a frame whose source address is not the guest's; address: TSADn + 6
};
std::string_view violation_name(Rtl8139Violation v) noexcept;

struct Rtl8139Decision {
  bool refuse = false;
  Rtl8139Violation violation = Rtl8139Violation::none;
  std::uint64_t address = 0;
};

class Rtl8139Model final : public dmm::DeviceModel {
 public:
  // `ram`: the guest's RAM (outlives the model); `mac`: its card's.
  Rtl8139Model(const dmm::GuestMemory& ram, hw::MacAddress mac) : ram_(ram), mac_(mac) {}

  // A guest write at an offset of the register window (size 1, 2 or 4),
  // before it reaches the guest's shadow card. Not refused: it lands there.
  Rtl8139Decision on_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept;

  // The bytes the card reads for a transmit of `bytes` at guest-physical
  // `address`, as the card is programmed with them; the core checks the
  // target again against the guest's share.
  dmm::DmaTarget transmit_target(std::uint64_t address, std::uint64_t bytes) const noexcept;

  bool reusable() const noexcept override { return true; }
  dmm::HookedAccesses hooked() const noexcept override;

  // The receive ring's extent with RCR as it is: the ring, and the room
  // past it a frame may run into (NoWrap) or the chip's 16 bytes.
  std::uint64_t ring_extent() const noexcept;

 private:
  Rtl8139Decision judge(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept;
  Rtl8139Decision write_byte(unsigned offset, std::uint8_t value) noexcept;
  Rtl8139Decision check_slot(unsigned slot, std::uint32_t size) const noexcept;
  Rtl8139Decision check_ring() const noexcept;
  Rtl8139Decision eeprom_clock(bool data_in) noexcept;

  const dmm::GuestMemory& ram_;
  hw::MacAddress mac_;
  // What the model keeps of the guest's registers; a refused write leaves
  // it as it was (a refused access changes nothing).
  struct State {
    std::array<std::uint32_t, rtl8139::kTxSlots> tx_address{};
    std::array<std::uint32_t, rtl8139::kTxSlots> pending_size{};  // handed over while TE was off
    std::uint8_t pending = 0;                                     // those slots, a bit each
    std::uint32_t rx_ring = 0;
    std::uint32_t rx_config = 0;
    std::uint8_t command = 0;
    // The EEPROM command being clocked in (9346CR in programming mode).
    bool eeprom_clock = false;
    bool eeprom_started = false;
    unsigned eeprom_bits = 0;
    std::uint16_t eeprom_shift = 0;
    unsigned eeprom_skip = 0;  // data bits of a READ being clocked out
  };
  State s_;
};

}  // namespace vpio::devices

// The template device's VPIO model, one per guest sharing a card: the
// three questions (dmm/device_model.hpp) for the device of template_nic.hpp.
//   1. Reusable? Always: a guest's send runs whole while the monitor holds
//      the gate, so no operation of a guest outlives the access that
//      started it.
//   2. A DMA, and where? A write of kCmdSend: the card reads the first
//      TXLEN bytes of its transmit buffer. The model refuses a TXLEN that
//      is no Ethernet frame's, and a frame whose source address is not the
//      guest's own; otherwise its target is that range of card memory.
//   3. Hooked? Everything: the card's STATUS, LEN and receive queue are the
//      monitor's, and each guest has its own in its shadow. So is the MMIO
//      window's transmit buffer page: the card's one buffer cannot be mapped
//      into several guests, so each writes its shadow's, exit by exit.
// Knows nothing of KVM, of the monitor or of other guests.
#pragma once

#include <cstdint>
#include <string_view>

#include "devices/template/template_nic.hpp"
#include "dmm/device_model.hpp"
#include "hw/net/mac_address.hpp"

namespace vpio::devices {

// The number is what a machine check reports (MCi_STATUS bits 31:16).
enum class TemplateViolation : std::uint8_t {
  none = 0,
  send_length = 1,             // TXLEN of no Ethernet frame's length; address: TXLEN
  foreign_source_address = 2,  // the frame names another station as its source; address: 6
};
std::string_view violation_name(TemplateViolation v) noexcept;

struct TemplateDecision {
  enum class Action : std::uint8_t {
    shadow,  // the guest's own card (its shadow) only
    send,    // send `target` on the card, then on the shadow
    refuse,  // a violation: nothing is performed
  };
  Action action = Action::shadow;
  TemplateViolation violation = TemplateViolation::none;
  std::uint64_t address = 0;  // refuse: what the access aimed at
  dmm::DmaTarget target;      // send: the bytes the card reads
};

class TemplateModel final : public dmm::DeviceModel {
 public:
  explicit TemplateModel(hw::MacAddress mac) : mac_(mac) {}

  // A guest write of one byte at an offset of the window, before it
  // reaches anything (wider writes and string writes come byte by byte).
  TemplateDecision on_write(std::uint16_t offset, std::uint8_t value) noexcept;
  // A guest write of one byte into the transmit buffer page of the MMIO
  // window (hooked, as everything: the card's buffer is no guest's own),
  // at `at` bytes into the buffer. It lands on the guest's shadow.
  void on_buffer_write(std::uint32_t at, std::uint8_t value) noexcept {
    if (at >= 6 && at < 12) source_.bytes[at - 6] = value;
  }

  bool reusable() const noexcept override { return true; }
  dmm::HookedAccesses hooked() const noexcept override { return dmm::HookedAccesses::all(); }

  std::uint16_t tx_len() const noexcept { return tx_len_; }

 private:
  hw::MacAddress mac_;
  std::uint16_t tx_len_ = 0;
  std::size_t tx_ptr_ = 0;
  hw::MacAddress source_{};  // bytes 6..11 of the transmit buffer as the guest wrote them
};

}  // namespace vpio::devices

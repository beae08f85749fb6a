// The RTL8139's VPIO model.
#include "devices/rtl8139/rtl8139_model.hpp"

#include <algorithm>

namespace vpio::devices {

using namespace rtl8139;

namespace {

constexpr unsigned kEepromCommandBits = 2 + kEepromAddressBits;
constexpr unsigned kEepromReadOpcode = 0x2;
constexpr unsigned kEepromWordBits = 16;

bool whole_dword(unsigned offset, unsigned size) { return size == 4 && offset % 4 == 0; }

Rtl8139Decision refuse(Rtl8139Violation v, std::uint64_t address) { return {true, v, address}; }

}  // namespace

std::string_view violation_name(Rtl8139Violation v) noexcept {
  switch (v) {
    case Rtl8139Violation::none: return "none";
    case Rtl8139Violation::tx_size: return "transmit slot longer than the FIFO";
    case Rtl8139Violation::tx_address: return "transmit slot outside the guest's RAM";
    case Rtl8139Violation::rx_ring: return "receive ring outside the guest's RAM";
    case Rtl8139Violation::cplus: return "C+ mode register";
    case Rtl8139Violation::eeprom_write: return "EEPROM write command";
    case Rtl8139Violation::tx_source: return "frame from another station's address";
  }
  return "unknown";
}

Rtl8139Decision Rtl8139Model::on_write(std::uint16_t offset, unsigned size,
                                       std::uint32_t value) noexcept {
  const State before = s_;
  const Rtl8139Decision d = judge(offset, size, value);
  if (d.refuse) s_ = before;
  return d;
}

Rtl8139Decision Rtl8139Model::judge(std::uint16_t offset, unsigned size,
                                    std::uint32_t value) noexcept {
  for (unsigned at = offset; at < offset + size; ++at)
    if (is_cplus_register(at)) return refuse(Rtl8139Violation::cplus, at);
  if (offset >= kTsd0 && offset < kTsad0) {
    if (!whole_dword(offset, size)) return {};  // the chip refuses it: nothing happens
    const unsigned slot = (offset - kTsd0) / 4;
    const std::uint8_t bit = static_cast<std::uint8_t>(1u << slot);
    s_.pending &= static_cast<std::uint8_t>(~bit);
    if ((value & kTsdOwn) != 0) return {};
    const std::uint32_t bytes = value & kTsdSizeMask;
    if (const Rtl8139Decision d = check_slot(slot, bytes); d.refuse) return d;
    if ((s_.command & kCrTransmitEnable) == 0) {
      // Sent once the transmitter is on: checked again then (TSAD may change).
      s_.pending |= bit;
      s_.pending_size[slot] = bytes;
    }
    return {};
  }
  if (offset >= kTsad0 && offset < kRbstart) {
    if (whole_dword(offset, size)) s_.tx_address[(offset - kTsad0) / 4] = value;
    return {};
  }
  if (offset == kRbstart) {
    if (!whole_dword(offset, size)) return {};
    s_.rx_ring = value;
    return (s_.command & kCrReceiveEnable) != 0 ? check_ring() : Rtl8139Decision{};
  }
  // RCR is judged once all of the access's bytes are in.
  bool rcr_written = false;
  for (unsigned i = 0; i < size; ++i) {
    const unsigned at = offset + i;
    const auto byte = static_cast<std::uint8_t>(value >> (8 * i));
    if (at >= kRcr && at < kRcr + 4) {
      const unsigned shift = 8 * (at - kRcr);
      s_.rx_config = (s_.rx_config & ~(0xffu << shift)) | (std::uint32_t{byte} << shift);
      rcr_written = true;
    } else if (const Rtl8139Decision d = write_byte(at, byte); d.refuse) {
      return d;
    }
  }
  if (rcr_written && (s_.command & kCrReceiveEnable) != 0) return check_ring();
  return {};
}

Rtl8139Decision Rtl8139Model::write_byte(unsigned offset, std::uint8_t value) noexcept {
  if (offset == kCr) {
    if ((value & kCrReset) != 0) {
      s_.command = 0;
      s_.pending = 0;
      return {};
    }
    const std::uint8_t before = s_.command;
    s_.command = value & (kCrTransmitEnable | kCrReceiveEnable);
    if ((before & kCrTransmitEnable) == 0 && (s_.command & kCrTransmitEnable) != 0) {
      const std::uint8_t pending = s_.pending;
      s_.pending = 0;
      for (unsigned slot = 0; slot < kTxSlots; ++slot)
        if ((pending & (1u << slot)) != 0)
          if (const Rtl8139Decision d = check_slot(slot, s_.pending_size[slot]); d.refuse) return d;
    }
    if ((before & kCrReceiveEnable) == 0 && (s_.command & kCrReceiveEnable) != 0)
      return check_ring();
    return {};
  }
  if (offset == kCfg9346) {
    const bool selected =
        (value & kCfg9346ModeMask) == kCfg9346Program && (value & kEepromSelect) != 0;
    if (!selected) {
      s_.eeprom_clock = s_.eeprom_started = false;
      s_.eeprom_bits = s_.eeprom_skip = 0;
      return {};
    }
    const bool clock = (value & kEepromClock) != 0;
    const bool rising = clock && !s_.eeprom_clock;
    s_.eeprom_clock = clock;
    if (rising) return eeprom_clock((value & kEepromDataIn) != 0);
  }
  return {};
}

// One rising edge of the EEPROM's clock: READ and EWDS are the guest's own
// business (its shadow's EEPROM answers); every command that would change
// the EEPROM is refused, since on a real card it changes the card for all.
Rtl8139Decision Rtl8139Model::eeprom_clock(bool data_in) noexcept {
  if (s_.eeprom_skip > 0) {
    --s_.eeprom_skip;
    return {};
  }
  if (!s_.eeprom_started) {
    s_.eeprom_started = data_in;
    s_.eeprom_bits = 0;
    s_.eeprom_shift = 0;
    return {};
  }
  s_.eeprom_shift = static_cast<std::uint16_t>((s_.eeprom_shift << 1) | (data_in ? 1u : 0u));
  if (++s_.eeprom_bits < kEepromCommandBits) return {};
  s_.eeprom_started = false;
  const unsigned opcode = s_.eeprom_shift >> kEepromAddressBits;
  const unsigned address = s_.eeprom_shift & ((1u << kEepromAddressBits) - 1);
  if (opcode == kEepromReadOpcode) {
    s_.eeprom_skip = kEepromWordBits;
    return {};
  }
  const bool write_disable = opcode == 0 && (address >> (kEepromAddressBits - 2)) == 0;
  if (write_disable) return {};
  return refuse(Rtl8139Violation::eeprom_write, address);
}

Rtl8139Decision Rtl8139Model::check_slot(unsigned slot, std::uint32_t size) const noexcept {
  const std::uint32_t address = s_.tx_address[slot];
  if (size == 0) return {};  // nothing is read or sent
  if (size > kMaxTransmitBytes || size < hw::kEthernetHeaderBytes)
    return refuse(Rtl8139Violation::tx_size, address);
  if (!ram_.contains(address, size)) return refuse(Rtl8139Violation::tx_address, address);
  // The source address as the card will read it. (The guest's vCPU waits
  // in this access until the card has read the frame.)
  constexpr std::uint64_t kSourceOffset = 6;
  const std::span<const std::uint8_t> source = ram_.host_view(address + kSourceOffset, 6);
  if (!source.empty() && !std::equal(source.begin(), source.end(), mac_.bytes.begin()))
    return refuse(Rtl8139Violation::tx_source, address + kSourceOffset);
  return {};
}

std::uint64_t Rtl8139Model::ring_extent() const noexcept {
  return rtl8139::ring_extent(s_.rx_config);
}

Rtl8139Decision Rtl8139Model::check_ring() const noexcept {
  if (!ram_.contains(s_.rx_ring, ring_extent()))
    return refuse(Rtl8139Violation::rx_ring, s_.rx_ring);
  return {};
}

dmm::DmaTarget Rtl8139Model::transmit_target(std::uint64_t address,
                                             std::uint64_t bytes) const noexcept {
  dmm::DmaTarget target;
  target.space = dmm::DmaSpace::guest_ram;
  target.direction = dmm::DmaDirection::device_reads;
  target.guest_address = address;
  target.device_address = ram_.translate(address, bytes).value_or(0);
  target.bytes = bytes;
  return target;
}

dmm::HookedAccesses Rtl8139Model::hooked() const noexcept {
  dmm::HookedAccesses h = dmm::HookedAccesses::all();
  // Reads of the card's link, read-only on the card: MSR, BMSR, ANLPAR,
  // ANER. (Not through the MMIO window, whose direct ranges go direct both
  // ways: a write there would reach the card.)
  constexpr dmm::HookedAccesses::ByteRange kLinkStatus[] = {{kMsr, 1}, {kBmsr, 2}, {kAnlpar, 4}};
  for (const auto& range : kLinkStatus)
    for (std::uint32_t at = range.offset; at < range.offset + range.bytes; ++at) h.reads.reset(at);
  return h;
}

}  // namespace vpio::devices

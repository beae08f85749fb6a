// The RTL8139 chip (classic mode): its register window, the four transmit
// slots read by DMA, the receive ring written by DMA with address filtering,
// the serial EEPROM, a PHY that reports its link up, and the interrupt line.
//
// Covers what Linux's 8139too programs (probe, open, transmit, receive,
// interrupts, receive-error recovery, close, link queries, the EEPROM read).
// Leaves out: C+ mode (its registers are refused, so a CPCR write never turns
// the transmit slots into descriptor rings, as it does on QEMU's card), the
// timer (TCTR reads 0, TimerInt never fires), early receive and transmit
// thresholds (a frame is written whole; ERBCR and ERSR read 0), collisions
// and underruns, wake-on-LAN, the EEPROM's write commands (it reads only),
// and the RTL8129's MII port. Every register value is survivable: DMA goes
// only through the bus, which refuses what is not memory; every loop is
// bounded by the slots, a frame or an access; the longest frame it sends or
// stores is its FIFO's 1792 bytes, whatever the size bits say.
#include "devices/rtl8139/rtl8139.hpp"

#include <algorithm>
#include <vector>

#include "hw/net/ethernet_crc.hpp"

namespace vpio::devices {

using namespace rtl8139;

namespace {

constexpr std::uint16_t kAnlparValue = kAnarDefault;
constexpr std::uint16_t kAnerValue = 0x0001;
constexpr std::uint8_t kConfig1IoMap = 0x04, kConfig1MemoryMap = 0x08;  // read-only
constexpr std::uint8_t kConfig1Writable =
    static_cast<std::uint8_t>(~(kConfig1IoMap | kConfig1MemoryMap));
constexpr std::uint8_t kConfig0Writable = 0x07;
constexpr std::uint32_t kMissedMask = 0x00ffffff;
constexpr unsigned kEepromReadOpcode = 0x2;
constexpr unsigned kEepromCommandBits = 2 + kEepromAddressBits;  // opcode, address

bool valid_size(unsigned size) { return size == 1 || size == 2 || size == 4; }

// The register holding byte `offset` of the window: where it starts and
// how wide it is. IDR and MAR are byte arrays; unknown bytes stand alone.
struct Register {
  unsigned base;
  unsigned width;
};

Register locate(unsigned offset) {
  if (offset < kTsd0) return {offset, 1};         // IDR0-5, two reserved bytes, MAR0-7
  if (offset < kErbcr) return {offset & ~3u, 4};  // TSD0-3, TSAD0-3, RBSTART
  if (offset < kErsr) return {kErbcr, 2};
  if (offset < kCapr) return {offset, 1};           // ERSR, CR
  if (offset < kTcr) return {offset & ~1u, 2};      // CAPR, CBR, IMR, ISR
  if (offset < kCfg9346) return {offset & ~3u, 4};  // TCR, RCR, TCTR, MPC
  if (offset < kTimerInt) return {offset, 1};       // 9346CR, CONFIG0, CONFIG1
  if (offset < kMsr) return {kTimerInt, 4};
  if (offset < kMulint) return {offset, 1};     // MSR, CONFIG3, CONFIG4, HltClk
  if (offset < 0x78) return {offset & ~1u, 2};  // MULINT, RERID, TSAD, the PHY, CSCR
  if (offset < 0x80) return {offset & ~3u, 4};  // PARA78, PARA7C
  return {offset, 1};
}

std::uint32_t byte_mask(unsigned width) {
  return width >= 4 ? 0xffffffffu : (1u << (8 * width)) - 1;
}

std::uint32_t merge(std::uint32_t old_value, std::uint32_t value, std::uint32_t mask) {
  return (old_value & ~mask) | (value & mask);
}

std::uint8_t low_byte(std::uint32_t value) { return static_cast<std::uint8_t>(value & 0xff); }

std::uint32_t align4(std::size_t bytes) {
  return static_cast<std::uint32_t>((bytes + 3) & ~std::size_t{3});
}

// The room a frame takes in the ring: header, frame, FCS, to a dword.
std::uint32_t ring_room(std::size_t frame_bytes) {
  return align4(kRxHeaderBytes + frame_bytes + kFcsBytes);
}

}  // namespace

// Frames sent under the lock wait here until it is dropped: copied out,
// because the driver may reuse a slot the moment it sees it done.
struct Rtl8139::Outbox {
  std::array<std::array<std::uint8_t, kMaxTransmitBytes>, kTxSlots> frames;
  std::array<std::size_t, kTxSlots> bytes{};
  unsigned count = 0;
  hw::FrameSink* sink = nullptr;
};

Rtl8139::Rtl8139(hw::MacAddress mac) {
  state_.mac = mac.bytes;
  state_.config1 = kConfig1IoMap | kConfig1MemoryMap;  // both BARs decode
  state_.eeprom[0] = kEepromSignature;
  state_.eeprom[1] = 0x10ec;  // vendor and device, as a real card's EEPROM
  state_.eeprom[2] = 0x8139;
  for (unsigned word = 0; word < 3; ++word)
    state_.eeprom[kEepromMacWord + word] =
        static_cast<std::uint16_t>(mac.bytes[2 * word] | (unsigned{mac.bytes[2 * word + 1]} << 8));
  reset_locked();
}

void Rtl8139::set_transmit_sink(hw::FrameSink* sink) {
  std::lock_guard lock(mutex_);
  transmit_sink_ = sink;
}

void Rtl8139::set_irq_line(std::function<void(bool asserted)> line) {
  {
    std::lock_guard lock(mutex_);
    irq_line_.set_line_locked(std::move(line));
  }
  update_irq_line();
}

void Rtl8139::set_dma_bus(hw::DmaBus* bus) {
  std::lock_guard lock(mutex_);
  dma_ = bus;
}

// ---- Accesses ----

std::uint32_t Rtl8139::read(std::uint16_t offset, unsigned size) {
  std::lock_guard lock(mutex_);
  return read_locked(offset, size);
}

void Rtl8139::write(std::uint16_t offset, unsigned size, std::uint32_t value) {
  Outbox outbox;
  {
    std::lock_guard lock(mutex_);
    write_locked(offset, size, value, outbox);
  }
  hand_out(outbox);
}

void Rtl8139::read_string(std::uint16_t offset, unsigned size, std::span<std::uint8_t> out) {
  std::lock_guard lock(mutex_);
  if (!valid_size(size)) {
    ++counters_.bad_programming;
    return;
  }
  for (std::size_t at = 0; at + size <= out.size(); at += size) {
    const std::uint32_t value = read_locked(offset, size);
    for (unsigned lane = 0; lane < size; ++lane) out[at + lane] = low_byte(value >> (8 * lane));
  }
}

void Rtl8139::write_string(std::uint16_t offset, unsigned size, std::span<const std::uint8_t> in) {
  if (!valid_size(size)) {
    std::lock_guard lock(mutex_);
    ++counters_.bad_programming;
    return;
  }
  for (std::size_t at = 0; at + size <= in.size(); at += size) {
    std::uint32_t value = 0;
    for (unsigned lane = 0; lane < size; ++lane)
      value |= std::uint32_t{in[at + lane]} << (8 * lane);
    write(offset, size, value);
  }
}

// A quadword access is two dword accesses, low first, as a 32-bit bus
// splits it.
std::uint64_t Rtl8139::mmio_read(std::uint32_t offset, unsigned size) {
  if (size == 8) return mmio_read(offset, 4) | (mmio_read(offset + 4, 4) << 32);
  if (offset >= kWindowBytes) {
    std::lock_guard lock(mutex_);
    ++counters_.bad_programming;
    return byte_mask(size);
  }
  return read(static_cast<std::uint16_t>(offset), size);
}

void Rtl8139::mmio_write(std::uint32_t offset, unsigned size, std::uint64_t value) {
  if (size == 8) {
    mmio_write(offset, 4, value & 0xffffffffu);
    mmio_write(offset + 4, 4, value >> 32);
    return;
  }
  if (offset >= kWindowBytes) {
    std::lock_guard lock(mutex_);
    ++counters_.bad_programming;
    return;
  }
  write(static_cast<std::uint16_t>(offset), size, static_cast<std::uint32_t>(value));
}

std::uint32_t Rtl8139::read_locked(unsigned offset, unsigned size) {
  if (!valid_size(size) || offset + size > kWindowBytes) {
    ++counters_.bad_programming;
    return size >= 4 ? 0xffffffffu : byte_mask(size);
  }
  std::uint32_t value = 0;
  for (unsigned lane = 0; lane < size; ++lane)
    value |= std::uint32_t{read_byte_locked(offset + lane)} << (8 * lane);
  return value;
}

std::uint8_t Rtl8139::read_byte_locked(unsigned offset) const {
  const Rtl8139State& s = state_;
  const Register reg = locate(offset);
  const unsigned shift = 8 * (offset - reg.base);
  const std::uint32_t ring = ring_bytes_locked();
  std::uint32_t value = 0;
  switch (reg.base) {
    case kCr:
      value = s.command;
      if (s.rx_read % ring == s.rx_write % ring) value |= kCrBufferEmpty;
      break;
    case kCapr: value = (s.rx_read - kRingPadBytes) & 0xffff; break;
    case kCbr: value = s.rx_write & 0xffff; break;
    case kImr: value = s.interrupt_mask; break;
    case kIsr: value = s.interrupt_status; break;
    case kTcr: value = s.tx_config; break;
    case kRcr: value = s.rx_config; break;
    case kMpc: value = s.missed; break;
    case kCfg9346:
      value = s.cfg9346 & ~unsigned{kEepromDataOut};
      if ((s.cfg9346 & kCfg9346ModeMask) == kCfg9346Program && s.eeprom_data_out)
        value |= kEepromDataOut;
      break;
    case kConfig0: value = s.config0; break;
    case kConfig1: value = s.config1; break;
    case kTimerInt: value = s.timer_interrupt; break;
    case kConfig3: value = s.config3; break;
    case kConfig4: value = s.config4; break;
    case kMulint: value = s.multi_interrupt; break;
    case kRerid: value = kRevision; break;
    case kTsadSummary:
      for (unsigned slot = 0; slot < kTxSlots; ++slot) {
        const std::uint32_t tsd = s.tx_status[slot];
        if ((tsd & kTsdOwn) != 0) value |= 1u << slot;
        if ((tsd & kTsdAborted) != 0) value |= 1u << (4 + slot);
        if ((tsd & kTsdUnderrun) != 0) value |= 1u << (8 + slot);
        if ((tsd & kTsdOk) != 0) value |= 1u << (12 + slot);
      }
      break;
    case kBmcr: value = s.phy_control; break;
    case kBmsr: value = kBmsrLinkUp; break;
    case kAnar: value = s.phy_advertise; break;
    case kAnlpar: value = kAnlparValue; break;
    case kAner: value = kAnerValue; break;
    case kCscr: value = kCscrLinkOk; break;
    case kConfig5: value = s.config5; break;
    case kRbstart: value = s.rx_ring; break;
    default:
      if (reg.base < 6)
        value = s.mac[reg.base];
      else if (reg.base >= kMar0 && reg.base < kTsd0)
        value = s.multicast_filter[reg.base - kMar0];
      else if (reg.base >= kTsd0 && reg.base < kTsad0)
        value = s.tx_status[(reg.base - kTsd0) / 4];
      else if (reg.base >= kTsad0 && reg.base < kRbstart)
        value = s.tx_address[(reg.base - kTsad0) / 4];
      break;  // MSR reads 0: link up, 100 Mb/s; TCTR, ERBCR, reserved bytes: 0
  }
  return low_byte(value >> shift);
}

// An access is split among the registers it touches; each gets the bytes
// of the access that are its own, with a mask of which they are.
void Rtl8139::write_locked(unsigned offset, unsigned size, std::uint32_t value, Outbox& outbox) {
  if (!valid_size(size) || offset + size > kWindowBytes) {
    ++counters_.bad_programming;
    return;
  }
  // C+ registers are refused whole, however the access straddles them.
  for (unsigned byte = offset; byte < offset + size; ++byte) {
    if (is_cplus_register(byte)) {
      ++counters_.bad_programming;
      return;
    }
  }
  bool refused = false;
  for (unsigned at = offset; at < offset + size;) {
    const Register reg = locate(at);
    const unsigned end = std::min(reg.base + reg.width, offset + size);
    std::uint32_t part = 0;
    std::uint32_t mask = 0;
    for (unsigned byte = at; byte < end; ++byte) {
      const unsigned lane = byte - reg.base;
      part |= ((value >> (8 * (byte - offset))) & 0xffu) << (8 * lane);
      mask |= 0xffu << (8 * lane);
    }
    refused |= !write_register_locked(reg.base, part, mask, outbox);
    at = end;
  }
  if (refused) ++counters_.bad_programming;
}

// False when the write is refused: part of a dword-only register.
bool Rtl8139::write_register_locked(unsigned base, std::uint32_t value, std::uint32_t mask,
                                    Outbox& outbox) {
  Rtl8139State& s = state_;
  const bool whole = mask == byte_mask(locate(base).width);
  const bool config_writable = (s.cfg9346 & kCfg9346ModeMask) == kCfg9346ConfigWrite;
  // The DMA registers take dword writes only, as the datasheet has it: a
  // narrower one would program half an address.
  if (base >= kTsd0 && base < kErbcr && !whole) return false;
  switch (base) {
    case kRbstart: s.rx_ring = value; return true;
    case kCr: command_locked(low_byte(value), outbox); return true;
    case kCapr: {
      const std::uint32_t capr = merge((s.rx_read - kRingPadBytes) & 0xffff, value, mask);
      s.rx_read = (capr + kRingPadBytes) % ring_bytes_locked();
      return true;
    }
    case kImr:
      s.interrupt_mask =
          static_cast<std::uint16_t>(merge(s.interrupt_mask, value, mask) & kIntBits);
      return true;
    case kIsr:
      s.interrupt_status = static_cast<std::uint16_t>(s.interrupt_status & ~(value & mask));
      // 8139too's handler acknowledges what it read and returns, counting
      // on a level line for causes that came meanwhile (it does not read
      // ISR again, as lib8390's loop does): those interrupt again.
      if ((value & mask) != 0) irq_line_.acknowledged_locked();
      return true;
    case kTcr: {
      // CLRABT asks for an aborted frame again; this chip aborts only
      // frames it refused, so there is nothing to retry.
      const std::uint32_t writable = kTcrWritable & mask;
      s.tx_config = (s.tx_config & ~writable) | (value & writable);
      return true;
    }
    case kRcr: s.rx_config = merge(s.rx_config, value, mask & kRcrWritable); return true;
    case kMpc: s.missed = 0; return true;
    case kCfg9346: cfg9346_locked(low_byte(value)); return true;
    case kConfig0:
      if (config_writable) s.config0 = low_byte(merge(s.config0, value, kConfig0Writable));
      return true;
    case kConfig1:
      if (config_writable) s.config1 = low_byte(merge(s.config1, value, kConfig1Writable));
      return true;
    case kConfig3:
      if (config_writable) s.config3 = low_byte(value);
      return true;
    case kConfig4:
      if (config_writable) s.config4 = low_byte(value);
      return true;
    case kConfig5: s.config5 = low_byte(value); return true;  // Linux writes it unlocked
    case kTimerInt: s.timer_interrupt = merge(s.timer_interrupt, value, mask); return true;
    case kHltClk: s.halt_clock = low_byte(value); return true;
    case kMulint:
      s.multi_interrupt = static_cast<std::uint16_t>(merge(s.multi_interrupt, value, mask));
      return true;
    case kBmcr: {
      const auto control = static_cast<std::uint16_t>(merge(s.phy_control, value, mask));
      if ((control & kBmcrReset) != 0) {
        s.phy_control = kBmcrAutonegotiate;
        s.phy_advertise = kAnarDefault;
      } else {
        // Autonegotiation completes at once: the restart bit clears itself.
        s.phy_control = static_cast<std::uint16_t>(control & ~kBmcrRestartAutonegotiation);
      }
      return true;
    }
    case kAnar:
      s.phy_advertise = static_cast<std::uint16_t>(merge(s.phy_advertise, value, mask));
      return true;
    default: break;
  }
  if (base < 6) {
    s.mac[base] = low_byte(value);
  } else if (base >= kMar0 && base < kTsd0) {
    s.multicast_filter[base - kMar0] = low_byte(value);
  } else if (base >= kTsd0 && base < kTsad0) {
    // The driver hands a slot to the chip: size, early threshold and OWN
    // clear; the status bits clear with it.
    s.tx_status[(base - kTsd0) / 4] = value & kTsdWritable;
    transmit_pending_locked(outbox);
  } else if (base >= kTsad0 && base < kRbstart) {
    s.tx_address[(base - kTsad0) / 4] = value;
  }
  // Everything else is read-only, reserved, or analog tuning (CSCR, PARA78,
  // PARA7C, NWAYTR), and TCTR, which is not emulated: the write goes nowhere.
  return true;
}

void Rtl8139::command_locked(std::uint8_t value, Outbox& outbox) {
  Rtl8139State& s = state_;
  if ((value & kCrReset) != 0) {
    reset_locked();
    return;
  }
  const bool was_receiving = (s.command & kCrReceiveEnable) != 0;
  s.command = value & (kCrTransmitEnable | kCrReceiveEnable);
  // Enabling the receiver starts the ring over (Linux's receive-error
  // recovery turns RE off and on and reads again from offset 0).
  if (!was_receiving && (s.command & kCrReceiveEnable) != 0) {
    s.rx_read = 0;
    s.rx_write = 0;
  }
  transmit_pending_locked(outbox);
}

// ---- The EEPROM (9346CR in programming mode) ----

void Rtl8139::cfg9346_locked(std::uint8_t value) {
  Rtl8139State& s = state_;
  const std::uint8_t mode = value & kCfg9346ModeMask;
  if (mode == kCfg9346Autoload) {
    // As at power-up: the registers reset and the MAC comes from the
    // EEPROM; the chip returns to normal mode.
    reset_locked();
    for (unsigned word = 0; word < 3; ++word) {
      s.mac[2 * word] = low_byte(s.eeprom[kEepromMacWord + word]);
      s.mac[2 * word + 1] = low_byte(s.eeprom[kEepromMacWord + word] >> 8);
    }
    return;
  }
  s.cfg9346 = value;
  const bool selected = mode == kCfg9346Program && (value & kEepromSelect) != 0;
  if (!selected) {
    s.eeprom_started = false;
    s.eeprom_bits = 0;
    s.eeprom_output_bits = 0;
    s.eeprom_data_out = false;
    s.eeprom_clock = false;
    return;
  }
  const bool clock = (value & kEepromClock) != 0;
  if (clock && !s.eeprom_clock) eeprom_clock_locked((value & kEepromDataIn) != 0);
  s.eeprom_clock = clock;
}

// One rising edge of SK: a bit out while a word is being read (or a write
// command's data consumed), else a command bit in. Only READ does anything.
void Rtl8139::eeprom_clock_locked(bool data_in) {
  Rtl8139State& s = state_;
  if (s.eeprom_output_bits > 0) {
    s.eeprom_data_out = (s.eeprom_output & 0x8000) != 0;
    s.eeprom_output = static_cast<std::uint16_t>(s.eeprom_output << 1);
    --s.eeprom_output_bits;
    return;
  }
  s.eeprom_data_out = false;
  if (!s.eeprom_started) {
    s.eeprom_started = data_in;  // leading zeros come before the start bit
    s.eeprom_bits = 0;
    s.eeprom_shift = 0;
    return;
  }
  s.eeprom_shift = static_cast<std::uint16_t>((s.eeprom_shift << 1) | (data_in ? 1u : 0u));
  if (++s.eeprom_bits < kEepromCommandBits) return;
  const unsigned opcode = s.eeprom_shift >> kEepromAddressBits;
  const unsigned address = s.eeprom_shift & ((1u << kEepromAddressBits) - 1);
  // A word follows a READ (after a dummy 0 bit, which data_out is now) and
  // a WRITE; a WRITE's is taken and dropped: this EEPROM only reads.
  s.eeprom_output = opcode == kEepromReadOpcode ? s.eeprom[address % kEepromWords] : 0;
  s.eeprom_output_bits = opcode == kEepromReadOpcode || opcode == 1 ? 16 : 0;
  s.eeprom_started = false;
  s.eeprom_bits = 0;
}

// The software reset (CR.RST): transmitter and receiver off, every slot
// the driver's, the ring empty at its start, no interrupt. The station
// address, filters, DMA addresses and configuration stay.
void Rtl8139::reset_locked() {
  Rtl8139State& s = state_;
  s.command = 0;
  s.interrupt_status = 0;
  s.interrupt_mask = 0;
  s.tx_status.fill(kTsdOwn);
  s.tx_next = 0;
  s.rx_read = 0;
  s.rx_write = 0;
  s.tx_config = kTcrVersion;
  s.cfg9346 = kCfg9346Normal;
  s.eeprom_started = false;
  s.eeprom_bits = 0;
  s.eeprom_output_bits = 0;
  s.eeprom_data_out = false;
  s.eeprom_clock = false;
  s.phy_control = kBmcrAutonegotiate;
  s.phy_advertise = kAnarDefault;
}

// ---- Transmit ----

// Slots go in order from tx_next, each once the driver has cleared its OWN
// and the transmitter is on; at most all four per call.
void Rtl8139::transmit_pending_locked(Outbox& outbox) {
  Rtl8139State& s = state_;
  for (unsigned sent = 0; sent < kTxSlots; ++sent) {
    const unsigned slot = s.tx_next % kTxSlots;
    if ((s.command & kCrTransmitEnable) == 0 || (s.tx_status[slot] & kTsdOwn) != 0) return;
    transmit_slot_locked(slot, outbox);
    s.tx_next = static_cast<std::uint8_t>((slot + 1) % kTxSlots);
  }
}

void Rtl8139::transmit_slot_locked(unsigned slot, Outbox& outbox) {
  Rtl8139State& s = state_;
  const std::uint32_t programmed = s.tx_status[slot] & kTsdWritable;
  const std::uint32_t size = programmed & kTsdSizeMask;
  std::span<std::uint8_t> frame(outbox.frames[outbox.count].data(),
                                std::min(size, kMaxTransmitBytes));
  const bool too_long = size > kMaxTransmitBytes;
  const bool read =
      !too_long && (size == 0 || (dma_ != nullptr && dma_->dma_read(s.tx_address[slot], frame)));
  if (!read) {
    // Refused as an aborted frame the driver sees and recovers from; a DMA
    // the bus refused is also a system error, as a master abort is.
    ++counters_.bad_programming;
    s.tx_status[slot] = programmed | kTsdOwn | kTsdAborted;
    s.interrupt_status |= kIntTxError | (too_long ? 0 : kIntSystemError);
    return;
  }
  s.tx_status[slot] = programmed | kTsdOwn | kTsdOk;
  s.interrupt_status |= kIntTxOk;
  if (size == 0) return;
  if ((s.tx_config & kTcrLoopback) == kTcrLoopback) {
    // Looped back into its own ring here, under the lock: no call out, so
    // no way to re-enter (QEMU's CVE-2021-3416).
    (void)receive_locked(frame);
    return;
  }
  outbox.bytes[outbox.count++] = size;
  outbox.sink = transmit_sink_;
  ++counters_.frames_sent;
}

// ---- Receive ----

std::uint32_t Rtl8139::ring_bytes_locked() const { return ring_bytes(state_.rx_config); }

// The ring never fills to its last dword: a write offset equal to the read
// offset means empty.
bool Rtl8139::fits_locked(std::size_t frame_bytes) const {
  const std::uint32_t ring = ring_bytes_locked();
  const std::uint32_t used = (state_.rx_write % ring + ring - state_.rx_read % ring) % ring;
  return ring_room(frame_bytes) < ring - used;
}

bool Rtl8139::accepts_locked(std::span<const std::uint8_t> destination) const {
  const Rtl8139State& s = state_;
  if ((s.rx_config & kRcrAcceptAll) != 0) return true;
  const bool broadcast =
      std::all_of(destination.begin(), destination.end(), [](std::uint8_t b) { return b == 0xff; });
  if (broadcast) return (s.rx_config & kRcrAcceptBroadcast) != 0;
  if ((destination[0] & 1) != 0) {
    if ((s.rx_config & kRcrAcceptMulticast) == 0) return false;
    const unsigned index = hw::multicast_hash_index(destination);
    return (s.multicast_filter[index >> 3] & (1u << (index & 7))) != 0;
  }
  return (s.rx_config & kRcrAcceptMine) != 0 &&
         std::equal(destination.begin(), destination.end(), s.mac.begin());
}

void Rtl8139::count_missed_locked() { state_.missed = (state_.missed + 1) & kMissedMask; }

bool Rtl8139::receive_locked(std::span<const std::uint8_t> frame) {
  Rtl8139State& s = state_;
  if ((s.command & kCrReceiveEnable) == 0 || frame.size() < hw::kEthernetHeaderBytes ||
      frame.size() > kMaxReceiveBytes) {
    ++counters_.frames_dropped;
    return false;
  }
  const std::span<const std::uint8_t> destination = frame.first(6);
  if (!accepts_locked(destination)) return false;
  if (!fits_locked(frame.size())) {
    count_missed_locked();
    s.interrupt_status |= kIntRxOverflow;
    ++counters_.frames_dropped;
    return false;
  }

  const bool broadcast =
      std::all_of(destination.begin(), destination.end(), [](std::uint8_t b) { return b == 0xff; });
  std::uint16_t status = kRxStatusOk;
  if (broadcast)
    status |= kRxStatusBroadcast;
  else if ((destination[0] & 1) != 0)
    status |= kRxStatusMulticast;
  else if (std::equal(destination.begin(), destination.end(), s.mac.begin()))
    status |= kRxStatusPhysical;
  const std::uint32_t length = static_cast<std::uint32_t>(frame.size() + kFcsBytes);
  const std::uint32_t header = status | (length << 16);
  const std::uint32_t fcs = hw::ethernet_fcs(frame);

  std::array<std::uint8_t, kRxHeaderBytes + kMaxReceiveBytes + kFcsBytes> packet;
  for (unsigned lane = 0; lane < 4; ++lane) packet[lane] = low_byte(header >> (8 * lane));
  std::copy(frame.begin(), frame.end(), packet.begin() + kRxHeaderBytes);
  for (unsigned lane = 0; lane < 4; ++lane)
    packet[kRxHeaderBytes + frame.size() + lane] = low_byte(fcs >> (8 * lane));
  const std::span<const std::uint8_t> bytes(packet.data(), kRxHeaderBytes + length);

  // A frame at the end runs on past it or wraps to the start (ring_runs_on).
  // Addresses are 32-bit: one that would carry past 4 GiB is refused.
  const std::uint32_t ring = ring_bytes_locked();
  const std::uint32_t at = s.rx_write % ring;
  const bool runs_on = ring_runs_on(s.rx_config);
  const std::size_t first = runs_on ? bytes.size() : std::min<std::size_t>(bytes.size(), ring - at);
  auto store = [&](std::uint64_t address, std::span<const std::uint8_t> part) {
    return part.empty() || (address + part.size() <= std::uint64_t{1} << 32 && dma_ != nullptr &&
                            dma_->dma_write(address, part));
  };
  if (!store(std::uint64_t{s.rx_ring} + at, bytes.first(first)) ||
      !store(s.rx_ring, bytes.subspan(first))) {
    ++counters_.bad_programming;
    ++counters_.frames_dropped;
    s.interrupt_status |= kIntSystemError;
    return false;
  }
  s.rx_write = (at + ring_room(frame.size())) % ring;
  s.interrupt_status |= kIntRxOk;
  ++counters_.frames_received;
  return true;
}

void Rtl8139::deliver(std::span<const std::uint8_t> frame) { (void)store(frame); }

bool Rtl8139::store(std::span<const std::uint8_t> frame) {
  bool stored;
  {
    std::lock_guard lock(mutex_);
    stored = receive_locked(frame);
  }
  update_irq_line();
  return stored;
}

bool Rtl8139::receiving() const {
  std::lock_guard lock(mutex_);
  return (state_.command & kCrReceiveEnable) != 0;
}

bool Rtl8139::can_store(std::size_t frame_bytes) const {
  std::lock_guard lock(mutex_);
  return (state_.command & kCrReceiveEnable) != 0 && frame_bytes <= kMaxReceiveBytes &&
         fits_locked(std::max(frame_bytes, hw::kMinFrameBytes));
}

void Rtl8139::ring_overflowed() {
  {
    std::lock_guard lock(mutex_);
    if ((state_.command & kCrReceiveEnable) == 0) return;
    state_.interrupt_status |= kIntRxOverflow;
  }
  update_irq_line();
}

// ---- State, counts, the line ----

bool Rtl8139::irq_level_locked() const {
  return (state_.interrupt_status & state_.interrupt_mask & kIntBits) != 0;
}

bool Rtl8139::irq_asserted() const {
  std::lock_guard lock(mutex_);
  return irq_level_locked();
}

Rtl8139State Rtl8139::save() const {
  std::lock_guard lock(mutex_);
  return state_;
}

void Rtl8139::restore(const Rtl8139State& state) {
  {
    std::lock_guard lock(mutex_);
    state_ = state;
  }
  update_irq_line();
}

Rtl8139::Counters Rtl8139::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

hw::NetworkChipCounts Rtl8139::counts() const {
  const Counters c = counters();
  return {c.frames_sent, c.frames_received, c.frames_dropped, c.bad_programming};
}

void Rtl8139::hand_out(Outbox& outbox) {
  for (unsigned i = 0; i < outbox.count; ++i)
    if (outbox.sink != nullptr)
      outbox.sink->deliver(std::span<const std::uint8_t>(outbox.frames[i].data(), outbox.bytes[i]));
  update_irq_line();
}

void Rtl8139::update_irq_line() {
  irq_line_.update(mutex_, [this] { return irq_level_locked(); });
}

}  // namespace vpio::devices

// The RTL8139 chip in classic mode: a PCI bus master whose registers are
// one 256-byte window (an I/O BAR and a memory BAR alike), which reads each
// frame it sends from a transmit slot in host memory (TSADn, TSDn) and
// writes each frame it hears into a receive ring there (RBSTART), both by
// DMA through a hw::DmaBus. It serves as a guest's own card and as the
// stand-in for a physical card shared by guests; it knows nothing of
// guests or KVM. What it covers and leaves out: docs/rtl8139-chip.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>

#include "hw/dma_bus.hpp"
#include "hw/net/frame_sink.hpp"
#include "hw/net/irq_line_reporter.hpp"
#include "hw/net/mac_address.hpp"
#include "hw/net/network_chip.hpp"

namespace vpio::devices {

// Register offsets and bits of the RTL8139 (classic mode), shared with the
// model and tests that program it. Names follow the datasheet.
namespace rtl8139 {

inline constexpr std::uint16_t kWindowBytes = 0x100;  // both BARs
inline constexpr std::uint8_t kRevision = 0x10;       // RERID, and the PCI revision
inline constexpr unsigned kTxSlots = 4;

inline constexpr std::uint16_t kIdr0 = 0x00;     // station address, 6 bytes
inline constexpr std::uint16_t kMar0 = 0x08;     // multicast filter, 8 bytes
inline constexpr std::uint16_t kTsd0 = 0x10;     // transmit status of slot n: +4n
inline constexpr std::uint16_t kTsad0 = 0x20;    // transmit start address of slot n: +4n
inline constexpr std::uint16_t kRbstart = 0x30;  // receive ring start address
inline constexpr std::uint16_t kErbcr = 0x34;    // early receive byte count
inline constexpr std::uint16_t kErsr = 0x36;     // early receive status
inline constexpr std::uint16_t kCr = 0x37;       // command
inline constexpr std::uint16_t kCapr = 0x38;     // current address of packet read, less 16
inline constexpr std::uint16_t kCbr = 0x3a;      // current buffer address (the chip's write offset)
inline constexpr std::uint16_t kImr = 0x3c;
inline constexpr std::uint16_t kIsr = 0x3e;
inline constexpr std::uint16_t kTcr = 0x40;      // transmit configuration
inline constexpr std::uint16_t kRcr = 0x44;      // receive configuration
inline constexpr std::uint16_t kTctr = 0x48;     // timer count
inline constexpr std::uint16_t kMpc = 0x4c;      // missed packet counter
inline constexpr std::uint16_t kCfg9346 = 0x50;  // EEPROM and configuration-write control
inline constexpr std::uint16_t kConfig0 = 0x51;
inline constexpr std::uint16_t kConfig1 = 0x52;
inline constexpr std::uint16_t kTimerInt = 0x54;
inline constexpr std::uint16_t kMsr = 0x58;  // media status
inline constexpr std::uint16_t kConfig3 = 0x59;
inline constexpr std::uint16_t kConfig4 = 0x5a;
inline constexpr std::uint16_t kHltClk = 0x5b;
inline constexpr std::uint16_t kMulint = 0x5c;       // multiple interrupt select
inline constexpr std::uint16_t kRerid = 0x5e;        // PCI revision
inline constexpr std::uint16_t kTsadSummary = 0x60;  // transmit status of all slots
inline constexpr std::uint16_t kBmcr = 0x62;         // PHY: basic mode control
inline constexpr std::uint16_t kBmsr = 0x64;         // PHY: basic mode status
inline constexpr std::uint16_t kAnar = 0x66;         // PHY: our advertisement
inline constexpr std::uint16_t kAnlpar = 0x68;       // PHY: link partner's
inline constexpr std::uint16_t kAner = 0x6a;         // PHY: expansion
inline constexpr std::uint16_t kCscr = 0x74;         // PHY: configuration and status
inline constexpr std::uint16_t kConfig5 = 0xd8;
// C+ mode (the 8139C+'s descriptor rings, enabled by any write of CPCR on
// QEMU's card): this chip has none of it.
inline constexpr std::uint16_t kTppoll = 0xd9;
inline constexpr std::uint16_t kCpcr = 0xe0;
inline constexpr std::uint16_t kCplusEnd = 0xf0;  // one past its last register
inline constexpr bool is_cplus_register(unsigned offset) {
  return offset == kTppoll || (offset >= kCpcr && offset < kCplusEnd);
}

// TSD bits.
inline constexpr std::uint32_t kTsdSizeMask = 0x1fff;
inline constexpr std::uint32_t kTsdOwn = 1u << 13;  // set: the chip is done reading the slot
inline constexpr std::uint32_t kTsdUnderrun = 1u << 14;
inline constexpr std::uint32_t kTsdOk = 1u << 15;
inline constexpr std::uint32_t kTsdEarlyThreshold = 0x3fu << 16;
inline constexpr std::uint32_t kTsdAborted = 1u << 30;
// The bits a driver writes; the rest are status the chip sets.
inline constexpr std::uint32_t kTsdWritable = kTsdSizeMask | kTsdOwn | kTsdEarlyThreshold;
// The longest frame a slot may hold: the chip's transmit FIFO (Linux's
// 8139too sizes its slots so, MAX_ETH_FRAME_SIZE).
inline constexpr std::uint32_t kMaxTransmitBytes = 1792;

// CR bits.
inline constexpr std::uint8_t kCrBufferEmpty = 0x01;  // read-only: the ring holds nothing
inline constexpr std::uint8_t kCrTransmitEnable = 0x04;
inline constexpr std::uint8_t kCrReceiveEnable = 0x08;
inline constexpr std::uint8_t kCrReset = 0x10;

// ISR and IMR bits.
inline constexpr std::uint16_t kIntRxOk = 0x0001;
inline constexpr std::uint16_t kIntRxError = 0x0002;
inline constexpr std::uint16_t kIntTxOk = 0x0004;
inline constexpr std::uint16_t kIntTxError = 0x0008;
inline constexpr std::uint16_t kIntRxOverflow = 0x0010;  // ring full: a frame was missed
inline constexpr std::uint16_t kIntLinkChange = 0x0020;
inline constexpr std::uint16_t kIntRxFifoOverflow = 0x0040;
inline constexpr std::uint16_t kIntLengthChange = 0x2000;
inline constexpr std::uint16_t kIntTimeout = 0x4000;
inline constexpr std::uint16_t kIntSystemError = 0x8000;  // a DMA the bus refused
inline constexpr std::uint16_t kIntBits = 0xe07f;

// RCR bits.
inline constexpr std::uint32_t kRcrAcceptAll = 0x01;
inline constexpr std::uint32_t kRcrAcceptMine = 0x02;
inline constexpr std::uint32_t kRcrAcceptMulticast = 0x04;
inline constexpr std::uint32_t kRcrAcceptBroadcast = 0x08;
inline constexpr std::uint32_t kRcrNoWrap = 0x80;  // a frame at the ring's end runs on past it
inline constexpr unsigned kRcrRingShift = 11;      // ring of 8 KiB << RBLEN
inline constexpr std::uint32_t kRcrRingMask = 0x3u << kRcrRingShift;
inline constexpr std::uint32_t kRcrWritable = 0x0f03ffbf;
inline constexpr std::uint32_t kMinRingBytes = 8192;
// What a driver allocates past the ring: 16 bytes, and room for a frame
// that runs on past the end (kRcrNoWrap).
inline constexpr std::uint32_t kRingPadBytes = 16;

// TCR bits. The version bits are read-only: an RTL8139C.
inline constexpr std::uint32_t kTcrClearAbort = 0x1;
inline constexpr std::uint32_t kTcrLoopback = 0x3u << 17;
inline constexpr std::uint32_t kTcrWritable = 0x030f07f0;
inline constexpr std::uint32_t kTcrVersion = 0x74000000;

// The receive header the chip writes before each frame: status in the low
// half, the length with the FCS in the high half.
inline constexpr std::uint16_t kRxStatusOk = 0x0001;
inline constexpr std::uint16_t kRxStatusBroadcast = 0x2000;
inline constexpr std::uint16_t kRxStatusPhysical = 0x4000;
inline constexpr std::uint16_t kRxStatusMulticast = 0x8000;
inline constexpr std::size_t kRxHeaderBytes = 4;
inline constexpr std::size_t kFcsBytes = 4;
// The longest frame the chip stores: what its slots send.
inline constexpr std::size_t kMaxReceiveBytes = kMaxTransmitBytes;

// The receive ring RCR chooses: 8 KiB << RBLEN.
constexpr std::uint32_t ring_bytes(std::uint32_t rx_config) noexcept {
  return kMinRingBytes << ((rx_config & kRcrRingMask) >> kRcrRingShift);
}
// With NoWrap (not possible in a 64 KiB ring) a frame at the ring's end runs
// on past it, into the room the driver keeps there; else it wraps.
constexpr bool ring_runs_on(std::uint32_t rx_config) noexcept {
  return (rx_config & kRcrNoWrap) != 0 && ring_bytes(rx_config) < (kMinRingBytes << 3);
}
// All the chip may write from the ring's start: the ring, and a whole frame
// past its end when frames run on.
constexpr std::uint64_t ring_extent(std::uint32_t rx_config) noexcept {
  return ring_bytes(rx_config) +
         (ring_runs_on(rx_config) ? kRxHeaderBytes + kMaxReceiveBytes + kFcsBytes : 0);
}

// 9346CR: bits 7:6 choose the mode; in programming mode the low four bits
// are the EEPROM's pins.
inline constexpr std::uint8_t kCfg9346ModeMask = 0xc0;
inline constexpr std::uint8_t kCfg9346Normal = 0x00;
inline constexpr std::uint8_t kCfg9346Autoload = 0x40;
inline constexpr std::uint8_t kCfg9346Program = 0x80;
inline constexpr std::uint8_t kCfg9346ConfigWrite = 0xc0;  // CONFIGn writable
inline constexpr std::uint8_t kEepromSelect = 0x08;
inline constexpr std::uint8_t kEepromClock = 0x04;
inline constexpr std::uint8_t kEepromDataIn = 0x02;
inline constexpr std::uint8_t kEepromDataOut = 0x01;
// A 93C56: 8-bit word addresses, read opcode 10. Word 0 = 0x8129 tells
// 8139too so; words 7-9 hold the MAC.
inline constexpr unsigned kEepromWords = 128;
inline constexpr unsigned kEepromAddressBits = 8;
inline constexpr std::uint16_t kEepromSignature = 0x8129;
inline constexpr unsigned kEepromMacWord = 7;

// PHY values: link up at 100 Mb/s full duplex, autonegotiated.
inline constexpr std::uint16_t kBmcrReset = 0x8000;
inline constexpr std::uint16_t kBmcrAutonegotiate = 0x1000;
inline constexpr std::uint16_t kBmcrRestartAutonegotiation = 0x0200;
inline constexpr std::uint16_t kBmsrLinkUp = 0x782d;
inline constexpr std::uint16_t kAnarDefault = 0x05e1;
inline constexpr std::uint16_t kCscrLinkOk = 0x0400;

}  // namespace rtl8139

// Every bit of device state, in one place: what a context switch of a shared
// card must carry. Plain data; any value is survivable.
struct Rtl8139State {
  std::array<std::uint8_t, 6> mac{};                          // IDR0-5
  std::array<std::uint8_t, 8> multicast_filter{};             // MAR0-7
  std::array<std::uint32_t, rtl8139::kTxSlots> tx_status{};   // TSD0-3
  std::array<std::uint32_t, rtl8139::kTxSlots> tx_address{};  // TSAD0-3
  std::uint8_t tx_next = 0;                                   // the slot the chip sends from next
  std::uint32_t rx_ring = 0;                                  // RBSTART
  std::uint32_t rx_read = 0;   // CAPR + 16: where the driver reads next
  std::uint32_t rx_write = 0;  // CBR: where the chip writes next
  std::uint8_t command = 0;    // CR: TE, RE
  std::uint16_t interrupt_mask = 0;
  std::uint16_t interrupt_status = 0;
  std::uint32_t tx_config = rtl8139::kTcrVersion;
  std::uint32_t rx_config = 0;
  std::uint32_t missed = 0;  // MPC, 24 bits
  std::uint32_t timer_interrupt = 0;
  std::uint8_t cfg9346 = 0;
  std::uint8_t config0 = 0, config1 = 0, config3 = 0, config4 = 0, config5 = 0;
  std::uint8_t halt_clock = 0;  // HltClk as last written
  std::uint16_t multi_interrupt = 0;
  std::uint16_t phy_control = rtl8139::kBmcrAutonegotiate;  // BMCR
  std::uint16_t phy_advertise = rtl8139::kAnarDefault;      // ANAR
  // The EEPROM and the serial command being clocked into it.
  std::array<std::uint16_t, rtl8139::kEepromWords> eeprom{};
  std::uint16_t eeprom_shift = 0;  // command bits since the start bit
  std::uint8_t eeprom_bits = 0;    // how many; 0: waiting for the start bit
  bool eeprom_started = false;
  std::uint16_t eeprom_output = 0;  // the word being read out, next bit on top
  std::uint8_t eeprom_output_bits = 0;
  bool eeprom_data_out = false;
  bool eeprom_clock = false;  // SK as last written

  bool operator==(const Rtl8139State&) const = default;
};

// Thread safety: every member may be called from any thread. The transmit
// sink and the IRQ line are called with no internal lock held; the DMA bus
// is called with it held and must not call the chip.
class Rtl8139 final : public hw::NetworkChip {
 public:
  struct Counters {
    std::uint64_t frames_sent = 0;      // put on the wire
    std::uint64_t frames_received = 0;  // written into the receive ring
    // Frames heard but not stored: the receiver off, the ring full, the
    // ring's DMA refused, or longer than any slot sends. Frames the address
    // filter rejects are not counted anywhere.
    std::uint64_t frames_dropped = 0;
    // Programming the chip refused: slots of a size past the FIFO, DMA the
    // bus refused, C+ registers, partial writes of a dword-only register,
    // access sizes or offsets outside the window.
    std::uint64_t bad_programming = 0;
  };

  explicit Rtl8139(hw::MacAddress mac);
  Rtl8139(const Rtl8139&) = delete;
  Rtl8139& operator=(const Rtl8139&) = delete;

  void set_transmit_sink(hw::FrameSink* sink) override;
  void set_irq_line(std::function<void(bool asserted)> line) override;
  void set_dma_bus(hw::DmaBus* bus) override;

  // Register access at an offset of the window, by port or by MMIO alike.
  // size is 1, 2 or 4; an access spanning registers acts on each byte's.
  std::uint32_t read(std::uint16_t offset, unsigned size) override;
  void write(std::uint16_t offset, unsigned size, std::uint32_t value) override;
  void read_string(std::uint16_t offset, unsigned size, std::span<std::uint8_t> out) override;
  void write_string(std::uint16_t offset, unsigned size, std::span<const std::uint8_t> in) override;
  std::uint32_t mmio_bytes() const noexcept override { return rtl8139::kWindowBytes; }
  std::uint64_t mmio_read(std::uint32_t offset, unsigned size) override;
  void mmio_write(std::uint32_t offset, unsigned size, std::uint64_t value) override;

  // A frame arrives from the wire.
  void deliver(std::span<const std::uint8_t> frame) override;
  // The same, saying whether the frame was stored (not refused by the
  // address filter, nor missed).
  bool store(std::span<const std::uint8_t> frame);

  // Whether the receiver takes frames now (enabled, clock running), and
  // whether a frame of this many bytes would fit in the ring: a monitor
  // feeding the chip holds frames back rather than see them missed.
  bool receiving() const;
  bool can_store(std::size_t frame_bytes) const;
  // A frame held back that way is one that found the ring full: while the
  // receiver is on, RxOverflow, as a frame the ring had no room for sets
  // it (the frame itself is not counted missed: it waits).
  void ring_overflowed();
  bool irq_asserted() const;
  Rtl8139State save() const;
  void restore(const Rtl8139State& state);
  Counters counters() const;
  hw::NetworkChipCounts counts() const override;

 private:
  struct Outbox;  // frames to hand out once the lock is dropped

  // All *_locked members run with mutex_ held.
  std::uint32_t read_locked(unsigned offset, unsigned size);
  void write_locked(unsigned offset, unsigned size, std::uint32_t value, Outbox& outbox);
  std::uint8_t read_byte_locked(unsigned offset) const;
  bool write_register_locked(unsigned base, std::uint32_t value, std::uint32_t mask,
                             Outbox& outbox);
  void command_locked(std::uint8_t value, Outbox& outbox);
  void cfg9346_locked(std::uint8_t value);
  void eeprom_clock_locked(bool data_in);
  void reset_locked();
  void transmit_pending_locked(Outbox& outbox);
  void transmit_slot_locked(unsigned slot, Outbox& outbox);
  bool receive_locked(std::span<const std::uint8_t> frame);
  bool accepts_locked(std::span<const std::uint8_t> destination) const;
  std::uint32_t ring_bytes_locked() const;
  bool fits_locked(std::size_t frame_bytes) const;
  void count_missed_locked();
  bool irq_level_locked() const;

  void hand_out(Outbox& outbox);
  void update_irq_line();

  mutable std::mutex mutex_;
  Rtl8139State state_;
  Counters counters_;
  hw::FrameSink* transmit_sink_ = nullptr;
  hw::DmaBus* dma_ = nullptr;
  hw::IrqLineReporter irq_line_;
};

}  // namespace vpio::devices

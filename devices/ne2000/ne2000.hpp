// The NE2000 chip: a software DP8390 network controller behind the NE2000
// ASIC (remote-DMA data port, reset port, station PROM, 16 KiB of buffer
// memory). It serves as a guest's fully emulated card and as the stand-in for
// a physical card shared by guests; it knows nothing of guests or KVM.
// What it covers and leaves out: docs/ne2000-chip.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "hw/net/frame_sink.hpp"
#include "hw/net/irq_line_reporter.hpp"
#include "hw/net/network_chip.hpp"
#include "hw/net/mac_address.hpp"

namespace vpio::devices {

// Register offsets, bits and memory layout of the NE2000, shared with the
// models and tests that program it.
namespace ne2000 {

// The command register sits at offset 0 of every page.
inline constexpr std::uint16_t kCr = 0x00;

// Page 0, written.
inline constexpr std::uint16_t kPstart = 0x01;
inline constexpr std::uint16_t kPstop = 0x02;
inline constexpr std::uint16_t kBnry = 0x03;  // read and written
inline constexpr std::uint16_t kTpsr = 0x04;
inline constexpr std::uint16_t kTbcr0 = 0x05;
inline constexpr std::uint16_t kTbcr1 = 0x06;
inline constexpr std::uint16_t kIsr = 0x07;  // read and written
inline constexpr std::uint16_t kRsar0 = 0x08;
inline constexpr std::uint16_t kRsar1 = 0x09;
inline constexpr std::uint16_t kRbcr0 = 0x0a;
inline constexpr std::uint16_t kRbcr1 = 0x0b;
inline constexpr std::uint16_t kRcr = 0x0c;
inline constexpr std::uint16_t kTcr = 0x0d;
inline constexpr std::uint16_t kDcr = 0x0e;
inline constexpr std::uint16_t kImr = 0x0f;

// Page 0, read.
inline constexpr std::uint16_t kClda0 = 0x01;
inline constexpr std::uint16_t kClda1 = 0x02;
inline constexpr std::uint16_t kTsr = 0x04;
inline constexpr std::uint16_t kNcr = 0x05;
inline constexpr std::uint16_t kFifo = 0x06;
inline constexpr std::uint16_t kCrda0 = 0x08;
inline constexpr std::uint16_t kCrda1 = 0x09;
inline constexpr std::uint16_t kId0 = 0x0a;  // RTL8029 identification
inline constexpr std::uint16_t kId1 = 0x0b;
inline constexpr std::uint16_t kRsr = 0x0c;
inline constexpr std::uint16_t kCntr0 = 0x0d;  // frame alignment errors
inline constexpr std::uint16_t kCntr1 = 0x0e;  // CRC errors
inline constexpr std::uint16_t kCntr2 = 0x0f;  // missed packets

// Page 1, read and written.
inline constexpr std::uint16_t kPar0 = 0x01;  // PAR0..PAR5 at 0x01..0x06
inline constexpr std::uint16_t kCurr = 0x07;
inline constexpr std::uint16_t kMar0 = 0x08;  // MAR0..MAR7 at 0x08..0x0f

// Page 2 reads back the page-0 write-only registers at their page-0
// offsets: kPstart, kPstop, kTpsr, kRcr, kTcr, kDcr, kImr.

// CR bits.
inline constexpr std::uint8_t kCrStop = 0x01;
inline constexpr std::uint8_t kCrStart = 0x02;
inline constexpr std::uint8_t kCrTransmit = 0x04;
inline constexpr std::uint8_t kCrRemoteRead = 0x08;
inline constexpr std::uint8_t kCrRemoteWrite = 0x10;
inline constexpr std::uint8_t kCrSendPacket = 0x18;
inline constexpr std::uint8_t kCrNoDma = 0x20;  // abort/complete remote DMA
inline constexpr std::uint8_t kCrDmaMask = 0x38;
inline constexpr std::uint8_t kCrPage0 = 0x00;
inline constexpr std::uint8_t kCrPage1 = 0x40;
inline constexpr std::uint8_t kCrPage2 = 0x80;
inline constexpr std::uint8_t kCrPage3 = 0xc0;
inline constexpr unsigned kCrPageShift = 6;

// ISR and IMR bits.
inline constexpr std::uint8_t kIsrPrx = 0x01;  // packet received
inline constexpr std::uint8_t kIsrPtx = 0x02;  // packet transmitted
inline constexpr std::uint8_t kIsrRxe = 0x04;  // receive error
inline constexpr std::uint8_t kIsrTxe = 0x08;  // transmit error
inline constexpr std::uint8_t kIsrOvw = 0x10;  // receive ring overwrite warning
inline constexpr std::uint8_t kIsrCnt = 0x20;  // a tally counter's MSB set
inline constexpr std::uint8_t kIsrRdc = 0x40;  // remote DMA complete
inline constexpr std::uint8_t kIsrRst = 0x80;  // stopped; never raises the line
inline constexpr std::uint8_t kIsrInterruptMask = 0x7f;

// RCR bits.
inline constexpr std::uint8_t kRcrSaveErrors = 0x01;
inline constexpr std::uint8_t kRcrRunts = 0x02;
inline constexpr std::uint8_t kRcrBroadcast = 0x04;
inline constexpr std::uint8_t kRcrMulticast = 0x08;
inline constexpr std::uint8_t kRcrPromiscuous = 0x10;
inline constexpr std::uint8_t kRcrMonitor = 0x20;
inline constexpr std::uint8_t kRcrMask = 0x3f;

// TCR bits.
inline constexpr std::uint8_t kTcrInhibitCrc = 0x01;
inline constexpr std::uint8_t kTcrLoopbackMask = 0x06;
inline constexpr std::uint8_t kTcrInternalLoopback = 0x02;
inline constexpr std::uint8_t kTcrMask = 0x1f;

// DCR bits.
inline constexpr std::uint8_t kDcrWordTransfer = 0x01;  // WTS
inline constexpr std::uint8_t kDcrByteOrder = 0x02;
inline constexpr std::uint8_t kDcrLongAddress = 0x04;  // LAS: set by a hardware reset
inline constexpr std::uint8_t kDcrNormal = 0x08;       // LS: clear selects loopback
inline constexpr std::uint8_t kDcrFifo8Bytes = 0x40;
inline constexpr std::uint8_t kDcrMask = 0x7f;

// TSR bits.
inline constexpr std::uint8_t kTsrPtx = 0x01;
inline constexpr std::uint8_t kTsrAborted = 0x08;

// RSR bits.
inline constexpr std::uint8_t kRsrPrx = 0x01;
inline constexpr std::uint8_t kRsrMissed = 0x10;
inline constexpr std::uint8_t kRsrGroup = 0x20;     // multicast or broadcast
inline constexpr std::uint8_t kRsrDisabled = 0x40;  // monitor mode

// Identification read on page 0: the RTL8029AS's 'P' 'C', as its datasheet
// gives them and QEMU's ne2k presents them.
inline constexpr std::uint8_t kRtl8029Id0 = 0x50;  // 'P'
inline constexpr std::uint8_t kRtl8029Id1 = 0x43;  // 'C'

// Remote-DMA address space seen through the data port.
inline constexpr std::size_t kPromBytes = 32;
inline constexpr std::uint8_t kPromSignature = 0x57;  // 'W' for "word card"
inline constexpr std::size_t kPageBytes = 256;
inline constexpr std::uint16_t kMemoryStart = 0x4000;
inline constexpr std::size_t kMemoryBytes = 0x4000;
inline constexpr std::uint8_t kFirstMemoryPage = 0x40;
inline constexpr unsigned kEndMemoryPage = 0x80;  // one past the last page
inline constexpr std::size_t kRingHeaderBytes = 4;
// The DP8390 stores a received frame's FCS after it and counts it in the
// header's byte count; the ring space it takes decides the next-page pointer.
inline constexpr std::size_t kFcsBytes = 4;

// The longest frame the chip takes from or puts on the wire: a maximal frame
// with one 802.1Q tag, which is also what the hub forwards.
inline constexpr std::size_t kMaxWireFrameBytes = hw::kMaxFrameBytes + 4;

}  // namespace ne2000

// Every bit of device state, in one place: what a context switch of a shared
// card and a migration must carry. Plain data; any value is survivable.
struct Ne2000State {
  std::uint8_t command = 0;                        // CR: page, run state, DMA command
  std::uint8_t page_start = 0;                     // PSTART
  std::uint8_t page_stop = 0;                      // PSTOP
  std::uint8_t boundary = 0;                       // BNRY
  std::uint8_t transmit_page = 0;                  // TPSR
  std::uint16_t transmit_count = 0;                // TBCR1:TBCR0
  std::uint8_t interrupt_status = 0;               // ISR
  std::uint8_t interrupt_mask = 0;                 // IMR
  std::uint16_t remote_address = 0;                // RSAR as loaded, CRDA as it advances
  std::uint16_t remote_count = 0;                  // RBCR, counting down
  std::uint8_t receive_config = 0;                 // RCR
  std::uint8_t transmit_config = 0;                // TCR
  std::uint8_t data_config = 0;                    // DCR
  std::uint8_t transmit_status = 0;                // TSR
  std::uint8_t receive_status = 0;                 // RSR
  std::uint16_t local_address = 0;                 // CLDA
  std::uint8_t current_page = 0;                   // CURR
  std::array<std::uint8_t, 6> physical_address{};  // PAR0-5
  std::array<std::uint8_t, 8> multicast_filter{};  // MAR0-7
  std::array<std::uint8_t, 3> tally{};             // CNTR0-2
  std::array<std::uint8_t, ne2000::kPromBytes> prom{};
  std::array<std::uint8_t, ne2000::kMemoryBytes> memory{};

  bool operator==(const Ne2000State&) const = default;
};

// Thread safety: every member may be called from any thread. The transmit
// sink and the IRQ line are called with no internal lock held, possibly from
// a thread other than the one whose access changed the state (the last
// level reported is always the current one). Both callbacks may call back
// into this chip. The sink and line must outlive their registration.
class Ne2000 final : public hw::NetworkChip {
 public:
  static constexpr std::uint16_t kWindowPorts = 0x20;
  static constexpr std::uint16_t kDataPort = 0x10;
  static constexpr std::uint16_t kResetPort = 0x1f;

  struct Counters {
    std::uint64_t frames_sent = 0;      // put on the wire
    std::uint64_t frames_received = 0;  // stored in the receive ring
    // Frames heard but not stored: missed (ring full, monitor mode, unusable
    // ring), or arriving stopped, in loopback or longer than any wire allows.
    // Frames the address filter rejects are not counted anywhere.
    std::uint64_t frames_dropped = 0;
    // Programming the chip refused: remote DMA outside PROM and memory, a
    // transmit outside memory or of no wire's length, a receive with the ring
    // outside memory or CURR off it, bad access sizes or offsets.
    std::uint64_t bad_programming = 0;
  };

  explicit Ne2000(hw::MacAddress mac);
  Ne2000(const Ne2000&) = delete;
  Ne2000& operator=(const Ne2000&) = delete;

  void set_transmit_sink(hw::FrameSink* sink) override;  // null: frames go nowhere
  void set_transmit_sink(hw::FrameSink& sink) { set_transmit_sink(&sink); }
  // Called with the new level whenever (ISR & IMR & 0x7f) != 0 changes; at
  // registration, called once if the line is already asserted.
  void set_irq_line(std::function<void(bool asserted)> line) override;

  // Port access within the I/O window. size is 1, 2 or 4; anything else reads
  // all ones and writes nothing. Multi-byte accesses to registers act as
  // byte accesses to consecutive ports, as an ISA bus splits them.
  std::uint32_t read(std::uint16_t offset, unsigned size) override;
  void write(std::uint16_t offset, unsigned size, std::uint32_t value) override;
  // rep ins/outs: out.size()/size elements, little-endian; a trailing partial
  // element is left untouched.
  void read_string(std::uint16_t offset, unsigned size, std::span<std::uint8_t> out) override;
  void write_string(std::uint16_t offset, unsigned size,
                    std::span<const std::uint8_t> in) override;

  // A frame arrives from the wire.
  void deliver(std::span<const std::uint8_t> frame) override;

  // Whether a frame of this many bytes would be stored in the receive ring
  // now, address filter aside: the card runs, listens to the wire, and the
  // ring has room. A monitor feeding the chip uses it to hold frames back
  // rather than see them missed.
  bool can_store(std::size_t frame_bytes) const;
  // Whether the receiver takes frames at all: started, not looped back, not
  // in monitor mode, with a usable ring. A frame arriving otherwise is missed.
  bool receiving() const;
  bool irq_asserted() const;
  Ne2000State save() const;
  void restore(const Ne2000State& state);
  Counters counters() const;
  hw::NetworkChipCounts counts() const override;

 private:
  struct Outbox;  // what to hand out once the lock is dropped

  // All *_locked members run with mutex_ held.
  std::uint32_t read_locked(std::uint16_t offset, unsigned size);
  void write_locked(std::uint16_t offset, unsigned size, std::uint32_t value, Outbox& outbox);
  std::uint8_t read_port_locked(unsigned port);
  void write_port_locked(unsigned port, std::uint8_t value, Outbox& outbox);
  std::uint8_t read_register_locked(unsigned offset);
  void write_register_locked(unsigned offset, std::uint8_t value, Outbox& outbox);
  void command_locked(std::uint8_t value, Outbox& outbox);
  void reset_locked();

  std::uint32_t read_data_port_locked(unsigned size);
  void write_data_port_locked(unsigned size, std::uint32_t value);
  std::uint8_t remote_read_byte_locked();
  void remote_write_byte_locked(std::uint8_t value);
  void remote_count_down_locked(unsigned width);

  void transmit_locked(Outbox& outbox);
  void receive_locked(std::span<const std::uint8_t> frame);
  bool accepts_locked(std::span<const std::uint8_t> destination) const;
  void count_missed_locked();
  bool irq_level_locked() const;

  void hand_out(Outbox& outbox);
  void update_irq_line();

  mutable std::mutex mutex_;
  Ne2000State state_;
  Counters counters_;
  hw::FrameSink* transmit_sink_ = nullptr;
  hw::IrqLineReporter irq_line_;
};

}  // namespace vpio::devices

// The NE2000 chip: DP8390 register pages 0-2, remote DMA through the ASIC
// data port, transmit, the receive ring with address filtering, tally
// counters and the interrupt line.
//
// Covers what NE2000 drivers (Linux ne/ne2k-pci and lib8390, BSD ed)
// program. Leaves out: the loopback modes (a frame sent in loopback is
// completed but goes nowhere, and the wire is not heard while TCR selects
// loopback), the Send Packet DMA command, CRC and alignment errors (a
// software wire has none, so CNTR0/1 stay zero), the received FCS (its room
// in the ring is kept), collisions, the FIFO, DCR byte order and the RTL8029
// page-3 registers. Every register value is survivable: addresses are
// checked before every array access and every loop is bounded by a frame or
// an access, never by ring pointers.
#include "devices/ne2000/ne2000.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "hw/net/ethernet_crc.hpp"

namespace vpio::devices {

using namespace ne2000;

namespace {

// Switch keys: the page from CR bits 7:6 folded above the 4-bit offset, so
// that one switch sees every register of every page.
constexpr unsigned fold(unsigned page, unsigned offset) { return (page << 4) | offset; }

constexpr std::uint16_t kRegisterPorts = 0x10;
constexpr std::uint8_t kFloatingBus = 0xff;  // what nothing driving the bus reads
constexpr std::uint8_t kTallyStick = 0xc0;   // the counters halt at 192
constexpr std::uint8_t kTallyMsb = 0x80;
constexpr std::size_t kMissedTally = 2;
constexpr std::size_t kMacBytes = 6;

constexpr std::uint8_t low_byte(unsigned value) { return static_cast<std::uint8_t>(value); }
constexpr std::uint8_t high_byte(unsigned value) { return static_cast<std::uint8_t>(value >> 8); }
constexpr std::uint16_t with_low_byte(std::uint16_t word, std::uint8_t value) {
  return static_cast<std::uint16_t>((word & 0xff00u) | value);
}
constexpr std::uint16_t with_high_byte(std::uint16_t word, std::uint8_t value) {
  return static_cast<std::uint16_t>((word & 0x00ffu) | (unsigned{value} << 8));
}
constexpr std::uint16_t page_address(std::uint8_t page) {
  return static_cast<std::uint16_t>(unsigned{page} << 8);
}
constexpr std::uint32_t all_ones(unsigned size) {
  return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}
constexpr bool in_buffer_memory(std::size_t address) {
  return address >= kMemoryStart && address < kMemoryStart + kMemoryBytes;
}
constexpr bool valid_size(unsigned size) { return size == 1 || size == 2 || size == 4; }
constexpr bool running(std::uint8_t command) {
  return (command & kCrStart) != 0 && (command & kCrStop) == 0;
}

constexpr unsigned pages_for(std::size_t stored_bytes) {
  return static_cast<unsigned>((stored_bytes + kPageBytes - 1) / kPageBytes);
}

// Pages the receiver may still link before it would run into BNRY, or nothing
// when the ring is unusable (not wholly inside memory, or CURR off it).
std::optional<unsigned> free_ring_pages(const Ne2000State& s) {
  const unsigned start = s.page_start;
  const unsigned stop = s.page_stop;
  const unsigned current = s.current_page;
  if (start < kFirstMemoryPage || start >= stop || stop > kEndMemoryPage || current < start ||
      current >= stop)
    return std::nullopt;
  const unsigned ring_pages = stop - start;
  // BNRY is taken modulo the ring: lib8390 writes PSTART - 1 for "the page
  // before PSTART", which this reads as PSTOP - 1, as intended.
  const unsigned boundary = s.boundary;
  const unsigned boundary_in_ring =
      boundary >= start ? (boundary - start) % ring_pages
                        : (ring_pages - (start - boundary) % ring_pages) % ring_pages;
  // The DP8390 checks BNRY only when linking a further page, so with
  // CURR == BNRY the whole ring is open. Stopping one page short of BNRY
  // keeps reception from ever making CURR equal BNRY, which would make a
  // full ring look empty under either driver convention for BNRY.
  const unsigned free_pages = (boundary_in_ring + ring_pages - (current - start)) % ring_pages;
  return free_pages == 0 ? ring_pages : free_pages;
}

}  // namespace

// A transmitted frame waits here while the chip lock is released; the frame
// is copied out because the guest may rewrite the buffer the moment it can.
struct Ne2000::Outbox {
  std::array<std::uint8_t, kMaxWireFrameBytes> frame;
  std::size_t frame_bytes = 0;
  hw::FrameSink* sink = nullptr;
};

Ne2000::Ne2000(hw::MacAddress mac) {
  // A 16-bit card's PROM repeats each byte so that word reads see it in the
  // low byte; drivers look for the 'W' signature in its last two words.
  for (std::size_t i = 0; i < kMacBytes; ++i) {
    state_.prom[2 * i] = mac.bytes[i];
    state_.prom[2 * i + 1] = mac.bytes[i];
  }
  std::fill(state_.prom.end() - 4, state_.prom.end(), kPromSignature);
  reset_locked();
}

void Ne2000::set_transmit_sink(hw::FrameSink* sink) {
  std::lock_guard lock(mutex_);
  transmit_sink_ = sink;
}

void Ne2000::set_irq_line(std::function<void(bool asserted)> line) {
  {
    std::lock_guard lock(mutex_);
    irq_line_.set_line_locked(std::move(line));
  }
  update_irq_line();
}

std::uint32_t Ne2000::read(std::uint16_t offset, unsigned size) {
  std::uint32_t value;
  {
    std::lock_guard lock(mutex_);
    value = read_locked(offset, size);
  }
  update_irq_line();
  return value;
}

void Ne2000::write(std::uint16_t offset, unsigned size, std::uint32_t value) {
  Outbox outbox;
  {
    std::lock_guard lock(mutex_);
    write_locked(offset, size, value, outbox);
  }
  hand_out(outbox);
}

void Ne2000::read_string(std::uint16_t offset, unsigned size, std::span<std::uint8_t> out) {
  if (!valid_size(size)) {
    std::lock_guard lock(mutex_);
    ++counters_.bad_programming;
    return;
  }
  {
    std::lock_guard lock(mutex_);
    for (std::size_t at = 0; at + size <= out.size(); at += size) {
      const std::uint32_t value = read_locked(offset, size);
      for (unsigned lane = 0; lane < size; ++lane) out[at + lane] = low_byte(value >> (8 * lane));
    }
  }
  update_irq_line();
}

void Ne2000::write_string(std::uint16_t offset, unsigned size, std::span<const std::uint8_t> in) {
  if (!valid_size(size)) {
    std::lock_guard lock(mutex_);
    ++counters_.bad_programming;
    return;
  }
  // One lock for the run of elements, dropped after any element that sent a
  // frame so the frame goes out before the next element can overwrite it.
  std::size_t at = 0;
  do {
    Outbox outbox;
    {
      std::lock_guard lock(mutex_);
      while (at + size <= in.size() && outbox.frame_bytes == 0) {
        std::uint32_t value = 0;
        for (unsigned lane = 0; lane < size; ++lane) {
          value |= std::uint32_t{in[at + lane]} << (8 * lane);
        }
        write_locked(offset, size, value, outbox);
        at += size;
      }
    }
    hand_out(outbox);
  } while (at + size <= in.size());
}

void Ne2000::deliver(std::span<const std::uint8_t> frame) {
  {
    std::lock_guard lock(mutex_);
    receive_locked(frame);
  }
  update_irq_line();
}

bool Ne2000::irq_asserted() const {
  std::lock_guard lock(mutex_);
  return irq_level_locked();
}

Ne2000State Ne2000::save() const {
  std::lock_guard lock(mutex_);
  return state_;
}

void Ne2000::restore(const Ne2000State& state) {
  {
    std::lock_guard lock(mutex_);
    state_ = state;
  }
  update_irq_line();
}

Ne2000::Counters Ne2000::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

hw::NetworkChipCounts Ne2000::counts() const {
  const Counters c = counters();
  return {c.frames_sent, c.frames_received, c.frames_dropped, c.bad_programming};
}

// ---- Port decoding ----

std::uint32_t Ne2000::read_locked(std::uint16_t offset, unsigned size) {
  if (!valid_size(size)) {
    ++counters_.bad_programming;
    return all_ones(4);
  }
  // The data port moves a whole transfer per access, whatever the width.
  if (offset == kDataPort) return read_data_port_locked(size);
  std::uint32_t value = 0;
  for (unsigned lane = 0; lane < size; ++lane) {
    value |= std::uint32_t{read_port_locked(offset + lane)} << (8 * lane);
  }
  return value;
}

void Ne2000::write_locked(std::uint16_t offset, unsigned size, std::uint32_t value,
                          Outbox& outbox) {
  if (!valid_size(size)) {
    ++counters_.bad_programming;
    return;
  }
  if (offset == kDataPort) {
    write_data_port_locked(size, value);
    return;
  }
  for (unsigned lane = 0; lane < size; ++lane) {
    write_port_locked(offset + lane, low_byte(value >> (8 * lane)), outbox);
  }
}

std::uint8_t Ne2000::read_port_locked(unsigned port) {
  if (port < kRegisterPorts) return read_register_locked(port);
  if (port == kDataPort) return low_byte(read_data_port_locked(1));
  if (port == kResetPort) {
    reset_locked();
    return 0;
  }
  // The remaining ASIC ports decode nothing, as on QEMU's card.
  if (port >= kWindowPorts) ++counters_.bad_programming;
  return kFloatingBus;
}

void Ne2000::write_port_locked(unsigned port, std::uint8_t value, Outbox& outbox) {
  if (port < kRegisterPorts) {
    write_register_locked(port, value, outbox);
  } else if (port == kDataPort) {
    write_data_port_locked(1, value);
  } else if (port == kResetPort) {
    reset_locked();
  } else if (port >= kWindowPorts) {
    ++counters_.bad_programming;
  }
}

std::uint8_t Ne2000::read_register_locked(unsigned offset) {
  Ne2000State& s = state_;
  const unsigned page = unsigned{s.command} >> kCrPageShift;
  switch (fold(page, offset)) {
    case fold(0, kCr):
    case fold(1, kCr):
    case fold(2, kCr):
    case fold(3, kCr): return s.command;

    case fold(0, kClda0): return low_byte(s.local_address);
    case fold(0, kClda1): return high_byte(s.local_address);
    case fold(0, kBnry): return s.boundary;
    case fold(0, kTsr): return s.transmit_status;
    case fold(0, kNcr): return 0;   // a software wire has no collisions
    case fold(0, kFifo): return 0;  // the FIFO is not modelled
    case fold(0, kIsr): return s.interrupt_status;
    case fold(0, kCrda0): return low_byte(s.remote_address);
    case fold(0, kCrda1): return high_byte(s.remote_address);
    case fold(0, kId0): return kRtl8029Id0;
    case fold(0, kId1): return kRtl8029Id1;
    case fold(0, kRsr): return s.receive_status;
    case fold(0, kCntr0):
    case fold(0, kCntr1):
    case fold(0, kCntr2): {
      // Drivers accumulate the tallies; reading hands the count over.
      std::uint8_t& tally = s.tally[offset - kCntr0];
      const std::uint8_t value = tally;
      tally = 0;
      return value;
    }

    case fold(1, kPar0 + 0):
    case fold(1, kPar0 + 1):
    case fold(1, kPar0 + 2):
    case fold(1, kPar0 + 3):
    case fold(1, kPar0 + 4):
    case fold(1, kPar0 + 5): return s.physical_address[offset - kPar0];
    case fold(1, kCurr): return s.current_page;
    case fold(1, kMar0 + 0):
    case fold(1, kMar0 + 1):
    case fold(1, kMar0 + 2):
    case fold(1, kMar0 + 3):
    case fold(1, kMar0 + 4):
    case fold(1, kMar0 + 5):
    case fold(1, kMar0 + 6):
    case fold(1, kMar0 + 7): return s.multicast_filter[offset - kMar0];

    case fold(2, kPstart): return s.page_start;
    case fold(2, kPstop): return s.page_stop;
    case fold(2, kTpsr): return s.transmit_page;
    case fold(2, kRcr): return s.receive_config;
    case fold(2, kTcr): return s.transmit_config;
    case fold(2, kDcr): return s.data_config;
    case fold(2, kImr): return s.interrupt_mask;

    default:
      // Page 2's diagnostic pointers and the RTL8029 page 3.
      return 0;
  }
}

void Ne2000::write_register_locked(unsigned offset, std::uint8_t value, Outbox& outbox) {
  Ne2000State& s = state_;
  const unsigned page = unsigned{s.command} >> kCrPageShift;
  switch (fold(page, offset)) {
    case fold(0, kCr):
    case fold(1, kCr):
    case fold(2, kCr):
    case fold(3, kCr): command_locked(value, outbox); break;

    case fold(0, kPstart): s.page_start = value; break;
    case fold(0, kPstop): s.page_stop = value; break;
    case fold(0, kBnry): s.boundary = value; break;
    case fold(0, kTpsr): s.transmit_page = value; break;
    case fold(0, kTbcr0): s.transmit_count = with_low_byte(s.transmit_count, value); break;
    case fold(0, kTbcr1): s.transmit_count = with_high_byte(s.transmit_count, value); break;
    case fold(0, kIsr):
      // Write one to acknowledge; RST follows the run state, not the driver.
      s.interrupt_status &= static_cast<std::uint8_t>(~(value & kIsrInterruptMask));
      break;
    case fold(0, kRsar0): s.remote_address = with_low_byte(s.remote_address, value); break;
    case fold(0, kRsar1): s.remote_address = with_high_byte(s.remote_address, value); break;
    case fold(0, kRbcr0): s.remote_count = with_low_byte(s.remote_count, value); break;
    case fold(0, kRbcr1): s.remote_count = with_high_byte(s.remote_count, value); break;
    case fold(0, kRcr): s.receive_config = value & kRcrMask; break;
    case fold(0, kTcr): s.transmit_config = value & kTcrMask; break;
    case fold(0, kDcr): s.data_config = value & kDcrMask; break;
    case fold(0, kImr): s.interrupt_mask = value & kIsrInterruptMask; break;

    case fold(1, kPar0 + 0):
    case fold(1, kPar0 + 1):
    case fold(1, kPar0 + 2):
    case fold(1, kPar0 + 3):
    case fold(1, kPar0 + 4):
    case fold(1, kPar0 + 5): s.physical_address[offset - kPar0] = value; break;
    case fold(1, kCurr): s.current_page = value; break;
    case fold(1, kMar0 + 0):
    case fold(1, kMar0 + 1):
    case fold(1, kMar0 + 2):
    case fold(1, kMar0 + 3):
    case fold(1, kMar0 + 4):
    case fold(1, kMar0 + 5):
    case fold(1, kMar0 + 6):
    case fold(1, kMar0 + 7): s.multicast_filter[offset - kMar0] = value; break;

    default:
      // Page 2 holds diagnostic registers only; page 3 is the RTL8029's.
      break;
  }
}

void Ne2000::command_locked(std::uint8_t value, Outbox& outbox) {
  Ne2000State& s = state_;
  std::uint8_t command = value;
  // The run state is a latch: a write naming neither STP nor STA (lib8390
  // selects pages that way) leaves the chip running or stopped.
  if ((value & (kCrStop | kCrStart)) == 0) {
    command |= s.command & (kCrStop | kCrStart);
  }
  if ((command & kCrStop) != 0) {
    s.interrupt_status |= kIsrRst;
  } else if ((command & kCrStart) != 0) {
    s.interrupt_status &= static_cast<std::uint8_t>(~kIsrRst);
  }
  // A remote DMA of zero bytes is complete as soon as it is issued.
  const std::uint8_t dma = value & kCrDmaMask;
  if ((dma == kCrRemoteRead || dma == kCrRemoteWrite) && s.remote_count == 0) {
    s.interrupt_status |= kIsrRdc;
  }
  s.command = static_cast<std::uint8_t>(command & ~kCrTransmit);
  // A stopped transmitter ignores TXP; a running one finishes at once and
  // clears TXP, which drivers poll before the next send.
  if ((command & kCrTransmit) != 0 && running(command)) transmit_locked(outbox);
}

// The NE2000 ASIC's reset pulses the DP8390's RESET pin, which sets STP and
// RD2 (TXP and STA clear), ISR.RST and DCR.LAS, masks every interrupt and
// takes TCR out of loopback; the other registers and memory are kept.
void Ne2000::reset_locked() {
  Ne2000State& s = state_;
  s.command = kCrStop | kCrNoDma;
  s.interrupt_status = kIsrRst;
  s.interrupt_mask = 0;
  s.data_config |= kDcrLongAddress;
  s.transmit_config &= static_cast<std::uint8_t>(~kTcrLoopbackMask);
  // The ASIC abandons a remote DMA in flight along with the DP8390.
  s.remote_count = 0;
}

// ---- Remote DMA ----
//
// The DP8390 counts RBCR down per transfer and the ASIC sizes the transfer by
// DCR.WTS, not by the CPU's access width: in word mode a byte access still
// moves a word (ne2k-pci reads the PROM that way), and a 4-byte access moves
// two transfers' worth. Once RBCR reaches zero the port reads all ones.

std::uint32_t Ne2000::read_data_port_locked(unsigned size) {
  const unsigned width = (state_.data_config & kDcrWordTransfer) != 0 ? 2 : 1;
  const unsigned moved = std::max(size, width);
  std::uint32_t value = 0;
  for (unsigned lane = 0; lane < moved; lane += width) {
    const bool active = state_.remote_count != 0;
    for (unsigned byte = 0; byte < width; ++byte) {
      const std::uint8_t data = active ? remote_read_byte_locked() : kFloatingBus;
      value |= std::uint32_t{data} << (8 * (lane + byte));
    }
    if (active) remote_count_down_locked(width);
  }
  return value & all_ones(size);
}

void Ne2000::write_data_port_locked(unsigned size, std::uint32_t value) {
  const unsigned width = (state_.data_config & kDcrWordTransfer) != 0 ? 2 : 1;
  const unsigned moved = std::max(size, width);
  // A byte written in word mode moves a word whose high byte the CPU left
  // undriven; it is stored as zero.
  const std::uint32_t data = value & all_ones(size);
  for (unsigned lane = 0; lane < moved; lane += width) {
    if (state_.remote_count == 0) return;
    for (unsigned byte = 0; byte < width; ++byte) {
      remote_write_byte_locked(low_byte(data >> (8 * (lane + byte))));
    }
    remote_count_down_locked(width);
  }
}

std::uint8_t Ne2000::remote_read_byte_locked() {
  Ne2000State& s = state_;
  const std::uint16_t address = s.remote_address;
  std::uint8_t value = kFloatingBus;
  if (address < kPromBytes) {
    value = s.prom[address];
  } else if (in_buffer_memory(address)) {
    value = s.memory[address - kMemoryStart];
  } else {
    ++counters_.bad_programming;
  }
  // The DP8390 wraps the remote address at PSTOP so a driver can read a
  // frame that wraps the ring in one block.
  s.remote_address = static_cast<std::uint16_t>(address + 1);
  if (s.remote_address == page_address(s.page_stop)) {
    s.remote_address = page_address(s.page_start);
  }
  return value;
}

void Ne2000::remote_write_byte_locked(std::uint8_t value) {
  Ne2000State& s = state_;
  const std::uint16_t address = s.remote_address;
  if (in_buffer_memory(address)) {
    s.memory[address - kMemoryStart] = value;
  } else {
    ++counters_.bad_programming;  // the PROM is read-only, the rest unmapped
  }
  s.remote_address = static_cast<std::uint16_t>(address + 1);
  if (s.remote_address == page_address(s.page_stop)) {
    s.remote_address = page_address(s.page_start);
  }
}

void Ne2000::remote_count_down_locked(unsigned width) {
  Ne2000State& s = state_;
  if (s.remote_count > width) {
    s.remote_count = static_cast<std::uint16_t>(s.remote_count - width);
    return;
  }
  s.remote_count = 0;
  s.interrupt_status |= kIsrRdc;
}

// ---- Transmit ----

void Ne2000::transmit_locked(Outbox& outbox) {
  Ne2000State& s = state_;
  const std::size_t start = page_address(s.transmit_page);
  const std::size_t count = s.transmit_count;
  s.local_address = static_cast<std::uint16_t>(start + count);
  // Refuse, as an aborted transmit the driver recovers from, anything that
  // would read outside buffer memory or put a frame no wire carries.
  const bool in_memory = start >= kMemoryStart && start + count <= kMemoryStart + kMemoryBytes;
  if (count == 0 || count > kMaxWireFrameBytes || !in_memory) {
    ++counters_.bad_programming;
    s.transmit_status = kTsrAborted;
    s.interrupt_status |= kIsrTxe;
    return;
  }
  s.transmit_status = kTsrPtx;
  s.interrupt_status |= kIsrPtx;
  if ((s.transmit_config & kTcrLoopbackMask) != 0) return;
  const auto first = s.memory.begin() + static_cast<std::ptrdiff_t>(start - kMemoryStart);
  std::copy(first, first + static_cast<std::ptrdiff_t>(count), outbox.frame.begin());
  outbox.frame_bytes = count;
  outbox.sink = transmit_sink_;
  ++counters_.frames_sent;
}

// ---- Receive ----

bool Ne2000::accepts_locked(std::span<const std::uint8_t> destination) const {
  const Ne2000State& s = state_;
  const bool broadcast =
      std::all_of(destination.begin(), destination.end(), [](std::uint8_t b) { return b == 0xff; });
  if (broadcast) return (s.receive_config & kRcrBroadcast) != 0;
  if ((destination[0] & 1) != 0) {
    if ((s.receive_config & kRcrMulticast) == 0) return false;
    const unsigned index = hw::multicast_hash_index(destination);
    return (s.multicast_filter[index >> 3] & (1u << (index & 7))) != 0;
  }
  if ((s.receive_config & kRcrPromiscuous) != 0) return true;
  return std::equal(destination.begin(), destination.end(), s.physical_address.begin());
}

void Ne2000::count_missed_locked() {
  Ne2000State& s = state_;
  std::uint8_t& missed = s.tally[kMissedTally];
  if (missed < kTallyStick) ++missed;
  if ((missed & kTallyMsb) != 0) s.interrupt_status |= kIsrCnt;
  s.receive_status = kRsrMissed;
  s.interrupt_status |= kIsrRxe;
  ++counters_.frames_dropped;
}

void Ne2000::receive_locked(std::span<const std::uint8_t> wire_frame) {
  Ne2000State& s = state_;
  // No Ethernet wire carries a longer frame; refusing it here is what keeps
  // the length arithmetic below small (the CVE-2018-10839 class).
  if (wire_frame.size() > kMaxWireFrameBytes) {
    ++counters_.frames_dropped;
    return;
  }
  // Host stacks hand over frames without the pad a real wire carries.
  std::array<std::uint8_t, kMaxWireFrameBytes> padded{};
  std::copy(wire_frame.begin(), wire_frame.end(), padded.begin());
  const std::size_t length = std::max(wire_frame.size(), hw::kMinFrameBytes);
  const std::span<const std::uint8_t> frame(padded.data(), length);

  if (!accepts_locked(frame.first(kMacBytes))) return;  // not for this station
  // A stopped receiver, or one listening to its own transmitter, hears
  // nothing; neither counts as a missed packet.
  if (!running(s.command) || (s.transmit_config & kTcrLoopbackMask) != 0) {
    ++counters_.frames_dropped;
    return;
  }
  if ((s.receive_config & kRcrMonitor) != 0) {
    count_missed_locked();
    s.receive_status |= kRsrDisabled;
    return;
  }

  // Only a ring wholly inside buffer memory with CURR on it is written (the
  // real chip would scribble wherever CURR points: CVE-2015-5279); anything
  // else is a driver bug the chip answers with a missed packet.
  const std::optional<unsigned> free_pages = free_ring_pages(s);
  if (!free_pages) {
    ++counters_.bad_programming;
    count_missed_locked();
    return;
  }
  const unsigned start = s.page_start;
  const unsigned stop = s.page_stop;
  const unsigned current = s.current_page;
  const unsigned ring_pages = stop - start;
  // The header counts the frame with its FCS (lib8390 and ed take the same
  // number for header plus frame). The FCS is not written, but its room is
  // kept as on the DP8390, so the next page is where a real chip puts it:
  // lib8390 drops the whole ring when it is one page short, as it would be
  // for frames of 252, 508, ... bytes.
  const std::size_t count = length + kFcsBytes;
  const unsigned needed = pages_for(kRingHeaderBytes + count);
  if (needed >= *free_pages) {
    s.interrupt_status |= kIsrOvw;
    count_missed_locked();
    return;
  }

  unsigned next = current + needed;
  if (next >= stop) next -= ring_pages;
  const bool group = (frame[0] & 1) != 0;
  const std::uint8_t status = static_cast<std::uint8_t>(kRsrPrx | (group ? kRsrGroup : 0));
  const std::array<std::uint8_t, kRingHeaderBytes> header = {
      status, low_byte(next), low_byte(static_cast<unsigned>(count)),
      high_byte(static_cast<unsigned>(count))};

  // Ring offsets stay below ring_pages * kPageBytes, inside memory.
  const std::size_t ring_base = (start - kFirstMemoryPage) * kPageBytes;
  const std::size_t ring_bytes = ring_pages * kPageBytes;
  std::size_t at = (current - start) * kPageBytes;
  auto store = [&](std::uint8_t byte) {
    s.memory[ring_base + at] = byte;
    if (++at == ring_bytes) at = 0;
  };
  for (const std::uint8_t byte : header) store(byte);
  for (const std::uint8_t byte : frame) store(byte);
  at = (at + kFcsBytes) % ring_bytes;  // the local DMA ends past the FCS

  s.local_address = static_cast<std::uint16_t>(kMemoryStart + ring_base + at);
  s.current_page = low_byte(next);
  s.receive_status = status;
  s.interrupt_status |= kIsrPrx;
  ++counters_.frames_received;
}

bool Ne2000::receiving() const {
  std::lock_guard lock(mutex_);
  const Ne2000State& s = state_;
  return running(s.command) && (s.transmit_config & kTcrLoopbackMask) == 0 &&
         (s.receive_config & kRcrMonitor) == 0 && free_ring_pages(s).has_value();
}

bool Ne2000::can_store(std::size_t frame_bytes) const {
  std::lock_guard lock(mutex_);
  const Ne2000State& s = state_;
  if (!running(s.command) || (s.transmit_config & kTcrLoopbackMask) != 0 ||
      (s.receive_config & kRcrMonitor) != 0 || frame_bytes > kMaxWireFrameBytes)
    return false;
  const std::optional<unsigned> free_pages = free_ring_pages(s);
  return free_pages && pages_for(kRingHeaderBytes + std::max(frame_bytes, hw::kMinFrameBytes) +
                                 kFcsBytes) < *free_pages;
}

// ---- Interrupt line and hand-out ----

bool Ne2000::irq_level_locked() const {
  return (state_.interrupt_status & state_.interrupt_mask & kIsrInterruptMask) != 0;
}

void Ne2000::hand_out(Outbox& outbox) {
  if (outbox.frame_bytes != 0 && outbox.sink != nullptr) {
    outbox.sink->deliver(std::span<const std::uint8_t>(outbox.frame.data(), outbox.frame_bytes));
  }
  update_irq_line();
}

// Level changes are reported by whichever thread finds the line stale, one
// thread at a time, and that thread re-checks after each call: so the line
// always ends at the current level, calls never overlap, a line callback
// that re-enters the chip does not deadlock (it finds a notifier running),
// and a fall and rise while it runs are both reported.
void Ne2000::update_irq_line() {
  irq_line_.update(mutex_, [this] { return irq_level_locked(); });
}

}  // namespace vpio::devices

// Unit tests of the RTL8139 chip: the register sequences Linux's 8139too
// uses (probe with its EEPROM read, open, transmit, the receive loop, the
// receive-error recovery), and the bad programming QEMU's rtl8139 has had
// CVEs for (C+ registers, loopback re-entry, lengths past the buffers),
// which the chip must survive, DMA only through its bus.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "devices/rtl8139/rtl8139.hpp"
#include "hw/net/ethernet_crc.hpp"

namespace {

using namespace vpio::hw;
using namespace vpio::devices;
using namespace vpio::devices::rtl8139;
using Bytes = std::vector<std::uint8_t>;

const MacAddress kMac{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};
const MacAddress kPeer{{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef}};
constexpr std::array<std::uint8_t, 6> kBroadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

// 8139too's values (drivers/net/ethernet/realtek/8139too.c, Linux 6.1).
constexpr std::uint32_t kLinuxRcr = 0x0000f78a;  // 32 KiB ring, NoWrap, AB, APM
constexpr std::uint32_t kLinuxTcr = 0x03000680;
constexpr std::uint16_t kLinuxImr = 0xc07f;
constexpr std::uint32_t kLinuxTxFlag = 0x00080000;  // early threshold 256 bytes
constexpr std::uint32_t kRingBytes = 32768;
constexpr std::uint32_t kSlotBytes = 1792;

// Guest memory as the chip's bus sees it: one range at `base`; anything
// else faults. It records every DMA so tests can check where the chip went.
struct FlatBus final : DmaBus {
  FlatBus(std::uint64_t base_address, std::size_t bytes) : base(base_address), memory(bytes) {}
  bool inside(std::uint64_t address, std::size_t bytes) const {
    return address >= base && address - base <= memory.size() &&
           bytes <= memory.size() - (address - base);
  }
  bool dma_read(std::uint64_t address, std::span<std::uint8_t> out) override {
    ++reads;
    if (!inside(address, out.size())) return ++faults, false;
    std::copy_n(memory.begin() + static_cast<std::ptrdiff_t>(address - base), out.size(),
                out.begin());
    return true;
  }
  bool dma_write(std::uint64_t address, std::span<const std::uint8_t> in) override {
    ++writes;
    if (!inside(address, in.size())) return ++faults, false;
    std::copy(in.begin(), in.end(), memory.begin() + static_cast<std::ptrdiff_t>(address - base));
    return true;
  }
  std::uint8_t* at(std::uint64_t address) { return memory.data() + (address - base); }
  std::uint64_t base;
  Bytes memory;
  unsigned reads = 0, writes = 0, faults = 0;
};

struct RecordingSink final : FrameSink {
  void deliver(std::span<const std::uint8_t> frame) override {
    frames.emplace_back(frame.begin(), frame.end());
  }
  std::vector<Bytes> frames;
};

Bytes make_frame(const std::array<std::uint8_t, 6>& destination, const MacAddress& source,
                 std::size_t length, std::uint8_t seed) {
  Bytes frame(length);
  for (std::size_t i = 0; i < length; ++i) frame[i] = static_cast<std::uint8_t>(seed + i * 7);
  std::copy(destination.begin(), destination.end(), frame.begin());
  std::copy(source.bytes.begin(), source.bytes.end(), frame.begin() + 6);
  return frame;
}

// A driver shaped after 8139too: its buffers in the bus's memory at fixed
// addresses, its sequences register by register.
class LinuxDriver {
 public:
  static constexpr std::uint64_t kRam = 0x100000;
  static constexpr std::uint64_t kTxBufs = kRam;
  static constexpr std::uint64_t kRxRing = kRam + 0x2000;

  LinuxDriver() : bus(kRam, 0x12000), chip(kMac) {
    chip.set_dma_bus(&bus);
    chip.set_transmit_sink(&sink);
    chip.set_irq_line([this](bool asserted) {
      if (asserted && !line) ++rises;
      line = asserted;
    });
  }

  std::uint16_t read_eeprom(unsigned location, unsigned address_bits) {
    constexpr std::uint8_t kEnable = kCfg9346Program | kEepromSelect;
    const unsigned command = location | (6u << address_bits);
    chip.write(kCfg9346, 1, kEnable & ~kEepromSelect);
    chip.write(kCfg9346, 1, kEnable);
    for (int bit = static_cast<int>(4 + address_bits); bit >= 0; --bit) {
      const std::uint8_t data = (command & (1u << bit)) != 0 ? kEepromDataIn : 0;
      chip.write(kCfg9346, 1, kEnable | data);
      chip.write(kCfg9346, 1, kEnable | data | kEepromClock);
    }
    chip.write(kCfg9346, 1, kEnable);
    unsigned value = 0;
    for (int i = 16; i > 0; --i) {
      chip.write(kCfg9346, 1, kEnable | kEepromClock);
      value = (value << 1) | (chip.read(kCfg9346, 1) & kEepromDataOut);
      chip.write(kCfg9346, 1, kEnable);
    }
    chip.write(kCfg9346, 1, 0);
    return static_cast<std::uint16_t>(value);
  }

  void reset() {
    chip.write(kCr, 1, kCrReset);
    for (int i = 0; i < 1000 && (chip.read(kCr, 1) & kCrReset) != 0; ++i) {
    }
  }

  // rtl8139_hw_start.
  void open() {
    reset();
    chip.write(kCfg9346, 1, kCfg9346ConfigWrite);
    chip.write(kIdr0, 4,
               kMac.bytes[0] | kMac.bytes[1] << 8 | kMac.bytes[2] << 16 |
                   static_cast<std::uint32_t>(kMac.bytes[3]) << 24);
    chip.write(kIdr0 + 4, 4, kMac.bytes[4] | kMac.bytes[5] << 8);
    chip.write(kRbstart, 4, static_cast<std::uint32_t>(kRxRing));
    chip.write(kCr, 1, kCrReceiveEnable | kCrTransmitEnable);
    chip.write(kRcr, 4, kLinuxRcr);
    chip.write(kTcr, 4, kLinuxTcr);
    chip.write(kConfig3, 1, chip.read(kConfig3, 1) & ~0x20u);
    chip.write(kCfg9346, 1, kCfg9346Normal);
    for (unsigned slot = 0; slot < kTxSlots; ++slot)
      chip.write(static_cast<std::uint16_t>(kTsad0 + 4 * slot), 4,
                 static_cast<std::uint32_t>(kTxBufs + slot * kSlotBytes));
    chip.write(kMpc, 4, 0);
    chip.write(kMulint, 2, chip.read(kMulint, 2) & 0xf000);
    chip.write(kImr, 2, kLinuxImr);
    cur_tx = dirty_tx = 0;
    cur_rx = 0;
  }

  // rtl8139_start_xmit: the frame into its slot's buffer, then one dword.
  void transmit(const Bytes& frame) {
    const unsigned entry = cur_tx % kTxSlots;
    std::copy(frame.begin(), frame.end(), bus.at(kTxBufs + entry * kSlotBytes));
    const auto length = static_cast<std::uint32_t>(std::max<std::size_t>(frame.size(), 60));
    chip.write(static_cast<std::uint16_t>(kTsd0 + 4 * entry), 4, kLinuxTxFlag | length);
    ++cur_tx;
  }

  // rtl8139_tx_interrupt: reap slots the chip is done with.
  unsigned reap() {
    unsigned reaped = 0;
    while (dirty_tx != cur_tx) {
      const std::uint32_t status =
          chip.read(static_cast<std::uint16_t>(kTsd0 + 4 * (dirty_tx % kTxSlots)), 4);
      if ((status & (kTsdOk | kTsdUnderrun | kTsdAborted)) == 0) break;
      ++dirty_tx, ++reaped;
    }
    return reaped;
  }

  // rtl8139_rx: frames while the ring is not empty, CAPR after each.
  std::vector<Bytes> receive() {
    std::vector<Bytes> frames;
    while ((chip.read(kCr, 1) & kCrBufferEmpty) == 0 && frames.size() < 64) {
      const std::uint32_t offset = cur_rx % kRingBytes;
      std::uint32_t header;
      std::copy_n(bus.at(kRxRing + offset), 4, reinterpret_cast<std::uint8_t*>(&header));
      const std::uint32_t size = header >> 16;
      if ((header & kRxStatusOk) == 0 || size < 8 || size > kSlotBytes + 4) {
        ADD_FAILURE() << "bad receive header " << std::hex << header << " at " << offset;
        break;
      }
      const std::uint8_t* data = bus.at(kRxRing + offset + 4);
      frames.emplace_back(data, data + size - 4);
      fcs.push_back(static_cast<std::uint32_t>(data[size - 4] | data[size - 3] << 8 |
                                               data[size - 2] << 16 |
                                               static_cast<std::uint32_t>(data[size - 1]) << 24));
      cur_rx = (cur_rx + size + 4 + 3) & ~3u;
      chip.write(kCapr, 2, static_cast<std::uint16_t>(cur_rx - 16));
      if ((chip.read(kIsr, 2) & (kIntRxOk | kIntRxOverflow | kIntRxFifoOverflow)) != 0)
        chip.write(kIsr, 2, kIntRxOk | kIntRxOverflow | kIntRxFifoOverflow);
    }
    return frames;
  }

  FlatBus bus;
  RecordingSink sink;
  Rtl8139 chip;
  bool line = false;
  unsigned rises = 0;  // edges the line made
  unsigned cur_tx = 0, dirty_tx = 0;
  std::uint32_t cur_rx = 0;
  std::vector<std::uint32_t> fcs;
};

TEST(Rtl8139, ProbeFindsAnRtl8139cWithItsMacInTheEeprom) {
  LinuxDriver d;
  d.chip.write(kHltClk, 1, 'R');
  const std::uint32_t tcr = d.chip.read(kTcr, 4);
  EXPECT_NE(tcr, 0xffffffffu);
  EXPECT_EQ(tcr & 0x7cc00000u, 0x74000000u);  // 8139too's "RTL-8139C"
  EXPECT_EQ(d.chip.read(kRerid, 1), 0x10u);   // below 0x20: not left to 8139cp
  d.reset();
  EXPECT_EQ(d.chip.read(kCr, 1) & kCrReset, 0u);
  // 8139too reads word 0 with 8 address bits and keeps that width when the
  // word is 0x8129, then the MAC from words 7-9.
  ASSERT_EQ(d.read_eeprom(0, 8), 0x8129);
  Bytes mac;
  for (unsigned word = 7; word < 10; ++word) {
    const std::uint16_t value = d.read_eeprom(word, 8);
    mac.push_back(static_cast<std::uint8_t>(value));
    mac.push_back(static_cast<std::uint8_t>(value >> 8));
  }
  EXPECT_EQ(mac, Bytes(kMac.bytes.begin(), kMac.bytes.end()));
  EXPECT_EQ(d.chip.read(kCfg9346, 1), 0u);
  EXPECT_EQ(d.chip.read(kBmsr, 2) & 0x0004u, 0x0004u);  // link up
  EXPECT_EQ(d.chip.counters().bad_programming, 0u);
}

TEST(Rtl8139, TransmitsFromEachSlotInTurnAndInterrupts) {
  LinuxDriver d;
  d.open();
  EXPECT_FALSE(d.line);
  std::vector<Bytes> sent;
  for (unsigned i = 0; i < 10; ++i) {
    sent.push_back(make_frame(kBroadcast, kMac, 60 + 97 * i, static_cast<std::uint8_t>(i)));
    d.transmit(sent.back());
    EXPECT_TRUE(d.line);
    const std::uint32_t status = d.chip.read(static_cast<std::uint16_t>(kTsd0 + 4 * (i % 4)), 4);
    EXPECT_EQ(status & (kTsdOwn | kTsdOk), kTsdOwn | kTsdOk);
    EXPECT_EQ(status & kTsdSizeMask, sent.back().size());
    EXPECT_EQ(d.reap(), 1u);
    d.chip.write(kIsr, 2, kIntTxOk);
    EXPECT_FALSE(d.line);
  }
  EXPECT_EQ(d.sink.frames, sent);
  EXPECT_EQ(d.chip.counters().frames_sent, 10u);
  EXPECT_EQ(d.chip.counters().bad_programming, 0u);
}

// 8139too's handler reads ISR once, handles it, acknowledges what it read
// and returns: a cause that came after the read keeps a PCI line asserted,
// and the controller interrupts again after the EOI. vpio's lines are
// edges, so such an acknowledgement makes one: a frame received while the
// handler reaped a transmit is not left waiting for the next interrupt.
TEST(Rtl8139, AnAcknowledgementThatLeavesACauseMakesANewEdge) {
  LinuxDriver d;
  d.open();
  d.transmit(make_frame(kBroadcast, kMac, 100, 1));
  EXPECT_EQ(d.rises, 1u);
  const std::uint32_t status = d.chip.read(kIsr, 2);  // the handler's one read
  EXPECT_EQ(status, kIntTxOk);
  d.chip.deliver(make_frame(kMac.bytes, kPeer, 80, 2));  // meanwhile, a frame
  EXPECT_EQ(d.reap(), 1u);
  d.chip.write(kIsr, 2, status);  // acknowledges the transmit only
  EXPECT_TRUE(d.line);
  EXPECT_EQ(d.rises, 2u);
  EXPECT_EQ(d.receive().size(), 1u);
  EXPECT_FALSE(d.line);
  // Acknowledging the last cause leaves the line low: no edge.
  EXPECT_EQ(d.rises, 2u);
}

TEST(Rtl8139, SlotsWaitForTheTransmitterAndGoInOrder) {
  LinuxDriver d;
  d.open();
  d.chip.write(kCr, 1, kCrReceiveEnable);  // transmitter off
  const Bytes a = make_frame(kBroadcast, kMac, 100, 1), b = make_frame(kBroadcast, kMac, 200, 2);
  d.transmit(a);
  d.transmit(b);
  EXPECT_TRUE(d.sink.frames.empty());
  EXPECT_EQ(d.chip.read(kTsadSummary, 2) & 0x3u, 0u);  // slots 0, 1 still the chip's to read
  d.chip.write(kCr, 1, kCrReceiveEnable | kCrTransmitEnable);
  EXPECT_EQ(d.sink.frames, (std::vector<Bytes>{a, b}));
  EXPECT_EQ(d.chip.read(kTsadSummary, 2) & 0x3003u, 0x3003u);  // OWN and TOK of both
}

TEST(Rtl8139, ReceivesIntoTheRingAsEightOneThreeNineTooReadsIt) {
  LinuxDriver d;
  d.open();
  EXPECT_EQ(d.chip.read(kCapr, 2), 0xfff0u);
  EXPECT_NE(d.chip.read(kCr, 1) & kCrBufferEmpty, 0u);
  std::vector<Bytes> heard;
  // Enough frames to go round the 32 KiB ring several times; NoWrap is on,
  // so frames at the end run on past it, into 8139too's padding.
  for (unsigned round = 0; round < 40; ++round) {
    std::vector<Bytes> batch;
    for (unsigned i = 0; i < 5; ++i) {
      batch.push_back(make_frame(kMac.bytes, kPeer, 60 + (round * 131 + i * 251) % 1455,
                                 static_cast<std::uint8_t>(round + i)));
      d.chip.deliver(batch.back());
    }
    EXPECT_TRUE(d.line);
    const std::vector<Bytes> got = d.receive();
    EXPECT_EQ(got, batch) << "round " << round;
    heard.insert(heard.end(), batch.begin(), batch.end());
  }
  ASSERT_EQ(d.fcs.size(), heard.size());
  for (std::size_t i = 0; i < heard.size(); ++i) EXPECT_EQ(d.fcs[i], ethernet_fcs(heard[i]));
  EXPECT_EQ(d.chip.counters().frames_received, heard.size());
  EXPECT_EQ(d.chip.counters().frames_dropped, 0u);
  EXPECT_EQ(d.bus.faults, 0u);
  EXPECT_FALSE(d.line);
}

// The room a frame takes in the ring: header, frame, FCS, to a dword.
std::uint32_t ring_room(std::size_t frame_bytes) {
  return static_cast<std::uint32_t>((4 + frame_bytes + 4 + 3) & ~std::size_t{3});
}

TEST(Rtl8139, WithoutNoWrapAFrameAtTheEndContinuesAtTheStart) {
  LinuxDriver d;
  d.open();
  d.chip.write(kRcr, 4, kLinuxRcr & ~kRcrNoWrap & ~kRcrRingMask);  // 8 KiB, wrapping
  const Bytes filler = make_frame(kMac.bytes, kPeer, 1500, 9);
  for (int i = 0; i < 5; ++i) d.chip.deliver(filler);
  const std::uint32_t at = 5 * ring_room(filler.size());
  ASSERT_EQ(d.chip.read(kCbr, 2), at);
  d.chip.write(kCapr, 2, at - 16);  // the driver has read them all
  const Bytes wrapped = make_frame(kMac.bytes, kPeer, 1200, 3);
  d.chip.deliver(wrapped);
  const std::uint64_t ring = LinuxDriver::kRxRing;
  const std::uint32_t first = 8192 - at;
  Bytes stored(d.bus.at(ring + at), d.bus.at(ring + 8192));
  stored.insert(stored.end(), d.bus.at(ring), d.bus.at(ring + (4 + wrapped.size() + 4 - first)));
  EXPECT_EQ(
      Bytes(stored.begin() + 4, stored.begin() + 4 + static_cast<std::ptrdiff_t>(wrapped.size())),
      wrapped);
  EXPECT_EQ(d.chip.read(kCbr, 2), (at + ring_room(wrapped.size())) % 8192);
  EXPECT_EQ(*d.bus.at(ring + 8192), 0u);  // nothing past the ring's end
}

TEST(Rtl8139, AFullRingMissesFramesAndSaysSo) {
  LinuxDriver d;
  d.open();
  const Bytes frame = make_frame(kMac.bytes, kPeer, 1500, 1);
  unsigned stored = 0;
  for (int i = 0; i < 40; ++i) {
    const bool fits = d.chip.can_store(frame.size());
    d.chip.deliver(frame);
    if (fits) ++stored;
  }
  EXPECT_EQ(stored, 21u);  // 21 rooms of 1508 bytes fit in 32 KiB, a 22nd does not
  EXPECT_EQ(d.chip.counters().frames_received, stored);
  EXPECT_EQ(d.chip.read(kMpc, 4), 40u - stored);
  EXPECT_NE(d.chip.read(kIsr, 2) & kIntRxOverflow, 0u);
  EXPECT_EQ(d.receive().size(), stored);
  d.chip.deliver(frame);
  EXPECT_EQ(d.receive().size(), 1u);
}

// A monitor that holds a frame back for a full ring tells the driver as the
// ring would: RxOverflow, an interrupt, while the receiver is on; nothing is
// counted missed (the frame waits). With the receiver off, nothing.
TEST(Rtl8139, AFrameHeldBackForAFullRingIsAnOverflowInterrupt) {
  LinuxDriver d;
  d.open();
  d.chip.ring_overflowed();
  EXPECT_EQ(d.chip.read(kIsr, 2), kIntRxOverflow);
  EXPECT_TRUE(d.line);
  EXPECT_EQ(d.rises, 1u);
  EXPECT_EQ(d.chip.read(kMpc, 4), 0u);
  d.chip.write(kIsr, 2, kIntRxOverflow);
  EXPECT_FALSE(d.line);
  d.chip.write(kCr, 1, kCrTransmitEnable);  // receiver off
  d.chip.ring_overflowed();
  EXPECT_EQ(d.chip.read(kIsr, 2), 0u);
  EXPECT_EQ(d.rises, 1u);
}

TEST(Rtl8139, FiltersByAddressAsProgrammed) {
  LinuxDriver d;
  d.open();
  d.chip.deliver(make_frame(kPeer.bytes, kMac, 100, 1));  // someone else's
  d.chip.deliver(make_frame(kBroadcast, kPeer, 100, 2));
  const std::array<std::uint8_t, 6> group{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
  d.chip.deliver(make_frame(group, kPeer, 100, 3));  // multicast, AM off
  std::vector<Bytes> got = d.receive();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0][0], 0xff);
  // __set_rx_mode for one group: AM and the group's hash bit.
  const unsigned index = multicast_hash_index(group);
  d.chip.write(kRcr, 4, kLinuxRcr | kRcrAcceptMulticast);
  d.chip.write(static_cast<std::uint16_t>(kMar0 + (index >> 5) * 4), 4, 1u << (index & 31));
  d.chip.deliver(make_frame(group, kPeer, 100, 4));
  got = d.receive();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0][0], 0x01);
}

TEST(Rtl8139, ReceiveErrorRecoveryStartsTheRingOver) {
  LinuxDriver d;
  d.open();
  d.chip.deliver(make_frame(kMac.bytes, kPeer, 300, 1));
  ASSERT_NE(d.chip.read(kCbr, 2), 0u);
  // rtl8139_rx_err: RE off and on again, RCR rewritten, cur_rx = 0.
  const std::uint8_t command = static_cast<std::uint8_t>(d.chip.read(kCr, 1));
  d.chip.write(kCr, 1, command & ~kCrReceiveEnable);
  d.chip.write(kCr, 1, command);
  d.chip.write(kRcr, 4, kLinuxRcr);
  d.cur_rx = 0;
  EXPECT_EQ(d.chip.read(kCbr, 2), 0u);
  const Bytes frame = make_frame(kMac.bytes, kPeer, 200, 2);
  d.chip.deliver(frame);
  EXPECT_EQ(d.receive(), std::vector<Bytes>{frame});
}

TEST(Rtl8139, MemoryBarAndPortsReachTheSameRegisters) {
  LinuxDriver d;
  d.chip.mmio_write(kTsad0, 8, 0x1111222233334444ull);
  EXPECT_EQ(d.chip.read(kTsad0, 4), 0x33334444u);
  EXPECT_EQ(d.chip.read(kTsad0 + 4, 4), 0x11112222u);
  EXPECT_EQ(d.chip.mmio_read(kIdr0, 4), d.chip.read(kIdr0, 4));
  EXPECT_EQ(d.chip.mmio_bytes(), kWindowBytes);
  EXPECT_EQ(d.chip.mmio_read(kWindowBytes, 4), 0xffffffffu);
  EXPECT_EQ(d.chip.counters().bad_programming, 1u);
}

TEST(Rtl8139, SaveAndRestoreCarryEverything) {
  LinuxDriver d;
  d.open();
  d.transmit(make_frame(kBroadcast, kMac, 80, 1));
  d.chip.deliver(make_frame(kMac.bytes, kPeer, 90, 2));
  const Rtl8139State saved = d.chip.save();
  Rtl8139 other(kPeer);
  other.restore(saved);
  EXPECT_EQ(other.save(), saved);
  for (unsigned offset = 0; offset < kWindowBytes; offset += 4)
    EXPECT_EQ(other.read(static_cast<std::uint16_t>(offset), 4),
              d.chip.read(static_cast<std::uint16_t>(offset), 4))
        << "offset " << offset;
}

// ---- Bad programming ----

TEST(Rtl8139, ASlotLongerThanTheFifoIsAbortedNotSent) {
  LinuxDriver d;
  d.open();
  d.chip.write(kTsd0, 4, kTsdSizeMask);  // 8191 bytes: QEMU read them into an 8 KiB buffer
  EXPECT_TRUE(d.sink.frames.empty());
  EXPECT_EQ(d.bus.reads, 0u);
  const std::uint32_t status = d.chip.read(kTsd0, 4);
  EXPECT_EQ(status & (kTsdOwn | kTsdAborted | kTsdOk), kTsdOwn | kTsdAborted);
  EXPECT_NE(d.chip.read(kIsr, 2) & kIntTxError, 0u);
  EXPECT_EQ(d.chip.counters().bad_programming, 1u);
  // The next slot still works.
  d.transmit(make_frame(kBroadcast, kMac, 60, 1));
  d.cur_tx = 1;
  d.transmit(make_frame(kBroadcast, kMac, 70, 2));
  EXPECT_EQ(d.sink.frames.size(), 1u);
}

TEST(Rtl8139, DmaTheBusRefusesIsASystemErrorAndTouchesNothing) {
  LinuxDriver d;
  d.open();
  d.chip.write(kTsad0, 4, 0x10);  // below the bus's memory
  d.chip.write(kTsd0, 4, 100);
  EXPECT_TRUE(d.sink.frames.empty());
  EXPECT_EQ(d.chip.read(kTsd0, 4) & kTsdAborted, kTsdAborted);
  EXPECT_NE(d.chip.read(kIsr, 2) & kIntSystemError, 0u);
  d.chip.write(kTsad0 + 4, 4,
               static_cast<std::uint32_t>(LinuxDriver::kRam + 0x12000 - 50));  // runs off the end
  d.chip.write(kTsd0 + 4, 4, 100);
  EXPECT_TRUE(d.sink.frames.empty());
  // A ring the bus refuses, and one whose end would carry past 4 GiB.
  d.chip.write(kRbstart, 4, 0xfffff000u);
  d.chip.deliver(make_frame(kMac.bytes, kPeer, 1000, 1));
  d.chip.write(kRbstart, 4, 0x20);
  d.chip.deliver(make_frame(kMac.bytes, kPeer, 1000, 1));
  EXPECT_EQ(d.chip.counters().frames_received, 0u);
  EXPECT_EQ(d.chip.counters().frames_dropped, 2u);
  EXPECT_EQ(d.chip.read(kCbr, 2), 0u);
  EXPECT_EQ(d.chip.counters().bad_programming, 4u);
}

TEST(Rtl8139, CPlusModeIsRefusedAndTheSlotsStayClassic) {
  LinuxDriver d;
  d.open();
  d.chip.write(kCpcr, 2, 0x0001);  // CpTxOn: QEMU's card would now take TSD as DTCCR
  d.chip.write(kTppoll, 1, 0x40);
  d.chip.write(kCpcr + 4, 4, 0x1000);  // RDSAR
  EXPECT_EQ(d.chip.read(kCpcr, 2), 0u);
  EXPECT_EQ(d.chip.counters().bad_programming, 3u);
  const Bytes frame = make_frame(kBroadcast, kMac, 64, 1);
  d.transmit(frame);
  EXPECT_EQ(d.sink.frames, std::vector<Bytes>{frame});
}

TEST(Rtl8139, HalfADmaRegisterCannotBeWritten) {
  LinuxDriver d;
  d.open();
  const std::uint32_t tsad = d.chip.read(kTsad0, 4);
  d.chip.write(kTsad0 + 2, 2, 0xdead);
  d.chip.write(kRbstart, 1, 0x77);
  d.chip.write(kTsd0, 2, 100);  // would hand the slot over by halves
  EXPECT_EQ(d.chip.read(kTsad0, 4), tsad);
  EXPECT_EQ(d.chip.read(kRbstart, 4), LinuxDriver::kRxRing);
  EXPECT_TRUE(d.sink.frames.empty());
  EXPECT_EQ(d.chip.counters().bad_programming, 3u);
}

TEST(Rtl8139, LoopbackReceivesItsOwnFrameWithoutCallingOut) {
  LinuxDriver d;
  d.open();
  d.chip.write(kTcr, 4, kLinuxTcr | kTcrLoopback);
  const Bytes frame = make_frame(kMac.bytes, kMac, 120, 5);
  d.transmit(frame);
  EXPECT_TRUE(d.sink.frames.empty());
  EXPECT_EQ(d.receive(), std::vector<Bytes>{frame});
}

TEST(Rtl8139, ConfigurationRegistersNeedTheUnlock) {
  LinuxDriver d;
  const std::uint32_t config3 = d.chip.read(kConfig3, 1);
  d.chip.write(kConfig3, 1, 0xff);
  EXPECT_EQ(d.chip.read(kConfig3, 1), config3);
  d.chip.write(kCfg9346, 1, kCfg9346ConfigWrite);
  d.chip.write(kConfig3, 1, 0x20);
  EXPECT_EQ(d.chip.read(kConfig3, 1), 0x20u);
  // IOMAP and MEMMAP are read-only: the BARs cannot be switched off.
  d.chip.write(kConfig1, 1, 0x00);
  EXPECT_EQ(d.chip.read(kConfig1, 1) & 0x0cu, 0x0cu);
  d.chip.write(kCfg9346, 1, kCfg9346Normal);
  EXPECT_EQ(d.chip.counters().bad_programming, 0u);
}

TEST(Rtl8139, RandomProgrammingNeverLeavesTheBus) {
  // Every DMA goes through the bus, which refuses what is outside its one
  // range; the chip survives whatever is written, in any order.
  std::mt19937 random(8139);
  LinuxDriver d;
  d.open();
  for (int i = 0; i < 200000; ++i) {
    const auto offset = static_cast<std::uint16_t>(random() % kWindowBytes);
    const unsigned size = 1u << (random() % 3);
    const auto kind = static_cast<std::uint32_t>(random() % 10);
    if (kind < 6) {
      std::uint32_t value = static_cast<std::uint32_t>(random());
      // Keep addresses near the bus's memory half the time, so DMA happens.
      if ((offset & ~0x1fu) == kTsad0 || offset == kRbstart) {
        if (random() % 2 == 0)
          value = static_cast<std::uint32_t>(LinuxDriver::kRam + value % 0x14000);
      }
      d.chip.write(offset, size, value);
    } else if (kind < 9) {
      (void)d.chip.read(offset, size);
    } else {
      d.chip.deliver(make_frame(random() % 2 ? kMac.bytes : kBroadcast, kPeer, 14 + random() % 1800,
                                static_cast<std::uint8_t>(i)));
    }
  }
  EXPECT_GT(d.bus.reads + d.bus.writes, 0u);
  for (const Bytes& frame : d.sink.frames) EXPECT_LE(frame.size(), kMaxTransmitBytes);
}

}  // namespace

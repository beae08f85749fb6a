// iPXE's ns8390 driver as built for an NE2000 (INCLUDE_NE, or
// INCLUDE_NS8390 for the PCI clones), replayed port access by port access
// from its source (src/drivers/net/ns8390.c, ns8390.h): each method mirrors
// the function it is named after, in its order of accesses, values and
// widths. Left out: the WD/SMC and 3c503 paths, timer ticks, and delays at
// ports of no card; a printf warning is a complaint().
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tests/support/stock_drivers/port_io.hpp"

namespace vpio::testing_support {

// src/drivers/net/ns8390.c, built for an NE2000 (INCLUDE_NE, or
// INCLUDE_NS8390 for the PCI clones): programmed I/O, one transmit buffer.
class IpxeNs8390 final : public PortIo {
 public:
  // ns8390.h
  static constexpr unsigned kNeAsicOffset = 0x10, kNeData = 0x00, kNeReset = 0x0f;
  static constexpr std::uint8_t kTxbufSize = 6;  // D8390_TXBUF_SIZE
  static constexpr std::uint8_t kMem8192 = 32, kMem16384 = 64, kMem32768 = 128;
  static constexpr std::uint8_t kDcrFt1 = 0x40, kDcrLs = kDcrNormal, kDcrWts = kDcrWordTransfer;
  static constexpr std::uint8_t kRd2 = kCrNoDma, kRd0 = kCrRemoteRead, kRd1 = kCrRemoteWrite;
  static constexpr std::uint8_t kPs0 = kCrPage0, kPs1 = kCrPage1;
  static constexpr std::uint8_t kRstatPrx = 0x01;  // D8390_RSTAT_PRX
  static constexpr std::size_t kEthFrameLen = 1514, kEthHlen = 14;

  explicit IpxeNs8390(PassthroughWindow& window) : PortIo(window) {}

  // ns8390.c:eth_probe, its NE path for one address (a PCI clone's BAR):
  // a reset, the NE1000 memory test in byte mode at 8 KiB, the NE2000's in
  // word mode at 16 KiB, the PROM, then ns8390_reset.
  bool eth_probe(bool pci) {
    flags_16bit_ = false;
    eth_memsize_ = kMem16384;
    eth_tx_start_ = 32;
    eth_rx_start_ = static_cast<std::uint8_t>(32 + kTxbufSize);
    const std::uint8_t c = inb(kNeAsicOffset + kNeReset);
    outb(c, kNeAsicOffset + kNeReset);
    // inb(0x84): a delay, at a port of no card
    outb(kCrStop | kRd2, kCr);
    outb(kRcrMonitor, kRcr);
    outb(kDcrFt1 | kDcrLs, kDcr);
    outb(kMem8192, kPstart);
    outb(kMem16384, kPstop);
    const Bytes test = test_pattern();
    Bytes testbuf(test.size());
    eth_pio_write(test, 8192);
    eth_pio_read(8192, testbuf);
    if (testbuf != test) {
      flags_16bit_ = true;
      eth_memsize_ = kMem32768;
      eth_tx_start_ = 64;
      eth_rx_start_ = static_cast<std::uint8_t>(64 + kTxbufSize);
      outb(kDcrWts | kDcrFt1 | kDcrLs, kDcr);
      outb(kMem16384, kPstart);
      outb(kMem32768, kPstop);
      eth_pio_write(test, 16384);
      eth_pio_read(16384, testbuf);
      if (testbuf != test) return false;
    } else {
      complain("found an NE1000");
    }
    if (pci) flags_16bit_ = true;  // eth_nic_base > ISA_MAX_ADDR
    Bytes romdata(16);
    eth_pio_read(0, romdata);
    for (unsigned i = 0; i < kMacBytes; ++i) node_addr_[i] = romdata[i + (flags_16bit_ ? i : 0)];
    ns8390_reset();
    return true;
  }

  // ns8390.c:ns8390_reset (also ns8390_disable).
  void ns8390_reset() {
    eth_drain_receiver_ = false;
    outb(kPs0 | kRd2 | kCrStop, kCr);
    outb(flags_16bit_ ? kDcrWts | kDcrFt1 | kDcrLs : kDcrFt1 | kDcrLs, kDcr);
    outb(0, kRbcr0);
    outb(0, kRbcr1);
    outb(kRcrMonitor, kRcr);
    outb(kTcrInternalLoopback, kTcr);
    outb(eth_tx_start_, kTpsr);
    outb(eth_rx_start_, kPstart);
    outb(eth_memsize_, kPstop);
    outb(eth_memsize_ - 1u, kBnry);
    outb(0xff, kIsr);
    outb(0, kImr);
    outb(kPs1 | kRd2 | kCrStop, kCr);
    for (unsigned i = 0; i < kMacBytes; ++i) outb(node_addr_[i], kPar0 + i);
    for (unsigned i = 0; i < kMacBytes; ++i) outb(0xff, kMar0 + i);
    outb(eth_rx_start_, kCurr);
    outb(kPs0 | kRd2 | kCrStart, kCr);
    outb(0xff, kIsr);
    outb(0, kTcr);
    outb(kRcrBroadcast, kRcr);
    enable_multicast();
  }

  // ns8390.c:ns8390_transmit: destination, source, type and data each by a
  // remote write of its own, then the transmit; no wait for it.
  void ns8390_transmit(const Mac& d, std::uint16_t t, const Bytes& p) {
    const std::array<std::uint8_t, 2> type = {static_cast<std::uint8_t>(t >> 8),
                                              static_cast<std::uint8_t>(t & 0xff)};
    const unsigned tx = unsigned{eth_tx_start_} << 8;
    eth_pio_write(Bytes(d.begin(), d.end()), tx);
    eth_pio_write(Bytes(node_addr_.begin(), node_addr_.end()), tx + kMacBytes);
    eth_pio_write(Bytes(type.begin(), type.end()), tx + 2 * kMacBytes);
    eth_pio_write(p, tx + kEthHlen);
    std::size_t s = p.size() + kEthHlen;
    if (s < kEthZlen) s = kEthZlen;
    outb(kPs0 | kRd2 | kCrStart, kCr);
    outb(eth_tx_start_, kTpsr);
    outb(s & 0xff, kTbcr0);
    outb(s >> 8, kTbcr1);
    outb(kPs0 | kCrTransmit | kRd2 | kCrStart, kCr);
  }

  // ns8390.c:ns8390_poll with retrieve set: one frame, or nothing.
  std::optional<Bytes> ns8390_poll() {
    if (!eth_drain_receiver_ && (inb(kIsr) & kIsrOvw) != 0) {
      eth_rx_overrun();
      return std::nullopt;
    }
    const std::uint8_t rstat = inb(kRsr);
    if ((rstat & kRstatPrx) == 0) return std::nullopt;
    std::uint8_t next = static_cast<std::uint8_t>(inb(kBnry) + 1);
    if (next >= eth_memsize_) next = eth_rx_start_;
    outb(kPs1, kCr);
    std::uint8_t curr = inb(kCurr);
    outb(kPs0, kCr);
    if (curr >= eth_memsize_) curr = eth_rx_start_;
    if (curr == next) return std::nullopt;
    unsigned pktoff = unsigned{next} << 8;
    Bytes pkthdr(4);
    eth_pio_read(pktoff, pkthdr);
    pktoff += 4;
    const std::size_t len = le16(std::span(pkthdr).subspan(2)) - 4u;  // the FCS
    if ((pkthdr[0] & kRstatPrx) == 0 || len < kEthZlen || len > kEthFrameLen) {
      complain("Bogus packet, ignoring");
      return std::nullopt;
    }
    Bytes packet(len);
    std::size_t at = 0, left = len;
    const std::size_t frag = (unsigned{eth_memsize_} << 8) - pktoff;
    if (left > frag) {
      eth_pio_read(pktoff, std::span(packet).first(frag));
      pktoff = unsigned{eth_rx_start_} << 8;
      at = frag;
      left -= frag;
    }
    eth_pio_read(pktoff, std::span(packet).subspan(at, left));
    next = pkthdr[1];
    if (next == eth_rx_start_) next = eth_memsize_;
    outb(next - 1u, kBnry);
    return packet;
  }

  // ns8390.c:eth_rx_overrun: stop, clear the count, restart in loopback,
  // empty the ring (the transmit routine waits for its frame, so none is
  // resent).
  void eth_rx_overrun() {
    outb(kPs0 | kRd2 | kCrStop, kCr);
    // wait one timer tick (at least 1.6 ms)
    outb(0, kRbcr0);
    outb(0, kRbcr1);
    outb(kTcrInternalLoopback, kTcr);
    outb(kPs0 | kRd2 | kCrStart, kCr);
    eth_drain_receiver_ = true;
    while (auto frame = ns8390_poll()) received_.push_back(std::move(*frame));
    eth_drain_receiver_ = false;
    outb(kIsrOvw, kIsr);
    outb(0, kTcr);
  }

  // Every frame ns8390_poll has for the caller now.
  void poll_all() {
    while (auto frame = ns8390_poll()) received_.push_back(std::move(*frame));
  }

  const Mac& node_addr() const { return node_addr_; }
  const std::vector<Bytes>& received() const { return received_; }

 private:
  static Bytes test_pattern() {  // static unsigned char test[] = "NE*000 memory"
    const std::string text = "NE*000 memory";
    Bytes bytes(text.begin(), text.end());
    bytes.push_back(0);
    return bytes;
  }

  // ns8390.c:enable_multicast: every group, the filter read back.
  void enable_multicast() {
    outb(kRcrBroadcast, kRcr);
    outb(kRd2 + kPs1, kCr);
    for (unsigned i = 0; i < 8; ++i) {
      outb(0xff, kMar0 + i);
      if (inb(kMar0 + i) != 0xff) complain("Multicast filter read/write mishap");
    }
    outb(kRd2 + kPs0, kCr);
    outb(kRcrBroadcast | kRcrMulticast, kRcr);
  }

  // ns8390.c:eth_pio_read: no wait, no RDC acknowledged.
  void eth_pio_read(unsigned src, std::span<std::uint8_t> dst) {
    std::size_t cnt = dst.size();
    outb(kRd2 | kCrStart, kCr);
    outb(cnt & 0xff, kRbcr0);
    outb(cnt >> 8, kRbcr1);
    outb(src & 0xff, kRsar0);
    outb(src >> 8, kRsar1);
    outb(kRd0 | kCrStart, kCr);
    const unsigned data = kNeAsicOffset + kNeData;
    if (flags_16bit_) {
      cnt = (cnt + 1) >> 1;
      Bytes words(cnt * 2);
      for (std::size_t i = 0; i < cnt; ++i) {
        const std::uint16_t w = inw(data);
        words[2 * i] = static_cast<std::uint8_t>(w);
        words[2 * i + 1] = static_cast<std::uint8_t>(w >> 8);
      }
      std::copy_n(words.begin(), dst.size(), dst.begin());
    } else {
      for (auto& byte : dst) byte = inb(data);
    }
  }

  // ns8390.c:eth_pio_write: a word (or byte) at a time, then a wait for RDC.
  void eth_pio_write(const Bytes& src, unsigned dst) {
    std::size_t cnt = src.size();
    outb(kRd2 | kCrStart, kCr);
    outb(kIsrRdc, kIsr);
    outb(cnt & 0xff, kRbcr0);
    outb(cnt >> 8, kRbcr1);
    outb(dst & 0xff, kRsar0);
    outb(dst >> 8, kRsar1);
    outb(kRd1 | kCrStart, kCr);
    const unsigned data = kNeAsicOffset + kNeData;
    if (flags_16bit_) {
      const Bytes words = padded(src, src.size() + 1);
      cnt = (cnt + 1) >> 1;
      for (std::size_t i = 0; i < cnt; ++i) outw(le16(std::span(words).subspan(2 * i)), data);
    } else {
      for (const std::uint8_t byte : src) outb(byte, data);
    }
    // while ((inb(ISR) & RDC) != RDC); with no bound in iPXE
    for (unsigned poll = 0; (inb(kIsr) & kIsrRdc) != kIsrRdc; ++poll) {
      if (poll == kDriverPolls) {
        complain("eth_pio_write: no RDC (iPXE would spin forever)");
        return;
      }
    }
  }

  bool flags_16bit_ = false, eth_drain_receiver_ = false;
  std::uint8_t eth_memsize_ = 0, eth_tx_start_ = 0, eth_rx_start_ = 0;
  Mac node_addr_{};
  std::vector<Bytes> received_;
};

}  // namespace vpio::testing_support

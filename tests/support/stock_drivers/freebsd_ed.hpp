// FreeBSD's ed driver on a Novell (NE2000) card, replayed port access by
// port access from its source (sys/dev/ed/if_ed.c, if_ed_novell.c,
// if_edreg.h): each method mirrors the function it is named after, in its
// order of accesses, values and widths. Left out: what never reaches the
// card's ports (spl levels, ifnet and mbuf bookkeeping beyond the chain's
// shape, MII, other vendors' cards); a log() warning is a complaint().
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "tests/support/stock_drivers/port_io.hpp"

namespace vpio::testing_support {

// sys/dev/ed/if_ed.c and if_ed_novell.c: the ed driver on a Novell (NE2000)
// card, programmed I/O. Its ed_nic_outb(sc, port, value) argument order.
class FreeBsdEd final : public PortIo {
 public:
  // if_edreg.h, if_edvar.h
  static constexpr std::uint8_t kCrRd2 = kCrNoDma, kCrRd0 = kCrRemoteRead,
                                kCrRd1 = kCrRemoteWrite;  // ED_CR_RD*
  static constexpr std::uint8_t kDcrFt1 = 0x40, kDcrWts = kDcrWordTransfer, kDcrLs = kDcrNormal;
  static constexpr std::uint8_t kImrAll = 0x1f;  // PRXE | PTXE | RXEE | TXEE | OVWE
  static constexpr std::uint8_t kTxbufSize = 6;  // ED_TXBUF_SIZE, pages
  static constexpr unsigned kPageSize = 256;
  static constexpr unsigned kNovellAsic = 0x10, kNovellData = 0x00, kNovellReset = 0x0f;
  static constexpr std::uint16_t kEtherMaxLen = 1518, kEtherCrcLen = 4, kRingHeader = 4;
  static constexpr std::uint16_t kEtherMinLen = 64, kEtherHdrLen = 14;

  // An mbuf chain: the frame in pieces, as the stack hands it over.
  using Mbufs = std::vector<Bytes>;

  explicit FreeBsdEd(PassthroughWindow& window) : PortIo(window) {}

  // if_ed_novell.c:ed_probe_Novell_generic: a reset, the 8390 check, and a
  // test pattern where an NE1000 has memory (0x2000, byte mode), then where
  // an NE2000 has it (0x4000, word mode).
  bool ed_probe_novell_generic() {
    const std::uint8_t tmp = ed_asic_inb(kNovellReset);
    ed_asic_outb(kNovellReset, tmp);
    ed_nic_outb(kCr, kCrRd2 | kCrStop);
    if (!ed_probe_generic8390()) return false;
    cr_proto_ = kCrRd2;
    ed_nic_outb(kRcr, kRcrMonitor);
    ed_nic_outb(kDcr, kDcrFt1 | kDcrLs);
    ed_nic_outb(kPstart, 8192 / kPageSize);
    ed_nic_outb(kPstop, 16384 / kPageSize);
    isa16bit_ = false;
    const Bytes test_pattern = pattern();
    Bytes test_buffer(test_pattern.size());
    ed_pio_writemem(test_pattern, 8192);
    ed_pio_readmem(8192, test_buffer);
    if (test_buffer == test_pattern) {
      complain("found an NE1000");
      return false;
    }
    ed_nic_outb(kDcr, kDcrWts | kDcrFt1 | kDcrLs);
    ed_nic_outb(kPstart, 16384 / kPageSize);
    ed_nic_outb(kPstop, 32768 / kPageSize);
    isa16bit_ = true;
    ed_pio_writemem(test_pattern, 16384);
    ed_pio_readmem(16384, test_buffer);
    if (test_buffer != test_pattern) return false;
    const unsigned memsize = 8192 + 8192;
    mem_start_ = 8192 + 8192;
    mem_end_ = mem_start_ + memsize;
    tx_page_start_ = static_cast<std::uint8_t>(memsize / kPageSize);
    txb_cnt_ = 2;
    rec_page_start_ = static_cast<std::uint8_t>(tx_page_start_ + txb_cnt_ * kTxbufSize);
    rec_page_stop_ = static_cast<std::uint8_t>(tx_page_start_ + memsize / kPageSize);
    mem_ring_ = mem_start_ + txb_cnt_ * kPageSize * kTxbufSize;
    ed_nic_outb(kIsr, 0xff);
    return true;
  }

  // if_ed_novell.c:ed_Novell_read_mac: the PROM's first 16 bytes.
  void ed_novell_read_mac() {
    Bytes romdata(16);
    ed_pio_readmem(0, romdata);
    for (unsigned n = 0; n < kMacBytes; ++n) enaddr_[n] = romdata[n * (isa16bit_ ? 2 : 1)];
  }

  // if_ed.c:ed_attach (its register part: ed_stop).
  void ed_attach() { ed_stop(); }

  // if_ed.c:ed_ioctl, SIOCSIFFLAGS with the interface marked up.
  void ifconfig_up() {
    if (!running_) ed_init();
    ed_setrcr();
  }

  // if_ed.c:ed_init, "in the exact order outlined in the NS manual".
  void ed_init() {
    xmit_busy_ = false;
    txb_inuse_ = txb_new_ = txb_next_tx_ = 0;
    next_packet_ = static_cast<std::uint8_t>(rec_page_start_ + 1);
    ed_nic_outb(kCr, cr_proto_ | kCrStop);
    ed_nic_outb(kDcr, isa16bit_ ? kDcrFt1 | kDcrWts | kDcrLs : kDcrFt1 | kDcrLs);
    ed_nic_outb(kRbcr0, 0);
    ed_nic_outb(kRbcr1, 0);
    ed_nic_outb(kRcr, kRcrMonitor);
    ed_nic_outb(kTcr, kTcrInternalLoopback);  // ED_TCR_LB0
    ed_nic_outb(kTpsr, tx_page_start_);
    ed_nic_outb(kPstart, rec_page_start_);
    ed_nic_outb(kPstop, rec_page_stop_);
    ed_nic_outb(kBnry, rec_page_start_);
    ed_nic_outb(kIsr, 0xff);
    ed_nic_outb(kImr, kImrAll);
    ed_nic_outb(kCr, cr_proto_ | kCrPage1 | kCrStop);
    for (unsigned i = 0; i < kMacBytes; ++i) ed_nic_outb(kPar0 + i, enaddr_[i]);
    ed_nic_outb(kCurr, next_packet_);
    ed_setrcr();
    ed_nic_outb(kTcr, 0);
    running_ = true;
    oactive_ = false;
    ed_start();
  }

  // if_ed.c:ed_stop
  void ed_stop() {
    ed_nic_outb(kCr, cr_proto_ | kCrStop);
    for (unsigned n = 5000; (ed_nic_inb(kIsr) & kIsrRst) == 0 && --n != 0;) {
    }
  }

  // if_ed.c:ed_reset, which ed_watchdog runs (after "device timeout") and
  // edintr on a ring overwrite.
  void ed_reset() {
    ed_stop();
    ed_init();
  }
  void ed_watchdog() { ed_reset(); }

  // if_ed.c:ed_setrcr, multicast interface without a group joined: the card
  // is stopped while the filter is loaded.
  void ed_setrcr() {
    ed_nic_outb(kCr, cr_proto_ | kCrPage1 | kCrStop);
    for (unsigned i = 0; i < 8; ++i) ed_nic_outb(kMar0 + i, promiscuous_ ? 0xff : 0x00);
    ed_nic_outb(kCr, cr_proto_ | kCrStop);
    ed_nic_outb(kRcr, promiscuous_ ? kRcrPromiscuous | kRcrMulticast | kRcrBroadcast | kRcrRunts |
                                         kRcrSaveErrors
                                   : kRcrMulticast | kRcrBroadcast);
    ed_nic_outb(kCr, cr_proto_ | kCrStart);
  }
  void set_promiscuous(bool on) { promiscuous_ = on; }

  // IFQ_ENQUEUE and if_start: ed_start takes what fits in the buffers.
  void output(Mbufs frame) {
    if_snd_.push_back(std::move(frame));
    if (!oactive_) ed_start();
  }

  // if_ed.c:edintr, as the interrupt runs it.
  void edintr() {
    ed_nic_outb(kCr, cr_proto_ | kCrStart);
    std::uint8_t isr = 0;
    while ((isr = ed_nic_inb(kIsr)) != 0 && isr != 0xff) {
      ed_nic_outb(kIsr, isr);
      if ((isr & (kIsrPtx | kIsrTxe)) != 0) {
        (void)ed_nic_inb(kNcr);
        (void)ed_nic_inb(kTsr);
        if ((isr & kIsrTxe) != 0) {
          (void)ed_nic_inb(kTsr);
          ++oerrors_;
        } else {
          ++opackets_;
        }
        xmit_busy_ = false;
        oactive_ = false;
        if (txb_inuse_ != 0 && --txb_inuse_ != 0) ed_xmit();
      }
      if ((isr & (kIsrPrx | kIsrRxe | kIsrOvw)) != 0) {
        if ((isr & kIsrOvw) != 0) {
          ++ierrors_;
          ed_reset();
        } else {
          if ((isr & kIsrRxe) != 0) {
            (void)ed_nic_inb(kRsr);
            ++ierrors_;
          }
          ed_rint();
        }
      }
      if (!oactive_) ed_start();
      ed_nic_outb(kCr, cr_proto_ | kCrStart);
      if ((isr & kIsrCnt) != 0) {
        (void)ed_nic_inb(kCntr0);
        (void)ed_nic_inb(kCntr1);
        (void)ed_nic_inb(kCntr2);
      }
    }
  }

  const Mac& enaddr() const { return enaddr_; }
  const std::vector<Bytes>& received() const { return received_; }
  std::uint64_t opackets() const { return opackets_; }
  std::uint64_t ierrors() const { return ierrors_; }
  bool queue_empty() const { return if_snd_.empty(); }

 private:
  std::uint8_t ed_nic_inb(unsigned port) { return inb(port); }
  void ed_nic_outb(unsigned port, std::size_t value) { outb(value, port); }
  std::uint8_t ed_asic_inb(unsigned port) { return inb(kNovellAsic + port); }
  void ed_asic_outb(unsigned port, std::size_t value) { outb(value, kNovellAsic + port); }

  static Bytes pattern() {
    const std::string text = "THIS is A memory TEST pattern";
    Bytes bytes(32, 0);  // static char test_pattern[32]
    std::copy(text.begin(), text.end(), bytes.begin());
    return bytes;
  }

  // if_ed.c:ed_probe_generic8390: CR and ISR as a reset leaves them.
  bool ed_probe_generic8390() {
    if ((ed_nic_inb(kCr) & (kCrRd2 | kCrTransmit | kCrStart | kCrStop)) != (kCrRd2 | kCrStop))
      return false;
    return (ed_nic_inb(kIsr) & kIsrRst) == kIsrRst;
  }

  // if_ed.c:ed_start
  void ed_start() {
    for (;;) {
      if (txb_inuse_ != 0 && !xmit_busy_) {
        complain("ed: packets buffered, but transmitter idle");
        ed_xmit();
      }
      if (txb_inuse_ == txb_cnt_) {
        oactive_ = true;
        return;
      }
      if (if_snd_.empty()) {
        oactive_ = false;
        return;
      }
      const Mbufs m = std::move(if_snd_.front());
      if_snd_.pop_front();
      const unsigned buffer = mem_start_ + txb_new_ * kTxbufSize * kPageSize;
      const std::uint16_t len = ed_pio_write_mbufs(m, buffer);
      if (len == 0) continue;
      txb_len_[txb_new_] = std::max<std::uint16_t>(len, kEtherMinLen - kEtherCrcLen);
      ++txb_inuse_;
      if (++txb_new_ == txb_cnt_) txb_new_ = 0;
      if (!xmit_busy_) ed_xmit();
    }
  }

  // if_ed.c:ed_xmit
  void ed_xmit() {
    const std::uint16_t len = txb_len_[txb_next_tx_];
    ed_nic_outb(kCr, cr_proto_ | kCrStart);
    ed_nic_outb(kTpsr, tx_page_start_ + txb_next_tx_ * kTxbufSize);
    ed_nic_outb(kTbcr0, len & 0xff);
    ed_nic_outb(kTbcr1, len >> 8);
    ed_nic_outb(kCr, cr_proto_ | kCrTransmit | kCrStart);
    xmit_busy_ = true;
    if (++txb_next_tx_ == txb_cnt_) txb_next_tx_ = 0;
  }

  // if_ed.c:ed_rint: frames from next_packet to CURR.
  void ed_rint() {
    ed_nic_outb(kCr, cr_proto_ | kCrPage1 | kCrStart);
    while (next_packet_ != ed_nic_inb(kCurr)) {
      const unsigned packet_ptr = mem_ring_ + (next_packet_ - rec_page_start_) * kPageSize;
      Bytes header(kRingHeader);
      ed_pio_readmem(packet_ptr, header);
      const std::uint16_t len = le16(std::span(header).subspan(2));
      const std::uint8_t next = header[1];
      if (len > kEtherMaxLen - kEtherCrcLen + kRingHeader ||
          len < kEtherMinLen - kEtherCrcLen + kRingHeader)
        complain("wild length");
      if (len >= kRingHeader + kEtherHdrLen && next >= rec_page_start_ && next < rec_page_stop_) {
        received_.push_back(ed_get_packet(packet_ptr + kRingHeader, len - kRingHeader));
      } else {
        complain("NIC memory corrupt - invalid packet length");
        ed_reset();
        return;
      }
      next_packet_ = next;
      std::uint8_t boundry = static_cast<std::uint8_t>(next_packet_ - 1);
      if (boundry < rec_page_start_) boundry = static_cast<std::uint8_t>(rec_page_stop_ - 1);
      ed_nic_outb(kCr, cr_proto_ | kCrStart);
      ed_nic_outb(kBnry, boundry);
      ed_nic_outb(kCr, cr_proto_ | kCrPage1 | kCrStart);
    }
  }

  // if_ed.c:ed_get_packet and ed_ring_copy: the frame, in two reads where
  // it wraps past the end of memory.
  Bytes ed_get_packet(unsigned src, unsigned len) {
    Bytes eh(len);
    unsigned amount = len, at = 0;
    if (src + amount > mem_end_) {
      const unsigned tmp_amount = mem_end_ - src;
      ed_pio_readmem(src, std::span(eh).first(tmp_amount));
      amount -= tmp_amount;
      src = mem_ring_;
      at = tmp_amount;
    }
    ed_pio_readmem(src, std::span(eh).subspan(at, amount));
    return eh;
  }

  // if_ed.c:ed_pio_readmem: rounded up to a word; no wait, no RDC.
  void ed_pio_readmem(unsigned src, std::span<std::uint8_t> dst) {
    std::size_t amount = dst.size();
    ed_nic_outb(kCr, kCrRd2 | kCrStart);
    if ((amount & 1) != 0) ++amount;
    ed_nic_outb(kRbcr0, amount & 0xff);
    ed_nic_outb(kRbcr1, amount >> 8);
    ed_nic_outb(kRsar0, src & 0xff);
    ed_nic_outb(kRsar1, src >> 8);
    ed_nic_outb(kCr, kCrRd0 | kCrStart);
    Bytes buf(amount);
    if (isa16bit_)
      insw(kNovellAsic + kNovellData, buf, amount / 2);
    else
      insb(kNovellAsic + kNovellData, buf, amount);
    std::copy_n(buf.begin(), dst.size(), dst.begin());
  }

  // if_ed.c:ed_pio_writemem: the probe's test pattern.
  void ed_pio_writemem(const Bytes& src, unsigned dst) {
    ed_nic_outb(kCr, kCrRd2 | kCrStart);
    ed_nic_outb(kIsr, kIsrRdc);
    ed_nic_outb(kRbcr0, src.size() & 0xff);
    ed_nic_outb(kRbcr1, src.size() >> 8);
    ed_nic_outb(kRsar0, dst & 0xff);
    ed_nic_outb(kRsar1, dst >> 8);
    ed_nic_outb(kCr, kCrRd1 | kCrStart);
    if (isa16bit_)
      outsw(kNovellAsic + kNovellData, src, src.size() / 2);
    else
      outsb(kNovellAsic + kNovellData, src, src.size());
    wait_rdc();
  }

  // if_ed.c:ed_pio_write_mbufs: words only on an NE2000, an odd mbuf's last
  // byte joined to the next one's first.
  std::uint16_t ed_pio_write_mbufs(const Mbufs& m, unsigned dst) {
    std::size_t total_len = 0;
    for (const Bytes& mp : m) total_len += mp.size();
    std::size_t dma_len = total_len;
    if (isa16bit_ && (dma_len & 1) != 0) ++dma_len;
    ed_nic_outb(kCr, kCrRd2 | kCrStart);
    ed_nic_outb(kIsr, kIsrRdc);
    ed_nic_outb(kRbcr0, dma_len & 0xff);
    ed_nic_outb(kRbcr1, dma_len >> 8);
    ed_nic_outb(kRsar0, dst & 0xff);
    ed_nic_outb(kRsar1, dst >> 8);
    ed_nic_outb(kCr, kCrRd1 | kCrStart);
    const unsigned data = kNovellAsic + kNovellData;
    if (!isa16bit_) {
      for (const Bytes& mp : m) outsb(data, mp, mp.size());
    } else {
      std::array<std::uint8_t, 2> savebyte{};
      bool wantbyte = false;
      for (const Bytes& mp : m) {
        std::span<const std::uint8_t> rest(mp);
        if (rest.empty()) continue;
        if (wantbyte) {
          savebyte[1] = rest[0];
          outw(le16(savebyte), data);
          rest = rest.subspan(1);
          wantbyte = false;
        }
        if (rest.size() > 1) {
          outsw(data, rest, rest.size() >> 1);
          rest = rest.subspan(rest.size() & ~std::size_t{1});
        }
        if (rest.size() == 1) {
          savebyte[0] = rest[0];
          wantbyte = true;
        }
      }
      if (wantbyte) outw(le16(savebyte), data);
    }
    if (!wait_rdc()) {
      complain("remote transmit DMA failed to complete");
      ed_reset();
      return 0;
    }
    return static_cast<std::uint16_t>(total_len);
  }

  // "Wait for remote DMA complete", maxwait 200 (about 240 us).
  bool wait_rdc() {
    for (unsigned maxwait = 200; maxwait != 0; --maxwait)
      if ((ed_nic_inb(kIsr) & kIsrRdc) == kIsrRdc) return true;
    return false;
  }

  // struct ed_softc
  std::uint8_t cr_proto_ = 0;
  bool isa16bit_ = false;
  unsigned mem_start_ = 0, mem_end_ = 0, mem_ring_ = 0;
  std::uint8_t tx_page_start_ = 0, rec_page_start_ = 0, rec_page_stop_ = 0;
  unsigned txb_cnt_ = 0, txb_inuse_ = 0, txb_new_ = 0, txb_next_tx_ = 0;
  std::array<std::uint16_t, 2> txb_len_{};
  bool xmit_busy_ = false;
  std::uint8_t next_packet_ = 0;
  Mac enaddr_{};
  bool running_ = false, oactive_ = false, promiscuous_ = false;
  std::deque<Mbufs> if_snd_;
  std::vector<Bytes> received_;
  std::uint64_t opackets_ = 0, oerrors_ = 0, ierrors_ = 0;
};

}  // namespace vpio::testing_support

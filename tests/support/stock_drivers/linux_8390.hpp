// Linux's NE2000 drivers, replayed port access by port access from their
// source (Linux 6.1, drivers/net/ethernet/8390/): lib8390.c, the DP8390 core,
// under ne2k-pci.c (the RTL8029 and its PCI clones) and ne.c (ISA). Each
// class is named after its driver and each method after the function it
// mirrors, in its order of accesses, values and widths. Left out: what never
// reaches the card's ports (locks, timers and delays, statistics no test
// reads, sk_buff bookkeeping); a driver's printk warning is a complaint().
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/stock_drivers/port_io.hpp"

namespace vpio::testing_support {

// drivers/net/ethernet/8390/lib8390.c: the DP8390 core of Linux's 8390
// drivers, over the card's hooks of struct ei_device, which ne2k-pci.c and
// ne.c supply (reset_8390, get_8390_hdr, block_input, block_output).
class Lib8390 : public PortIo {
 public:
  // 8390.h
  static constexpr std::uint8_t kTxPages = 12;                      // TX_PAGES: two slots
  static constexpr unsigned kMaxService = 12;                       // MAX_SERVICE
  static constexpr std::uint8_t kRxConfig = kRcrBroadcast;          // E8390_RXCONFIG
  static constexpr std::uint8_t kRxOff = kRcrMonitor;               // E8390_RXOFF
  static constexpr std::uint8_t kTxConfig = 0x00;                   // E8390_TXCONFIG
  static constexpr std::uint8_t kTxOff = kTcrInternalLoopback;      // E8390_TXOFF
  static constexpr std::uint8_t kEnisrAll = 0x3f;                   // ENISR_ALL
  static constexpr std::uint8_t kEntsrAbt = 0x08, kEntsrFu = 0x20;  // ENTSR_ABT, ENTSR_FU
  static constexpr std::uint8_t kEnrsrRxok = 0x01;                  // ENRSR_RXOK
  static constexpr std::uint8_t kDcrBase = 0x48;                    // NS8390_init's endcfg

  struct Stats {
    std::uint64_t tx_packets = 0, tx_errors = 0, rx_packets = 0, rx_errors = 0;
    std::uint64_t rx_over_errors = 0, rx_frame_errors = 0, rx_crc_errors = 0;
    std::uint64_t rx_missed_errors = 0;
  };

  using PortIo::PortIo;
  virtual ~Lib8390() = default;

  // lib8390.c:__ei_open
  void ei_open() {
    running_ = true;  // __dev_open marks it running before ndo_open
    ns8390_init(true);
    queue_stopped_ = false;
    irqlock_ = false;
  }
  // lib8390.c:__ei_close
  void ei_close() {
    running_ = false;  // and __dev_close before ndo_stop
    ns8390_init(false);
    queue_stopped_ = true;
  }

  // lib8390.c:__ei_start_xmit. False for NETDEV_TX_BUSY.
  bool ei_start_xmit(const Bytes& skb) {
    const std::size_t send_length = std::max(skb.size(), kEthZlen);
    const Bytes data = padded(skb, send_length);
    outb(0x00, kImr);
    irqlock_ = true;
    std::uint8_t output_page = 0;
    if (tx1_ == 0) {
      output_page = tx_start_page_;
      tx1_ = static_cast<int>(send_length);
    } else if (tx2_ == 0) {
      output_page = static_cast<std::uint8_t>(tx_start_page_ + kTxPages / 2);
      tx2_ = static_cast<int>(send_length);
    } else {
      complain("No Tx buffers free!");
      irqlock_ = false;
      queue_stopped_ = true;
      outb(kEnisrAll, kImr);
      ++stats_.tx_errors;
      return false;
    }
    block_output(send_length, data, output_page);
    if (!txing_) {
      txing_ = true;
      ns8390_trigger_send(send_length, output_page);
      if (output_page == tx_start_page_) {
        tx1_ = lasttx_ = -1;
      } else {
        tx2_ = lasttx_ = -2;
      }
    } else {
      ++txqueue_;
    }
    queue_stopped_ = tx1_ != 0 && tx2_ != 0;
    irqlock_ = false;
    outb(kEnisrAll, kImr);
    return true;
  }

  // lib8390.c:__ei_interrupt, as the kernel runs it on the card's IRQ.
  void ei_interrupt() {
    if (irqlock_) {
      complain("Interrupted while interrupts are masked!");
      (void)inb(kIsr);
      (void)inb(kImr);
      return;
    }
    outb(kCrNoDma | kCrPage0, kCr);
    unsigned nr_serviced = 0;
    std::uint8_t interrupts = 0;
    while ((interrupts = inb(kIsr)) != 0 && ++nr_serviced < kMaxService) {
      if (!running_) {
        complain("interrupt from stopped card");
        outb(interrupts, kIsr);
        interrupts = 0;
        break;
      }
      if ((interrupts & kIsrOvw) != 0)
        ei_rx_overrun();
      else if ((interrupts & (kIsrPrx | kIsrRxe)) != 0)
        ei_receive();
      if ((interrupts & kIsrPtx) != 0)
        ei_tx_intr();
      else if ((interrupts & kIsrTxe) != 0)
        ei_tx_err();
      if ((interrupts & kIsrCnt) != 0) {
        stats_.rx_frame_errors += inb(kCntr0);
        stats_.rx_crc_errors += inb(kCntr1);
        stats_.rx_missed_errors += inb(kCntr2);
        outb(kIsrCnt, kIsr);
      }
      if ((interrupts & kIsrRdc) != 0) outb(kIsrRdc, kIsr);
      outb(kCrNoDma | kCrPage0 | kCrStart, kCr);
    }
    if (interrupts != 0 && nr_serviced >= kMaxService) complain("Too much work at interrupt");
  }

  // lib8390.c:__ei_tx_timeout, as the watchdog runs it: reset and
  // reinitialise the card.
  void ei_tx_timeout() {
    ++stats_.tx_errors;
    (void)inb(kTsr);
    (void)inb(kIsr);
    reset_8390();
    ns8390_init(true);
    queue_stopped_ = false;  // netif_wake_queue
  }

  // lib8390.c:ei_rx_overrun, which ei_interrupt runs on ENISR_OVER: stop,
  // clear the remote byte count, restart in loopback, empty the ring, and
  // resend a transmit the stop cut short.
  void ei_rx_overrun() {
    const bool was_txing = (inb(kCr) & kCrTransmit) != 0;
    outb(kCrNoDma | kCrPage0 | kCrStop, kCr);
    ++stats_.rx_over_errors;
    // mdelay(10): a full transmit time and then some.
    outb(0x00, kRbcr0);
    outb(0x00, kRbcr1);
    bool must_resend = false;
    if (was_txing) must_resend = (inb(kIsr) & (kIsrPtx | kIsrTxe)) == 0;
    outb(kTxOff, kTcr);
    outb(kCrNoDma | kCrPage0 | kCrStart, kCr);
    ei_receive();
    outb(kIsrOvw, kIsr);
    outb(kTxConfig, kTcr);
    if (must_resend) outb(kCrNoDma | kCrPage0 | kCrStart | kCrTransmit, kCr);
  }

  // lib8390.c:__ei_get_stats: the tally counters, read on page 0.
  const Stats& ei_get_stats() {
    if (!running_) return stats_;
    stats_.rx_frame_errors += inb(kCntr0);
    stats_.rx_crc_errors += inb(kCntr1);
    stats_.rx_missed_errors += inb(kCntr2);
    return stats_;
  }

  const Mac& dev_addr() const { return dev_addr_; }
  bool queue_stopped() const { return queue_stopped_; }
  const Stats& stats() const { return stats_; }
  // What netif_rx was handed, in order.
  const std::vector<Bytes>& received() const { return received_; }
  // Sends NS8390_trigger_send started from this page.
  unsigned sends_from(std::uint8_t page) const {
    return static_cast<unsigned>(std::count(send_pages_.begin(), send_pages_.end(), page));
  }

 protected:
  // struct e8390_pkt_hdr
  struct PacketHeader {
    std::uint8_t status = 0;
    std::uint8_t next = 0;
    std::uint16_t count = 0;  // header and frame, in bytes
  };
  static PacketHeader header_of(std::span<const std::uint8_t> bytes) {
    return {bytes[0], bytes[1], le16(bytes.subspan(2))};
  }

  virtual void reset_8390() = 0;
  virtual PacketHeader get_8390_hdr(std::uint8_t ring_page) = 0;
  virtual Bytes block_input(std::size_t count, unsigned ring_offset) = 0;
  virtual void block_output(std::size_t count, const Bytes& buf, std::uint8_t start_page) = 0;

  // lib8390.c:__NS8390_init, National Semiconductor's initialisation order.
  void ns8390_init(bool startp) {
    const std::uint8_t endcfg =
        word16_ ? static_cast<std::uint8_t>(kDcrBase | kDcrWordTransfer) : kDcrBase;
    outb(kCrNoDma | kCrPage0 | kCrStop, kCr);
    outb(endcfg, kDcr);
    outb(0x00, kRbcr0);
    outb(0x00, kRbcr1);
    outb(kRxOff, kRcr);
    outb(kTxOff, kTcr);
    outb(tx_start_page_, kTpsr);
    tx1_ = tx2_ = 0;
    outb(rx_start_page_, kPstart);
    outb(stop_page_ - 1u, kBnry);
    current_page_ = rx_start_page_;
    outb(stop_page_, kPstop);
    outb(0xff, kIsr);
    outb(0x00, kImr);
    outb(kCrNoDma | kCrPage1 | kCrStop, kCr);
    for (unsigned i = 0; i < kMacBytes; ++i) {
      outb(dev_addr_[i], kPar0 + i);
      if (msg_probe_ && inb(kPar0 + i) != dev_addr_[i]) complain("Hw. address read/write mismap");
    }
    outb(rx_start_page_, kCurr);
    outb(kCrNoDma | kCrPage0 | kCrStop, kCr);
    tx1_ = tx2_ = 0;
    txing_ = false;
    if (startp) {
      outb(0xff, kIsr);
      outb(kEnisrAll, kImr);
      outb(kCrNoDma | kCrPage0 | kCrStart, kCr);
      outb(kTxConfig, kTcr);
      outb(kRxConfig, kRcr);
      do_set_multicast_list();
    }
  }

  // lib8390.c:do_set_multicast_list, with no multicast address joined
  // (BUG_83C690 is defined: the filter is not read back).
  void do_set_multicast_list() {
    const std::array<std::uint8_t, 8> mcfilter{};
    if (running_) outb(kRxConfig, kRcr);
    outb(kCrNoDma | kCrPage1, kCr);
    for (unsigned i = 0; i < mcfilter.size(); ++i) outb(mcfilter[i], kMar0 + i);
    outb(kCrNoDma | kCrPage0, kCr);
    outb(kRxConfig, kRcr);
  }

  // lib8390.c:NS8390_trigger_send
  void ns8390_trigger_send(std::size_t length, std::uint8_t start_page) {
    outb(kCrNoDma | kCrPage0, kCr);
    if ((inb(kCr) & kCrTransmit) != 0) {
      complain("trigger_send() called with the transmitter busy");
      return;
    }
    outb(length & 0xff, kTbcr0);
    outb(length >> 8, kTbcr1);
    outb(start_page, kTpsr);
    outb(kCrNoDma | kCrTransmit | kCrStart, kCr);
    send_pages_.push_back(start_page);
  }

  // lib8390.c:ei_tx_intr: the next buffer goes out as the last one is done.
  void ei_tx_intr() {
    const std::uint8_t status = inb(kTsr);
    outb(kIsrPtx, kIsr);
    --txqueue_;
    if (tx1_ < 0) {
      if (lasttx_ != 1 && lasttx_ != -1) complain("bogus last_tx_buffer");
      tx1_ = 0;
      if (tx2_ > 0) {
        txing_ = true;
        ns8390_trigger_send(static_cast<std::size_t>(tx2_),
                            static_cast<std::uint8_t>(tx_start_page_ + kTxPages / 2));
        tx2_ = -1;
        lasttx_ = 2;
      } else {
        lasttx_ = 20;
        txing_ = false;
      }
    } else if (tx2_ < 0) {
      if (lasttx_ != 2 && lasttx_ != -2) complain("bogus last_tx_buffer");
      tx2_ = 0;
      if (tx1_ > 0) {
        txing_ = true;
        ns8390_trigger_send(static_cast<std::size_t>(tx1_), tx_start_page_);
        tx1_ = -1;
        lasttx_ = 1;
      } else {
        lasttx_ = 10;
        txing_ = false;
      }
    }
    if ((status & kTsrPtx) != 0)
      ++stats_.tx_packets;
    else
      ++stats_.tx_errors;
    queue_stopped_ = false;  // netif_wake_queue
  }

  // lib8390.c:ei_tx_err
  void ei_tx_err() {
    const std::uint8_t txsr = inb(kTsr);
    const bool tx_was_aborted = (txsr & (kEntsrAbt | kEntsrFu)) != 0;
    outb(kIsrTxe, kIsr);
    if (tx_was_aborted)
      ei_tx_intr();
    else
      ++stats_.tx_errors;
  }

  // lib8390.c:ei_receive: up to nine frames from the ring, BNRY a page
  // behind the next.
  void ei_receive() {
    const unsigned num_rx_pages = stop_page_ - rx_start_page_;
    for (unsigned rx_pkt_count = 1; rx_pkt_count < 10; ++rx_pkt_count) {
      outb(kCrNoDma | kCrPage1, kCr);
      const std::uint8_t rxing_page = inb(kCurr);
      outb(kCrNoDma | kCrPage0, kCr);
      std::uint8_t this_frame = static_cast<std::uint8_t>(inb(kBnry) + 1);
      if (this_frame >= stop_page_) this_frame = rx_start_page_;
      if (this_frame != current_page_) complain("mismatched read page pointers");
      if (this_frame == rxing_page) break;
      const unsigned current_offset = unsigned{this_frame} << 8;
      const PacketHeader rx_frame = get_8390_hdr(this_frame);
      const int pkt_len = int{rx_frame.count} - 4;
      const unsigned next_frame = this_frame + 1u + static_cast<unsigned>((pkt_len + 4) >> 8);
      if (rx_frame.next != next_frame && rx_frame.next != next_frame + 1 &&
          rx_frame.next != next_frame - num_rx_pages &&
          rx_frame.next != next_frame + 1 - num_rx_pages) {
        complain("ring header out of step");
        current_page_ = rxing_page;
        outb(current_page_ - 1u, kBnry);
        ++stats_.rx_errors;
        continue;
      }
      if (pkt_len < 60 || pkt_len > 1518) {
        complain("bogus packet size");
        ++stats_.rx_errors;
      } else if ((rx_frame.status & 0x0f) == kEnrsrRxok) {
        received_.push_back(block_input(static_cast<std::size_t>(pkt_len), current_offset + 4));
        ++stats_.rx_packets;
      } else {
        complain("bogus packet");
        ++stats_.rx_errors;
      }
      std::uint8_t next = rx_frame.next;
      if (next >= stop_page_) {
        complain("next frame inconsistency");
        next = rx_start_page_;
      }
      current_page_ = next;
      outb(next - 1u, kBnry);
    }
    outb(kIsrPrx | kIsrRxe, kIsr);
  }

  // struct ei_device
  std::uint8_t tx_start_page_ = 0, rx_start_page_ = 0, stop_page_ = 0, current_page_ = 0;
  bool word16_ = false;
  bool msg_probe_ = true;  // NETIF_MSG_PROBE: NS8390_init reads PAR back
  bool dmaing_ = false;
  bool txing_ = false;
  Mac dev_addr_{};

 private:
  int tx1_ = 0, tx2_ = 0, lasttx_ = 0, txqueue_ = 0;
  bool irqlock_ = false;
  bool running_ = false;
  bool queue_stopped_ = true;
  Stats stats_;
  std::vector<Bytes> received_;
  std::vector<std::uint8_t> send_pages_;
};

// The ports of an NE2000's ASIC (ne2k-pci.c and ne.c: NE_DATAPORT,
// NE_RESET), as the project names them.
inline constexpr unsigned kNeDataport = devices::Ne2000::kDataPort;
inline constexpr unsigned kNeReset = devices::Ne2000::kResetPort;
inline constexpr unsigned kPromBytesRead = 32;  // SA_prom[32]

// ---- Linux: ne2k-pci.c ----

// drivers/net/ethernet/8390/ne2k-pci.c: an RTL8029 and its PCI clones.
class LinuxNe2kPci final : public Lib8390 {
 public:
  // The clone's flags (pci_clone_list), and FORCE_FDX from full_duplex=.
  static constexpr int kOnly16BitIo = 8;
  static constexpr int kRealtekFdx = 0x40;
  static constexpr int kForceFdx = 0x20;
  static constexpr std::uint8_t kStartPage = 0x40;  // NESM_START_PG
  static constexpr std::uint8_t kStopPage = 0x80;   // NESM_STOP_PG
  static constexpr std::uint8_t kWordDcr = 0x49;

  LinuxNe2kPci(PassthroughWindow& window, int flags) : Lib8390(window), flags_(flags) {}

  // ne2k-pci.c:ne2k_pci_init_one, from the 8390 check to NS8390_init(dev, 0).
  bool ne2k_pci_init_one() {
    const std::uint8_t reg0 = inb(kCr);
    if (reg0 == 0xff) return false;
    outb(kCrNoDma | kCrPage1 | kCrStop, kCr);
    const std::uint8_t regd = inb(kMar0 + 5);
    outb(0xff, kMar0 + 5);
    outb(kCrNoDma | kCrPage0, kCr);
    (void)inb(kCntr0);  // clear the counter by reading
    if (inb(kCntr0) != 0) {
      outb(reg0, kCr);
      outb(regd, kMar0 + 5);
      return false;
    }
    outb(inb(kNeReset), kNeReset);
    if (!wait_isr(kIsrRst)) {
      complain("Card failure (no reset ack).");
      return false;
    }
    outb(0xff, kIsr);
    // "similar to NS8390_init(eifdev, 0)": the PROM by remote DMA, started.
    const std::pair<std::uint8_t, unsigned> program_seq[] = {
        {kCrNoDma | kCrPage0 | kCrStop, kCr},
        {kWordDcr, kDcr},
        {0x00, kRbcr0},
        {0x00, kRbcr1},
        {0x00, kImr},
        {0xff, kIsr},
        {kRxOff, kRcr},
        {kTxOff, kTcr},
        {kPromBytesRead, kRbcr0},
        {0x00, kRbcr1},
        {0x00, kRsar0},
        {0x00, kRsar1},
        {kCrRemoteRead | kCrStart, kCr},
    };
    for (const auto& [value, port] : program_seq) outb(value, port);
    std::array<std::uint8_t, kPromBytesRead> sa_prom{};
    for (auto& byte : sa_prom) byte = inb(kNeDataport);  // not ONLY_32BIT_IO
    outb(kWordDcr, kDcr);
    tx_start_page_ = kStartPage;
    stop_page_ = kStopPage;
    word16_ = true;
    rx_start_page_ = static_cast<std::uint8_t>(kStartPage + kTxPages);
    ns8390_init(false);
    std::copy_n(sa_prom.begin(), kMacBytes, dev_addr_.begin());
    return true;
  }

  // ne2k-pci.c:ne2k_pci_open
  void ne2k_pci_open() {
    if ((flags_ & kForceFdx) != 0 && (flags_ & kRealtekFdx) != 0) set_realtek_fdx();
    ei_open();
  }

  // A card that stops taking a transmit's data after this many bytes, so
  // that ne2k_pci_block_output's wait for RDC runs out (the test's stand-in
  // for a card that hangs mid-DMA).
  void stall_next_block_output_after(std::size_t bytes) { stall_after_ = bytes; }

 private:
  // ne2k-pci.c:set_realtek_fdx: the RTL8029's page 3.
  void set_realtek_fdx() {
    outb(kCrPage3 | kCrNoDma, kCr);
    outb(0xc0, 0x01);  // enable writes to CONFIG3
    outb(0x40, 0x06);  // full duplex
    outb(0x00, 0x01);
    outb(kCrPage0 | kCrNoDma, kCr);
  }

  // ne2k-pci.c:ne2k_pci_reset_8390
  void reset_8390() override {
    outb(inb(kNeReset), kNeReset);
    txing_ = false;
    dmaing_ = false;
    if (!wait_isr(kIsrRst)) complain("ne2k_pci_reset_8390 did not complete.");
    outb(kIsrRst, kIsr);
  }

  // ne2k-pci.c:ne2k_pci_get_8390_hdr: one inl (or two inw).
  PacketHeader get_8390_hdr(std::uint8_t ring_page) override {
    if (dmaing_) complain("DMAing conflict in ne2k_pci_get_8390_hdr");
    dmaing_ = true;
    outb(kCrNoDma | kCrPage0 | kCrStart, kCr);
    outb(4, kRbcr0);
    outb(0, kRbcr1);
    outb(0, kRsar0);
    outb(ring_page, kRsar1);
    outb(kCrRemoteRead | kCrStart, kCr);
    std::array<std::uint8_t, 4> hdr{};
    if ((flags_ & kOnly16BitIo) != 0) {
      insw(kNeDataport, hdr, hdr.size() / 2);
    } else {
      const std::uint32_t word = inl(kNeDataport);
      for (unsigned i = 0; i < hdr.size(); ++i) hdr[i] = static_cast<std::uint8_t>(word >> (8 * i));
    }
    outb(kIsrRdc, kIsr);
    dmaing_ = false;
    return header_of(hdr);
  }

  // ne2k-pci.c:ne2k_pci_block_input: insl, then an inw and an inb for the
  // rest (or insw and an inb).
  Bytes block_input(std::size_t count, unsigned ring_offset) override {
    if (dmaing_) complain("DMAing conflict in ne2k_pci_block_input");
    dmaing_ = true;
    Bytes buf(count + 4);
    outb(kCrNoDma | kCrPage0 | kCrStart, kCr);
    outb(count & 0xff, kRbcr0);
    outb(count >> 8, kRbcr1);
    outb(ring_offset & 0xff, kRsar0);
    outb(ring_offset >> 8, kRsar1);
    outb(kCrRemoteRead | kCrStart, kCr);
    if ((flags_ & kOnly16BitIo) != 0) {
      insw(kNeDataport, buf, count >> 1);
      if ((count & 1) != 0) buf[count - 1] = inb(kNeDataport);
    } else {
      insl(kNeDataport, buf, count >> 2);
      std::size_t at = count & ~std::size_t{3};
      if ((count & 2) != 0) {
        const std::uint16_t word = inw(kNeDataport);
        buf[at++] = static_cast<std::uint8_t>(word);
        buf[at++] = static_cast<std::uint8_t>(word >> 8);
      }
      if ((count & 1) != 0) buf[at] = inb(kNeDataport);
    }
    outb(kIsrRdc, kIsr);
    dmaing_ = false;
    buf.resize(count);
    return buf;
  }

  // ne2k-pci.c:ne2k_pci_block_output: outsl and an outw for the rest (or
  // outsw), then a wait for RDC that resets the card when it runs out.
  void block_output(std::size_t count, const Bytes& frame, std::uint8_t start_page) override {
    if ((count & 1) != 0) ++count;
    const Bytes buf = padded(frame, count + 4);
    if (dmaing_) complain("DMAing conflict in ne2k_pci_block_output");
    dmaing_ = true;
    outb(kCrPage0 | kCrStart | kCrNoDma, kCr);
    outb(kIsrRdc, kIsr);  // (NE_RW_BUGFIX is not defined in ne2k-pci.c)
    outb(count & 0xff, kRbcr0);
    outb(count >> 8, kRbcr1);
    outb(0x00, kRsar0);
    outb(start_page, kRsar1);
    outb(kCrRemoteWrite | kCrStart, kCr);
    const std::size_t taken = std::min(count, stall_after_.value_or(count));
    stall_after_.reset();
    const auto data = std::span(buf).first(taken);
    if ((flags_ & kOnly16BitIo) != 0) {
      outsw(kNeDataport, data, taken >> 1);
    } else {
      outsl(kNeDataport, data, taken >> 2);
      if ((taken & 3) != 0 && (taken & 2) != 0)
        outw(le16(data.subspan(taken & ~std::size_t{3})), kNeDataport);
    }
    if (!wait_isr(kIsrRdc)) {
      complain("timeout waiting for Tx RDC.");
      reset_8390();
      ns8390_init(true);
    }
    outb(kIsrRdc, kIsr);
    dmaing_ = false;
  }

  bool wait_isr(std::uint8_t bit) {
    for (unsigned poll = 0; poll < kDriverPolls; ++poll)
      if ((inb(kIsr) & bit) != 0) return true;
    return false;
  }

  int flags_;
  std::optional<std::size_t> stall_after_;
};

// ---- Linux: ne.c ----

// drivers/net/ethernet/8390/ne.c: the ISA NE1000/NE2000, through 8390p (the
// same lib8390 with inb_p and outb_p).
class LinuxNe final : public Lib8390 {
 public:
  static constexpr std::uint8_t kByteDcr = 0x48;
  static constexpr std::uint8_t kDcrVal = 0x49;  // DCR_VAL on x86
  static constexpr std::uint8_t kNesmStartPg = 0x40, kNesmStopPg = 0x80;
  static constexpr std::uint8_t kNe1smStartPg = 0x20, kNe1smStopPg = 0x40;
  static constexpr std::uint8_t kSignature = 0x57;    // NE2000s' SA_prom[14..15]
  static constexpr std::uint8_t kAutoIrqMask = 0x50;  // RDC and CNT
  // NE_RW_BUGFIX's dummy read, after the Crynwr packet driver.
  static constexpr std::uint8_t kRwBugfixBytes = 0x42, kRwBugfixAddress = 0x42;

  // raised: whether the card's IRQ line rose since the last call (for the
  // autoirq probe).
  LinuxNe(PassthroughWindow& window, bool rw_bugfix, std::function<bool()> raised)
      : Lib8390(window), rw_bugfix_(rw_bugfix), raised_(std::move(raised)) {}

  // ne.c:ne_probe1, with irq= given (or 0: autoirq). Returns the IRQ line
  // it settled on, or nothing when it found no card.
  std::optional<unsigned> ne_probe1(unsigned irq) {
    const std::uint8_t reg0 = inb(kCr);
    if (reg0 == 0xff) return std::nullopt;
    outb(kCrNoDma | kCrPage1 | kCrStop, kCr);
    const std::uint8_t regd = inb(kMar0 + 5);
    outb(0xff, kMar0 + 5);
    outb(kCrNoDma | kCrPage0, kCr);
    (void)inb(kCntr0);
    if (inb(kCntr0) != 0) {
      outb(reg0, kCr);
      outb(regd, kMar0 + 5);
      return std::nullopt;
    }
    outb(inb(kNeReset), kNeReset);
    if (!wait_isr(kIsrRst)) {
      complain("not found (no reset ack)");
      return std::nullopt;
    }
    outb(0xff, kIsr);
    const std::pair<std::uint8_t, unsigned> program_seq[] = {
        {kCrNoDma | kCrPage0 | kCrStop, kCr},
        {kByteDcr, kDcr},
        {0x00, kRbcr0},
        {0x00, kRbcr1},
        {0x00, kImr},
        {0xff, kIsr},
        {kRxOff, kRcr},
        {kTxOff, kTcr},
        {kPromBytesRead, kRbcr0},
        {0x00, kRbcr1},
        {0x00, kRsar0},
        {0x00, kRsar1},
        {kCrRemoteRead | kCrStart, kCr},
    };
    for (const auto& [value, port] : program_seq) outb(value, port);
    std::array<std::uint8_t, kPromBytesRead> sa_prom{};
    unsigned wordlength = 2;
    for (unsigned i = 0; i < sa_prom.size(); i += 2) {
      sa_prom[i] = inb(kNeDataport);
      sa_prom[i + 1] = inb(kNeDataport);
      if (sa_prom[i] != sa_prom[i + 1]) wordlength = 1;
    }
    std::uint8_t start_page = kNe1smStartPg, stop_page = kNe1smStopPg;
    if (wordlength == 2) {
      for (unsigned i = 0; i < 16; ++i) sa_prom[i] = sa_prom[i + i];
      outb(kDcrVal, kDcr);
      start_page = kNesmStartPg;
      stop_page = kNesmStopPg;  // DCR_VAL is word mode: no RTL8019AS check
    }
    if (sa_prom[14] != kSignature || sa_prom[15] != kSignature) {
      complain("not found (invalid signature)");
      return std::nullopt;
    }
    if (irq < 2) {
      (void)raised_();  // probe_irq_on
      outb(kAutoIrqMask, kImr);
      outb(0x00, kRbcr0);
      outb(0x00, kRbcr1);
      outb(kCrRemoteRead | kCrStart, kCr);  // a DMA of nothing: RDC at once
      // mdelay(10)
      outb(0x00, kImr);
      if (!raised_()) {
        complain("failed to detect IRQ line.");
        return std::nullopt;
      }
      irq = kAutoIrqLine;
    }
    std::copy_n(sa_prom.begin(), kMacBytes, dev_addr_.begin());
    tx_start_page_ = start_page;
    stop_page_ = stop_page;
    word16_ = wordlength == 2 && (kDcrVal & kDcrWordTransfer) != 0;
    rx_start_page_ = static_cast<std::uint8_t>(start_page + kTxPages);
    ns8390_init(false);  // NS8390p_init(dev, 0)
    msg_probe_ = false;  // ei_local->msg_enable = ne_msg_enable (0)
    return irq;
  }

  // The line the autoirq probe reports (any: the test's card has one).
  static constexpr unsigned kAutoIrqLine = 9;

 private:
  // ne.c:ne_reset_8390
  void reset_8390() override {
    outb(inb(kNeReset), kNeReset);
    txing_ = false;
    dmaing_ = false;
    if (!wait_isr(kIsrRst)) complain("ne_reset_8390() did not complete.");
    outb(kIsrRst, kIsr);
  }

  // ne.c:ne_get_8390_hdr: insw (or insb).
  PacketHeader get_8390_hdr(std::uint8_t ring_page) override {
    if (dmaing_) complain("DMAing conflict in ne_get_8390_hdr");
    dmaing_ = true;
    outb(kCrNoDma | kCrPage0 | kCrStart, kCr);
    outb(4, kRbcr0);
    outb(0, kRbcr1);
    outb(0, kRsar0);
    outb(ring_page, kRsar1);
    outb(kCrRemoteRead | kCrStart, kCr);
    std::array<std::uint8_t, 4> hdr{};
    if (word16_)
      insw(kNeDataport, hdr, hdr.size() / 2);
    else
      insb(kNeDataport, hdr, hdr.size());
    outb(kIsrRdc, kIsr);
    dmaing_ = false;
    return header_of(hdr);
  }

  // ne.c:ne_block_input: insw and an inb for an odd count (or insb).
  Bytes block_input(std::size_t count, unsigned ring_offset) override {
    if (dmaing_) complain("DMAing conflict in ne_block_input");
    dmaing_ = true;
    Bytes buf(count + 1);
    outb(kCrNoDma | kCrPage0 | kCrStart, kCr);
    outb(count & 0xff, kRbcr0);
    outb(count >> 8, kRbcr1);
    outb(ring_offset & 0xff, kRsar0);
    outb(ring_offset >> 8, kRsar1);
    outb(kCrRemoteRead | kCrStart, kCr);
    if (word16_) {
      insw(kNeDataport, buf, count >> 1);
      if ((count & 1) != 0) buf[count - 1] = inb(kNeDataport);
    } else {
      insb(kNeDataport, buf, count);
    }
    outb(kIsrRdc, kIsr);
    dmaing_ = false;
    buf.resize(count);
    return buf;
  }

  // ne.c:ne_block_output: with NE_RW_BUGFIX, a dummy remote read first (the
  // read-before-write fix); then outsw (or outsb) and a wait for RDC.
  void block_output(std::size_t count, const Bytes& frame, std::uint8_t start_page) override {
    if (word16_ && (count & 1) != 0) ++count;
    const Bytes buf = padded(frame, count);
    if (dmaing_) complain("DMAing conflict in ne_block_output");
    dmaing_ = true;
    outb(kCrPage0 | kCrStart | kCrNoDma, kCr);
    if (rw_bugfix_) {
      outb(kRwBugfixBytes, kRbcr0);
      outb(0x00, kRbcr1);
      outb(kRwBugfixAddress, kRsar0);
      outb(0x00, kRsar1);
      outb(kCrRemoteRead | kCrStart, kCr);
      // udelay(6): the dummy read has happened
    }
    outb(kIsrRdc, kIsr);
    outb(count & 0xff, kRbcr0);
    outb(count >> 8, kRbcr1);
    outb(0x00, kRsar0);
    outb(start_page, kRsar1);
    outb(kCrRemoteWrite | kCrStart, kCr);
    if (word16_)
      outsw(kNeDataport, buf, count >> 1);
    else
      outsb(kNeDataport, buf, count);
    if (!wait_isr(kIsrRdc)) {
      complain("timeout waiting for Tx RDC.");
      reset_8390();
      ns8390_init(true);
    }
    outb(kIsrRdc, kIsr);
    dmaing_ = false;
  }

  bool wait_isr(std::uint8_t bit) {
    for (unsigned poll = 0; poll < kDriverPolls; ++poll)
      if ((inb(kIsr) & bit) != 0) return true;
    return false;
  }

  bool rw_bugfix_;
  std::function<bool()> raised_;
};

}  // namespace vpio::testing_support

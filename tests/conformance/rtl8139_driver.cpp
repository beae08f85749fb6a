// The RTL8139 in the conformance suite: the register accesses of Linux's
// 8139too (drivers/net/ethernet/realtek/8139too.c, 6.1) replayed through
// the guest's window, its buffers in the guest's RAM: the EEPROM read of
// the probe, rtl8139_hw_start, start_xmit's one TSD write per frame, the
// transmit reaping and the receive loop of the interrupt and NAPI poll.
#include "tests/conformance/rtl8139_driver.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "devices/rtl8139/rtl8139.hpp"

namespace vpio::conformance {
namespace {

using namespace devices::rtl8139;

constexpr std::uint32_t kSlotBytes = 1792;  // TX_BUF_SIZE
constexpr std::uint32_t kTxBuffers = 0x1000;
constexpr std::uint32_t kRxRing = kTxBuffers + kTxSlots * kSlotBytes;
constexpr std::uint32_t kRingBytes = 32768;  // RX_BUF_IDX 2
constexpr std::uint32_t kRingAllocated = kRingBytes + 16 + 2048;
constexpr std::uint32_t kRxConfig = 0x0000f78a;
constexpr std::uint32_t kTxConfig = 0x03000680;
constexpr std::uint16_t kInterruptMask = 0xc07f;
constexpr std::uint32_t kTxFlag = 0x00080000;
constexpr std::uint8_t kEepromEnable = kCfg9346Program | kEepromSelect;

class Rtl8139Driver final : public GuestDriver {
 public:
  Rtl8139Driver(PassthroughWindow& window, std::span<std::uint8_t> ram)
      : window_(window), ram_(ram) {}

  bool open() override {
    if (ram_.size() < kRxRing + kRingAllocated) return false;
    write(kHltClk, 1, 'R');
    if (read(kTcr, 4) == 0xffffffffu) return false;  // "Chip not responding"
    reset();
    const unsigned address_bits = read_eeprom(0, 8) == kEepromSignature ? 8 : 6;
    for (unsigned word = 0; word < 3; ++word) {
      const std::uint16_t value = read_eeprom(kEepromMacWord + word, address_bits);
      mac_.bytes[2 * word] = static_cast<std::uint8_t>(value);
      mac_.bytes[2 * word + 1] = static_cast<std::uint8_t>(value >> 8);
    }
    hw_start();
    return true;
  }
  hw::MacAddress mac() const override { return mac_; }

  bool send(const Bytes& frame) override {
    if (cur_tx_ - dirty_tx_ >= kTxSlots) return false;  // netif_stop_queue
    const unsigned entry = cur_tx_ % kTxSlots;
    const std::size_t length = std::max<std::size_t>(frame.size(), 60);
    std::uint8_t* buffer = ram_.data() + kTxBuffers + entry * kSlotBytes;
    std::copy(frame.begin(), frame.end(), buffer);
    std::fill(buffer + frame.size(), buffer + length, 0);
    write(static_cast<std::uint16_t>(kTsd0 + 4 * entry), 4,
          kTxFlag | static_cast<std::uint32_t>(length));
    (void)read(static_cast<std::uint16_t>(kTsd0 + 4 * entry), 4);  // RTL_W32_F
    ++cur_tx_;
    return true;
  }

  // rtl8139_interrupt, then the poll.
  void service() override {
    const std::uint32_t status = read(kIsr, 2);
    if (status == 0xffff) return;
    write(kIsr, 2, status & ~(kIntRxOk | kIntRxOverflow | kIntRxFifoOverflow | kIntTxError));
    reap();
    if ((status & kIntTxError) != 0) write(kIsr, 2, kIntTxError);
    receive();
  }

  std::vector<Bytes> take_received() override { return std::exchange(received_, {}); }

 private:
  std::uint32_t read(std::uint16_t offset, unsigned size) {
    return window_.port_read(offset, size);
  }
  void write(std::uint16_t offset, unsigned size, std::uint32_t value) {
    window_.port_write(offset, size, value);
  }

  void reset() {
    write(kCr, 1, kCrReset);
    for (int i = 0; i < 1000 && (read(kCr, 1) & kCrReset) != 0; ++i) {
    }
  }

  std::uint16_t read_eeprom(unsigned location, unsigned address_bits) {
    const unsigned command = location | (6u << address_bits);
    write(kCfg9346, 1, kEepromEnable & ~kEepromSelect);
    write(kCfg9346, 1, kEepromEnable);
    for (int bit = static_cast<int>(4 + address_bits); bit >= 0; --bit) {
      const std::uint8_t data = (command & (1u << bit)) != 0 ? kEepromDataIn : 0;
      write(kCfg9346, 1, kEepromEnable | data);
      write(kCfg9346, 1, kEepromEnable | data | kEepromClock);
    }
    write(kCfg9346, 1, kEepromEnable);
    unsigned value = 0;
    for (int i = 16; i > 0; --i) {
      write(kCfg9346, 1, kEepromEnable | kEepromClock);
      value = (value << 1) | (read(kCfg9346, 1) & kEepromDataOut);
      write(kCfg9346, 1, kEepromEnable);
    }
    write(kCfg9346, 1, 0);
    return static_cast<std::uint16_t>(value);
  }

  void hw_start() {
    reset();
    write(kCfg9346, 1, kCfg9346ConfigWrite);
    write(kIdr0, 4,
          mac_.bytes[0] | mac_.bytes[1] << 8 | mac_.bytes[2] << 16 |
              static_cast<std::uint32_t>(mac_.bytes[3]) << 24);
    write(kIdr0 + 4, 4, mac_.bytes[4] | mac_.bytes[5] << 8);
    write(kRbstart, 4, kRxRing);
    write(kCr, 1, kCrReceiveEnable | kCrTransmitEnable);
    write(kRcr, 4, kRxConfig);
    write(kTcr, 4, kTxConfig);
    (void)read(kBmsr, 2);
    (void)read(kBmsr, 2);
    write(kConfig3, 1, read(kConfig3, 1) & ~0x20u);
    write(kCfg9346, 1, kCfg9346Normal);
    for (unsigned slot = 0; slot < kTxSlots; ++slot)
      write(static_cast<std::uint16_t>(kTsad0 + 4 * slot), 4, kTxBuffers + slot * kSlotBytes);
    write(kMpc, 4, 0);
    write(kMulint, 2, read(kMulint, 2) & 0xf000);
    write(kImr, 2, kInterruptMask);
    cur_tx_ = dirty_tx_ = 0;
    cur_rx_ = 0;
  }

  void reap() {
    while (dirty_tx_ != cur_tx_) {
      const std::uint32_t status =
          read(static_cast<std::uint16_t>(kTsd0 + 4 * (dirty_tx_ % kTxSlots)), 4);
      if ((status & (kTsdOk | kTsdUnderrun | kTsdAborted)) == 0) break;
      if ((status & kTsdAborted) != 0) write(kTcr, 4, kTcrClearAbort);
      ++dirty_tx_;
    }
  }

  void receive() {
    for (unsigned n = 0; n < 64 && (read(kCr, 1) & kCrBufferEmpty) == 0; ++n) {
      const std::uint32_t offset = cur_rx_ % kRingBytes;
      std::uint32_t header = 0;
      std::memcpy(&header, ram_.data() + kRxRing + offset, sizeof header);
      const std::uint32_t size = header >> 16;
      if ((header & kRxStatusOk) == 0 || size < 8 || size > kSlotBytes + 4) {
        // rtl8139_rx_err: the receiver off and on, RCR again.
        const std::uint32_t command = read(kCr, 1);
        write(kCr, 1, command & ~kCrReceiveEnable);
        write(kCr, 1, command);
        write(kRcr, 4, kRxConfig);
        cur_rx_ = 0;
        break;
      }
      const std::uint8_t* data = ram_.data() + kRxRing + offset + kRxHeaderBytes;
      received_.emplace_back(data, data + size - kFcsBytes);
      cur_rx_ = (cur_rx_ + size + 4 + 3) & ~3u;
      write(kCapr, 2, static_cast<std::uint16_t>(cur_rx_ - 16));
      if ((read(kIsr, 2) & (kIntRxOk | kIntRxOverflow | kIntRxFifoOverflow)) != 0)
        write(kIsr, 2, kIntRxOk | kIntRxOverflow | kIntRxFifoOverflow);
    }
  }

  PassthroughWindow& window_;
  std::span<std::uint8_t> ram_;
  hw::MacAddress mac_{};
  unsigned cur_tx_ = 0, dirty_tx_ = 0;
  std::uint32_t cur_rx_ = 0;
  std::vector<Bytes> received_;
};

}  // namespace

std::unique_ptr<GuestDriver> rtl8139_driver(PassthroughWindow& window,
                                            std::span<std::uint8_t> ram) {
  return std::make_unique<Rtl8139Driver>(window, ram);
}

}  // namespace vpio::conformance

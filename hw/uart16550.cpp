// The 16550A UART.
#include "hw/uart16550.hpp"

namespace vpio::hw {

Uart16550::Uart16550(std::function<void(std::uint8_t)> transmit, std::function<void(bool)> irq_line)
    : transmit_(std::move(transmit)), irq_line_(std::move(irq_line)) {}

std::uint8_t Uart16550::line_status() const noexcept {
  // The transmitter is always idle: a byte leaves the moment it is written.
  std::uint8_t lsr = kLsrThre | kLsrTemt;
  if (rx_count_ > 0) lsr |= kLsrDataReady;
  if (overrun_) lsr |= kLsrOverrun;
  return lsr;
}

// The highest-priority pending source, as a 16550 ranks them.
std::uint8_t Uart16550::interrupt_id() const noexcept {
  std::uint8_t id = kIirNoInterrupt;
  if ((ier_ & kIerLineStatus) && overrun_)
    id = kIirLineStatus;
  else if ((ier_ & kIerRxData) && rx_count_ > 0)
    id = kIirRxData;
  else if ((ier_ & kIerThre) && thre_pending_)
    id = kIirThre;
  return static_cast<std::uint8_t>(id | (fifos_enabled_ ? kIirFifosEnabled : 0));
}

std::uint8_t Uart16550::read(std::uint16_t offset) {
  const bool dlab = (lcr_ & kLcrDlab) != 0;
  std::uint8_t value = 0xff;
  switch (offset) {
    case kRbrThr:
      if (dlab) {
        value = dll_;
      } else {
        value = 0;
        if (rx_count_ > 0) {
          value = rx_[rx_head_];
          rx_head_ = (rx_head_ + 1) % kRxFifoBytes;
          --rx_count_;
        }
      }
      break;
    case kIer: value = dlab ? dlm_ : ier_; break;
    case kIirFcr:
      value = interrupt_id();
      if ((value & 0x0f) == kIirThre) thre_pending_ = false;
      break;
    case kLcr: value = lcr_; break;
    case kMcr: value = mcr_; break;
    case kLsr:
      value = line_status();
      overrun_ = false;
      break;
    case kMsr:
      if (mcr_ & kMcrLoop) {
        // The modem outputs come back as its inputs.
        value = static_cast<std::uint8_t>(
            ((mcr_ & kMcrRts) ? kMsrCts : 0) | ((mcr_ & kMcrDtr) ? kMsrDsr : 0) |
            ((mcr_ & kMcrOut1) ? kMsrRi : 0) | ((mcr_ & kMcrOut2) ? kMsrDcd : 0));
      } else {
        value = kMsrDcd | kMsrDsr | kMsrCts;  // a terminal is always there
      }
      break;
    case kScr: value = scr_; break;
    default: break;
  }
  update_irq();
  return value;
}

void Uart16550::write(std::uint16_t offset, std::uint8_t value) {
  const bool dlab = (lcr_ & kLcrDlab) != 0;
  switch (offset) {
    case kRbrThr:
      if (dlab) {
        dll_ = value;
        break;
      }
      if (mcr_ & kMcrLoop) {
        receive(value);
      } else {
        ++bytes_sent_;
        if (transmit_) transmit_(value);
      }
      thre_pending_ = true;  // THR is empty again at once
      break;
    case kIer:
      if (dlab) {
        dlm_ = value;
        break;
      }
      // Enabling the THRE interrupt while THR is empty raises it at once.
      if ((value & kIerThre) && !(ier_ & kIerThre)) thre_pending_ = true;
      ier_ = value & kIerMask;
      break;
    case kIirFcr: {
      const bool enable = (value & kFcrEnable) != 0;
      if (enable != fifos_enabled_ || (value & kFcrClearRx)) rx_head_ = rx_count_ = 0;
      fifos_enabled_ = enable;
      break;
    }
    case kLcr: lcr_ = value; break;
    case kMcr: mcr_ = value & kMcrMask; break;
    case kScr: scr_ = value; break;
    default: break;  // LSR and MSR are read-only
  }
  update_irq();
}

void Uart16550::receive(std::uint8_t byte) {
  if (rx_count_ == (fifos_enabled_ ? kRxFifoBytes : 1)) {
    overrun_ = true;
    return;
  }
  rx_[(rx_head_ + rx_count_) % kRxFifoBytes] = byte;
  ++rx_count_;
}

// On a PC the UART's interrupt reaches the PIC through OUT2; in loopback
// OUT2 is looped back instead of driving the pin.
void Uart16550::update_irq() {
  const bool level =
      (interrupt_id() & kIirNoInterrupt) == 0 && (mcr_ & kMcrOut2) && !(mcr_ & kMcrLoop);
  if (level == irq_level_) return;
  irq_level_ = level;
  if (irq_line_) irq_line_(level);
}

}  // namespace vpio::hw

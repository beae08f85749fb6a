// A 16550A UART, enough of it for Linux's 8250 driver to probe it, print
// through it polled (the console) and interrupt-driven (a tty), with its
// interrupt line gated by MCR.OUT2 as on a PC. Covers the eight registers,
// the divisor latch (DLAB), the FIFO-enabled bits of IIR, loopback (bytes
// sent come back, modem outputs appear as modem inputs). Leaves out: line
// speed and timing (a byte is sent the moment it is written), input from
// the host, break and parity errors, modem status interrupts, the 16-byte
// transmit FIFO (THR is always empty again at once). Knows nothing of guests
// or KVM.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace vpio::hw {

class Uart16550 {
 public:
  static constexpr std::uint16_t kWindowPorts = 8;

  // Register offsets (DLAB selects DLL/DLM at 0 and 1).
  static constexpr std::uint16_t kRbrThr = 0, kIer = 1, kIirFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5,
                                 kMsr = 6, kScr = 7;
  static constexpr std::uint8_t kIerRxData = 0x01, kIerThre = 0x02, kIerLineStatus = 0x04,
                                kIerModemStatus = 0x08, kIerMask = 0x0f;
  static constexpr std::uint8_t kIirNoInterrupt = 0x01, kIirLineStatus = 0x06, kIirRxData = 0x04,
                                kIirThre = 0x02, kIirFifosEnabled = 0xc0;
  static constexpr std::uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02;
  static constexpr std::uint8_t kLcrDlab = 0x80;
  static constexpr std::uint8_t kMcrDtr = 0x01, kMcrRts = 0x02, kMcrOut1 = 0x04, kMcrOut2 = 0x08,
                                kMcrLoop = 0x10, kMcrMask = 0x1f;
  static constexpr std::uint8_t kLsrDataReady = 0x01, kLsrOverrun = 0x02, kLsrThre = 0x20,
                                kLsrTemt = 0x40;
  static constexpr std::uint8_t kMsrCts = 0x10, kMsrDsr = 0x20, kMsrRi = 0x40, kMsrDcd = 0x80;
  static constexpr std::size_t kRxFifoBytes = 16;

  // `transmit` gets every byte the guest sends (not in loopback); `irq_line`
  // the interrupt line's new level each time it changes.
  Uart16550(std::function<void(std::uint8_t)> transmit, std::function<void(bool)> irq_line);

  std::uint8_t read(std::uint16_t offset);
  void write(std::uint16_t offset, std::uint8_t value);

  bool irq_asserted() const noexcept { return irq_level_; }
  std::uint64_t bytes_sent() const noexcept { return bytes_sent_; }

 private:
  std::uint8_t interrupt_id() const noexcept;
  std::uint8_t line_status() const noexcept;
  void receive(std::uint8_t byte);
  void update_irq();

  std::function<void(std::uint8_t)> transmit_;
  std::function<void(bool)> irq_line_;
  std::uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, dll_ = 0, dlm_ = 0;
  bool fifos_enabled_ = false;
  bool thre_pending_ = false;  // cleared by reading IIR while it names THRE, or writing THR
  bool overrun_ = false;
  std::array<std::uint8_t, kRxFifoBytes> rx_{};
  std::size_t rx_head_ = 0, rx_count_ = 0;
  bool irq_level_ = false;
  std::uint64_t bytes_sent_ = 0;
};

}  // namespace vpio::hw

// The template device: the smallest network card worth sharing, written
// for a researcher to copy when starting a model of a new device
// (docs/model-authoring.md walks through it, file by file). It is vpio's
// own invention, not a real card: no stock driver knows it, so only flat
// test guests drive it. Its 16-port window:
//
//   +0x0 CMD    (w)  kCmdSend: send TXLEN bytes of the transmit buffer;
//                    kCmdNext: drop the frame at the head of the receive
//                    queue; kCmdReset: reset the card.
//   +0x1 STATUS (r)  kStatusReceived: a frame waits; kStatusSent: a send
//                    ended. (w) 1 bits clear those bits.
//   +0x2 LEN    (16-bit) w: TXLEN, the next send's length. r: the waiting
//                    frame's length (0: none).
//   +0x4 DATA   (8 or 16-bit, rep ins/outs) w: the next bytes of the
//                    transmit buffer, from TXPTR (0 after a send or a
//                    reset); r: the next bytes of the waiting frame.
//   +0x6 IMR         which STATUS bits raise the interrupt line.
//   +0x7 CONFIG      kConfigPromiscuous: receive every frame, not only the
//                    card's own MAC and group addresses.
//   +0x8..0xd MAC (r) the card's address.
//
// Its MMIO window (kMmioBytes, two pages), for a guest that has one placed
// (`--nic ...,mmio=ADDRESS`): page 0 holds the same 16 registers at the
// same offsets (the rest of the page reads 0xff and ignores writes); page 1
// is the transmit buffer as plain memory (its first kTxBufferBytes count),
// which a guest may have mapped and fill with no exit before a kCmdSend.
//
// Hardened against bad programming: a send of a TXLEN that is no Ethernet
// frame's, or DATA past the transmit buffer, is refused and counted, never
// performed.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <vector>

#include "hw/net/mac_address.hpp"
#include "hw/net/network_chip.hpp"

namespace vpio::devices {

namespace template_nic {
inline constexpr std::uint16_t kCmd = 0x0, kStatus = 0x1, kLen = 0x2, kData = 0x4, kImr = 0x6,
                               kConfig = 0x7, kMac = 0x8;
inline constexpr std::uint8_t kCmdSend = 0x01, kCmdNext = 0x02, kCmdReset = 0x80;
inline constexpr std::uint8_t kStatusReceived = 0x01, kStatusSent = 0x02;
inline constexpr std::uint8_t kConfigPromiscuous = 0x01;
inline constexpr std::uint16_t kWindowPorts = 16;
inline constexpr std::size_t kTxBufferBytes = 2048;
inline constexpr std::size_t kRxQueueFrames = 8;
inline constexpr std::uint16_t kMinSendBytes = 14;  // destination, source, type
inline constexpr std::uint32_t kMmioBytes = 2 * hw::kMmioPageBytes;
inline constexpr std::uint32_t kMmioTxPage = 1;  // the page holding the transmit buffer
}  // namespace template_nic

class TemplateNic final : public hw::NetworkChip {
 public:
  explicit TemplateNic(hw::MacAddress mac) : mac_(mac) {}

  std::uint32_t read(std::uint16_t offset, unsigned size) override;
  void write(std::uint16_t offset, unsigned size, std::uint32_t value) override;
  void read_string(std::uint16_t offset, unsigned size, std::span<std::uint8_t> out) override;
  void write_string(std::uint16_t offset, unsigned size, std::span<const std::uint8_t> in) override;
  // A frame from the wire: queued if the filter takes it and there is room.
  void deliver(std::span<const std::uint8_t> frame) override { accept(frame); }
  // deliver(), saying whether the frame was queued.
  bool accept(std::span<const std::uint8_t> frame);
  void set_transmit_sink(hw::FrameSink* sink) override;
  void set_irq_line(std::function<void(bool asserted)> line) override;
  hw::NetworkChipCounts counts() const override;
  std::uint32_t mmio_bytes() const noexcept override { return template_nic::kMmioBytes; }
  std::uint64_t mmio_read(std::uint32_t offset, unsigned size) override;
  void mmio_write(std::uint32_t offset, unsigned size, std::uint64_t value) override;
  std::uint8_t* mmio_page(std::uint32_t page) noexcept override {
    return page == template_nic::kMmioTxPage ? tx_.data() : nullptr;
  }

  const hw::MacAddress& mac() const noexcept { return mac_; }
  // Whether a frame of this size would be queued now.
  bool has_room() const;
  // The transmit buffer's first `bytes` (for the monitor's send).
  std::vector<std::uint8_t> tx_bytes(std::size_t bytes) const;

 private:
  using Lock = std::unique_lock<std::mutex>;
  // Each returns whether the line must be re-evaluated after the lock drops.
  void write_byte_locked(std::uint16_t offset, std::uint8_t value, std::vector<std::uint8_t>& sent);
  void reset_locked();
  bool filter_takes(std::span<const std::uint8_t> frame) const;
  // Updates the line under the lock; calls it (and the sink) after.
  void finish(Lock& lock, std::vector<std::uint8_t> sent);

  mutable std::mutex mutex_;
  const hw::MacAddress mac_;
  // The transmit buffer, a whole page so that a guest may map it: only its
  // first kTxBufferBytes are sent or written through DATA.
  alignas(hw::kMmioPageBytes) std::array<std::uint8_t, hw::kMmioPageBytes> tx_{};
  std::size_t tx_ptr_ = 0;
  std::uint16_t tx_len_ = 0;
  std::deque<std::vector<std::uint8_t>> rx_;
  std::size_t rx_ptr_ = 0;
  std::uint8_t status_ = 0, imr_ = 0, config_ = 0;
  bool line_ = false;
  std::function<void(bool)> irq_line_;
  hw::FrameSink* sink_ = nullptr;
  hw::NetworkChipCounts counts_;
};

}  // namespace vpio::devices

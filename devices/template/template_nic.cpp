// The template device's chip.
#include "devices/template/template_nic.hpp"

#include <algorithm>

namespace vpio::devices {
namespace reg = template_nic;

namespace {

// DATA decodes at +0x4 and +0x5, so that a 16-bit access moves two bytes of it.
bool is_data(std::uint16_t offset) { return offset == reg::kData || offset == reg::kData + 1; }

}  // namespace

std::uint32_t TemplateNic::read(std::uint16_t offset, unsigned size) {
  Lock lock(mutex_);
  std::uint32_t value = 0;
  for (unsigned i = 0; i < size; ++i) {
    const auto at = static_cast<std::uint16_t>(offset + i);
    std::uint8_t byte = 0xff;
    if (at == reg::kStatus) {
      byte = status_;
    } else if (at == reg::kLen || at == reg::kLen + 1) {
      const std::size_t len = rx_.empty() ? 0 : rx_.front().size();
      byte = static_cast<std::uint8_t>(at == reg::kLen ? len & 0xff : len >> 8);
    } else if (is_data(at)) {
      byte = !rx_.empty() && rx_ptr_ < rx_.front().size() ? rx_.front()[rx_ptr_++] : 0;
    } else if (at == reg::kImr) {
      byte = imr_;
    } else if (at == reg::kConfig) {
      byte = config_;
    } else if (at >= reg::kMac && at < reg::kMac + 6) {
      byte = mac_.bytes[at - reg::kMac];
    }
    value |= std::uint32_t{byte} << (8 * i);
  }
  return value;
}

void TemplateNic::read_string(std::uint16_t offset, unsigned size, std::span<std::uint8_t> out) {
  for (std::size_t i = 0; i + size <= out.size(); i += size) {
    const std::uint32_t v = read(offset, size);
    for (unsigned b = 0; b < size; ++b) out[i + b] = static_cast<std::uint8_t>(v >> (8 * b));
  }
}

void TemplateNic::write(std::uint16_t offset, unsigned size, std::uint32_t value) {
  Lock lock(mutex_);
  std::vector<std::uint8_t> sent;
  for (unsigned i = 0; i < size; ++i)
    write_byte_locked(static_cast<std::uint16_t>(offset + i),
                      static_cast<std::uint8_t>(value >> (8 * i)), sent);
  finish(lock, std::move(sent));
}

void TemplateNic::write_string(std::uint16_t offset, unsigned size,
                               std::span<const std::uint8_t> in) {
  Lock lock(mutex_);
  std::vector<std::uint8_t> sent;
  for (std::size_t i = 0; i + size <= in.size(); i += size)
    for (unsigned b = 0; b < size; ++b)
      write_byte_locked(static_cast<std::uint16_t>(offset + b), in[i + b], sent);
  finish(lock, std::move(sent));
}

void TemplateNic::write_byte_locked(std::uint16_t offset, std::uint8_t value,
                                    std::vector<std::uint8_t>& sent) {
  if (offset == reg::kCmd) {
    if ((value & reg::kCmdReset) != 0) {
      reset_locked();
      return;
    }
    if ((value & reg::kCmdNext) != 0 && !rx_.empty()) {
      rx_.pop_front();
      rx_ptr_ = 0;
    }
    if ((value & reg::kCmdSend) != 0) {
      if (tx_len_ < reg::kMinSendBytes || tx_len_ > hw::kMaxFrameBytes) {
        ++counts_.bad_programming;  // no Ethernet frame's length: nothing sent
      } else {
        sent.assign(tx_.begin(), tx_.begin() + tx_len_);
        ++counts_.frames_sent;
      }
      tx_ptr_ = 0;
      status_ |= reg::kStatusSent;
    }
    if (rx_.empty()) status_ &= static_cast<std::uint8_t>(~reg::kStatusReceived);
  } else if (offset == reg::kStatus) {
    status_ &= static_cast<std::uint8_t>(~value);
    if (!rx_.empty()) status_ |= reg::kStatusReceived;  // still waiting: not cleared
  } else if (offset == reg::kLen) {
    tx_len_ = static_cast<std::uint16_t>((tx_len_ & 0xff00) | value);
  } else if (offset == reg::kLen + 1) {
    tx_len_ = static_cast<std::uint16_t>((tx_len_ & 0x00ff) | (value << 8));
  } else if (is_data(offset)) {
    if (tx_ptr_ < reg::kTxBufferBytes)
      tx_[tx_ptr_++] = value;
    else
      ++counts_.bad_programming;  // past the buffer: dropped
  } else if (offset == reg::kImr) {
    imr_ = value;
  } else if (offset == reg::kConfig) {
    config_ = value & reg::kConfigPromiscuous;
  }
}

void TemplateNic::reset_locked() {
  tx_.fill(0);
  tx_ptr_ = 0;
  tx_len_ = 0;
  rx_.clear();
  rx_ptr_ = 0;
  status_ = imr_ = config_ = 0;
}

bool TemplateNic::filter_takes(std::span<const std::uint8_t> frame) const {
  if (frame.size() < 6) return false;
  if ((config_ & reg::kConfigPromiscuous) != 0) return true;
  if ((frame[0] & 1) != 0) return true;  // a group address
  return std::equal(mac_.bytes.begin(), mac_.bytes.end(), frame.begin());
}

bool TemplateNic::has_room() const {
  Lock lock(mutex_);
  return rx_.size() < reg::kRxQueueFrames;
}

bool TemplateNic::accept(std::span<const std::uint8_t> frame) {
  Lock lock(mutex_);
  if (frame.size() > hw::kMaxFrameBytes || !filter_takes(frame) ||
      rx_.size() >= reg::kRxQueueFrames) {
    ++counts_.frames_dropped;
    return false;
  }
  rx_.emplace_back(frame.begin(), frame.end());
  status_ |= reg::kStatusReceived;
  ++counts_.frames_received;
  finish(lock, {});
  return true;
}

std::vector<std::uint8_t> TemplateNic::tx_bytes(std::size_t bytes) const {
  Lock lock(mutex_);
  bytes = std::min(bytes, reg::kTxBufferBytes);
  return {tx_.begin(), tx_.begin() + static_cast<std::ptrdiff_t>(bytes)};
}

// Page 0 is the register window; wider than 4 bytes, an access is two of 4.
std::uint64_t TemplateNic::mmio_read(std::uint32_t offset, unsigned size) {
  if (offset >= reg::kMmioBytes || size > reg::kMmioBytes - offset) return ~std::uint64_t{0};
  if (offset < hw::kMmioPageBytes) {
    if (size <= 4) return read(static_cast<std::uint16_t>(offset), size);
    return read(static_cast<std::uint16_t>(offset), 4) |
           std::uint64_t{read(static_cast<std::uint16_t>(offset + 4), size - 4)} << 32;
  }
  Lock lock(mutex_);
  std::uint64_t value = 0;
  for (unsigned i = 0; i < size; ++i)
    value |= std::uint64_t{tx_[offset - hw::kMmioPageBytes + i]} << (8 * i);
  return value;
}

void TemplateNic::mmio_write(std::uint32_t offset, unsigned size, std::uint64_t value) {
  if (offset >= reg::kMmioBytes || size > reg::kMmioBytes - offset) return;
  if (offset < hw::kMmioPageBytes) {
    const unsigned low = size <= 4 ? size : 4;
    write(static_cast<std::uint16_t>(offset), low, static_cast<std::uint32_t>(value));
    if (size > 4)
      write(static_cast<std::uint16_t>(offset + 4), size - 4, static_cast<std::uint32_t>(value >> 32));
    return;
  }
  Lock lock(mutex_);
  for (unsigned i = 0; i < size; ++i)
    tx_[offset - hw::kMmioPageBytes + i] = static_cast<std::uint8_t>(value >> (8 * i));
}

void TemplateNic::set_transmit_sink(hw::FrameSink* sink) {
  Lock lock(mutex_);
  sink_ = sink;
}

void TemplateNic::set_irq_line(std::function<void(bool asserted)> line) {
  Lock lock(mutex_);
  irq_line_ = std::move(line);
  if (line_ && irq_line_) {
    auto call = irq_line_;
    lock.unlock();
    call(true);
  }
}

hw::NetworkChipCounts TemplateNic::counts() const {
  Lock lock(mutex_);
  return counts_;
}

void TemplateNic::finish(Lock& lock, std::vector<std::uint8_t> sent) {
  const bool level = (status_ & imr_) != 0;
  const bool changed = level != line_;
  line_ = level;
  hw::FrameSink* sink = sink_;
  auto line = changed ? irq_line_ : std::function<void(bool)>{};
  lock.unlock();
  if (sink != nullptr && !sent.empty()) sink->deliver(sent);
  if (line) line(level);
}

}  // namespace vpio::devices

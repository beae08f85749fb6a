// The guest debug console.
#include "vmm/console.hpp"

namespace vpio {

void ConsoleSink::line(std::string_view guest, std::string_view text) {
  std::lock_guard lock(mutex_);
  if (prefix_) out_ << '[' << guest << "] ";
  out_ << text << '\n';
  out_.flush();
}

void ConsolePort::port_write(std::uint16_t, unsigned, std::uint32_t value) noexcept {
  // Only the low byte is a character, whatever the access width.
  put(static_cast<char>(value & 0xff));
}

void ConsolePort::port_write_string(std::uint16_t, unsigned size,
                                    std::span<const std::uint8_t> data) noexcept {
  for (std::size_t i = 0; i + size <= data.size(); i += size) put(static_cast<char>(data[i]));
}

void ConsolePort::put(char c) noexcept {
  try {
    if (transcript_.size() < kTranscriptLimit) transcript_.push_back(c);
    if (c == '\n') {
      if (sink_ != nullptr) sink_->line(guest_, pending_line_);
      pending_line_.clear();
    } else if (c != '\r') {
      pending_line_.push_back(c);
      if (pending_line_.size() >= kMaxLineBytes) flush();
    }
  } catch (...) {
    // Out of memory or a failing stream: console output is best effort.
  }
}

void ConsolePort::flush() noexcept {
  if (pending_line_.empty()) return;
  try {
    if (sink_ != nullptr) sink_->line(guest_, pending_line_);
  } catch (...) {
  }
  pending_line_.clear();
}

}  // namespace vpio

// The guest debug console.
#include "vmm/console.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace vpio {

void ConsoleSink::line(std::string_view guest, std::string_view text) {
  std::lock_guard lock(mutex_);
  if (const auto file = files_.find(guest); file != files_.end()) {
    File& f = file->second;
    if (f.error) return;
    std::string whole(text);
    whole += '\n';
    std::string_view rest = whole;
    while (!rest.empty()) {
      const ssize_t written = ::write(f.fd.get(), rest.data(), rest.size());
      if (written < 0 && errno == EINTR) continue;
      if (written < 0) {
        f.error = {errno, std::generic_category()};
        return;
      }
      rest.remove_prefix(static_cast<std::size_t>(written));
    }
    return;
  }
  if (before_line_) before_line_();
  if (prefix_) out_ << '[' << guest << "] ";
  out_ << text << '\n';
  out_.flush();
}

std::error_code ConsoleSink::send_to_file(const std::string& guest, const std::string& path) {
  constexpr mode_t kNewFileMode = 0666;  // less the umask
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kNewFileMode));
  if (!fd.valid()) return {errno, std::generic_category()};
  std::lock_guard lock(mutex_);
  files_[guest] = File{path, std::move(fd), {}};
  return {};
}

void ConsoleSink::set_before_line(std::function<void()> before_line) {
  std::lock_guard lock(mutex_);
  before_line_ = std::move(before_line);
}

std::vector<ConsoleSink::FileError> ConsoleSink::file_errors() const {
  std::lock_guard lock(mutex_);
  std::vector<FileError> errors;
  for (const auto& [guest, file] : files_)
    if (file.error) errors.push_back({file.path, file.error});
  return errors;
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

SerialConsole::SerialConsole(ConsolePort& console, std::function<void(bool)> irq_line)
    : uart_([&console](std::uint8_t byte) { console.write_byte(byte); }, std::move(irq_line)) {}

std::uint32_t SerialConsole::port_read(std::uint16_t offset, unsigned size) noexcept {
  std::uint32_t value = 0;
  try {
    for (unsigned i = 0; i < size && i < 4; ++i) {
      const auto at = static_cast<std::uint16_t>(offset + i);
      const std::uint32_t byte = at < hw::Uart16550::kWindowPorts ? uart_.read(at) : 0xffu;
      value |= byte << (8 * i);
    }
  } catch (...) {
    return ~0u;  // the irq line's callback failed
  }
  return value;
}

void SerialConsole::port_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept {
  try {
    for (unsigned i = 0; i < size && i < 4; ++i) {
      const auto at = static_cast<std::uint16_t>(offset + i);
      if (at < hw::Uart16550::kWindowPorts)
        uart_.write(at, static_cast<std::uint8_t>(value >> (8 * i)));
    }
  } catch (...) {
  }
}

}  // namespace vpio

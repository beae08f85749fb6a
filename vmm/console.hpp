// The debug console of the guest ABI: bytes written to port 0xE9 become the
// guest's output lines, prefixed with the guest's name when several run, or
// written to a file of the guest's own (`--console-dir`). A Linux guest's
// COM1 (SerialConsole) feeds the same lines.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "base/fd.hpp"
#include "hooks/port_bus.hpp"
#include "hw/uart16550.hpp"

namespace vpio {

// Where finished console lines of every guest go: one stream, interleaved
// (prefixed "[name] " when several guests share it), and for guests given a
// file, that file, unprefixed. Thread-safe.
class ConsoleSink {
 public:
  ConsoleSink(std::ostream& out, bool prefix_lines) : out_(out), prefix_(prefix_lines) {}
  void line(std::string_view guest, std::string_view text);

  // From now on `guest`'s lines go to `path` alone, created or truncated
  // here: the error of the open, or an empty code.
  std::error_code send_to_file(const std::string& guest, const std::string& path);
  struct FileError {
    std::string path;
    std::error_code error;
  };
  // Console files whose writes failed, each with its first error (no more
  // lines were written to it after that).
  std::vector<FileError> file_errors() const;
  // Called under the sink's lock before a line goes to the shared stream, to
  // take a progress line off the terminal first; empty: nothing.
  void set_before_line(std::function<void()> before_line);

 private:
  struct File {
    std::string path;
    Fd fd;
    std::error_code error;
  };
  mutable std::mutex mutex_;
  std::ostream& out_;
  bool prefix_;
  std::map<std::string, File, std::less<>> files_;
  std::function<void()> before_line_;
};

class ConsolePort final : public PortDevice {
 public:
  static constexpr std::uint16_t kPort = 0xe9;
  // Keep at most this much of a guest's output for inspection (tests, reports).
  static constexpr std::size_t kTranscriptLimit = 16u << 20;
  // A guest that never writes a newline still gets its output out in lines of
  // this length, and cannot grow the VMM's memory.
  static constexpr std::size_t kMaxLineBytes = 4096;

  ConsolePort(std::string guest, ConsoleSink* sink) : guest_(std::move(guest)), sink_(sink) {}
  ~ConsolePort() override { flush(); }

  std::uint32_t port_read(std::uint16_t, unsigned) noexcept override { return 0xe9; }
  void port_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept override;
  void port_write_string(std::uint16_t offset, unsigned size,
                         std::span<const std::uint8_t> data) noexcept override;
  // One byte of the guest's console from another device (its UART).
  void write_byte(std::uint8_t byte) noexcept { put(static_cast<char>(byte)); }
  // Emits a final partial line, if any.
  void flush() noexcept;
  const std::string& transcript() const noexcept { return transcript_; }

 private:
  void put(char c) noexcept;

  std::string guest_;
  ConsoleSink* sink_;
  std::string pending_line_;
  std::string transcript_;
};

// COM1 of a Linux guest (`console=ttyS0`): a 16550A at 0x3f8, IRQ 4, whose
// output joins the guest's console lines.
class SerialConsole final : public PortDevice {
 public:
  static constexpr std::uint16_t kPort = 0x3f8;
  static constexpr unsigned kIrq = 4;

  // irq_line: the UART's interrupt line level, each time it changes.
  SerialConsole(ConsolePort& console, std::function<void(bool)> irq_line);

  // Wider accesses act as byte accesses to consecutive registers.
  std::uint32_t port_read(std::uint16_t offset, unsigned size) noexcept override;
  void port_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept override;

  const hw::Uart16550& uart() const noexcept { return uart_; }

 private:
  hw::Uart16550 uart_;
};

}  // namespace vpio

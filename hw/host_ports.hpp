// The host's x86 port space, and the real one behind ioperm(): what a device
// reached by host port I/O (a real ISA card) is driven through.
#pragma once

#include <cstdint>
#include <span>

namespace vpio::hw {

// The host's x86 port space, abstract so that tests can put a chip behind it.
// size is 1, 2 or 4; the string operations move data.size() / size elements.
class HostPorts {
 public:
  virtual ~HostPorts() = default;

  // Grants this process access to ports [base, base + count); throws when it
  // cannot.
  virtual void request(std::uint16_t base, std::uint16_t count) = 0;

  virtual std::uint8_t inb(std::uint16_t port) = 0;
  virtual std::uint16_t inw(std::uint16_t port) = 0;
  virtual std::uint32_t inl(std::uint16_t port) = 0;
  virtual void outb(std::uint16_t port, std::uint8_t value) = 0;
  virtual void outw(std::uint16_t port, std::uint16_t value) = 0;
  virtual void outl(std::uint16_t port, std::uint32_t value) = 0;
  virtual void ins(std::uint16_t port, unsigned size, std::span<std::uint8_t> data) = 0;
  virtual void outs(std::uint16_t port, unsigned size, std::span<const std::uint8_t> data) = 0;
};

// The real port space, by ioperm() and the in/out instructions. ioperm grants
// the calling thread and the threads it creates afterwards, so request ports
// before starting the threads that use them. Never use this from unit tests:
// they run on real machines whose ports must not be touched.
class SystemPorts final : public HostPorts {
 public:
  // Throws std::invalid_argument for an empty range or one past 0xffff, and
  // std::system_error naming the range when ioperm refuses it.
  void request(std::uint16_t base, std::uint16_t count) override;

  std::uint8_t inb(std::uint16_t port) override;
  std::uint16_t inw(std::uint16_t port) override;
  std::uint32_t inl(std::uint16_t port) override;
  void outb(std::uint16_t port, std::uint8_t value) override;
  void outw(std::uint16_t port, std::uint16_t value) override;
  void outl(std::uint16_t port, std::uint32_t value) override;
  void ins(std::uint16_t port, unsigned size, std::span<std::uint8_t> data) override;
  void outs(std::uint16_t port, unsigned size, std::span<const std::uint8_t> data) override;
};

}  // namespace vpio::hw

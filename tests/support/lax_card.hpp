// A stand-in card for tests and the fuzzer whose data port is as lax as
// QEMU's NE2000 (hw/net/ne2000.c in QEMU): reads move on past RBCR, forever,
// at RSAR rounded down to even for wide ones, and a 32-bit write moves four
// bytes once any of the count is left. The monitor must keep a guest to its
// validated range on such a card too (issue 13). Everything else is the chip.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "devices/ne2000/chip_device.hpp"

namespace vpio::testing_support {

class LaxCard final : public hw::PhysicalDevice {
 public:
  explicit LaxCard(devices::ChipDevice& chip) : chip_(chip) {}
  std::string describe() const override { return "lax NE2000 data port"; }
  std::uint32_t read(std::uint16_t offset, unsigned size) override {
    if (offset != devices::Ne2000::kDataPort) return chip_.read(offset, size);
    std::uint32_t value = 0;
    move(size, [&](std::uint8_t& byte, unsigned i) { value |= std::uint32_t{byte} << (8 * i); });
    return value;
  }
  void write(std::uint16_t offset, unsigned size, std::uint32_t value) override {
    if (offset != devices::Ne2000::kDataPort || size != 4) return chip_.write(offset, size, value);
    if (chip_.chip().save().remote_count == 0) return;
    move(size, [&](std::uint8_t& byte, unsigned i) {
      byte = static_cast<std::uint8_t>(value >> (8 * i));
    });
  }
  void read_string(std::uint16_t offset, unsigned size, std::span<std::uint8_t> data) override {
    for (std::size_t at = 0; at + size <= data.size(); at += size) {
      const std::uint32_t v = read(offset, size);
      for (unsigned i = 0; i < size; ++i) data[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
    }
  }
  void write_string(std::uint16_t offset, unsigned size,
                    std::span<const std::uint8_t> data) override {
    for (std::size_t at = 0; at + size <= data.size(); at += size) {
      std::uint32_t v = 0;
      for (unsigned i = 0; i < size; ++i) v |= std::uint32_t{data[at + i]} << (8 * i);
      write(offset, size, v);
    }
  }
  void set_interrupt_handler(std::function<void()> handler) override {
    chip_.set_interrupt_handler(std::move(handler));
  }

 private:
  // One access of `size` bytes of card memory at RSAR, as QEMU's card moves it.
  template <typename Byte>
  void move(unsigned size, Byte&& byte) {
    devices::Ne2000State s = chip_.chip().save();
    const unsigned start = size >= 2 ? s.remote_address & ~1u : s.remote_address;
    for (unsigned i = 0; i < size; ++i) {
      const unsigned address = start + i;
      std::uint8_t scratch = 0xff;
      if (address >= devices::ne2000::kMemoryStart &&
          address < devices::ne2000::kMemoryStart + devices::ne2000::kMemoryBytes)
        byte(s.memory[address - devices::ne2000::kMemoryStart], i);
      else
        byte(scratch, i);
    }
    s.remote_address = static_cast<std::uint16_t>(s.remote_address + size);
    if (s.remote_count <= size) {
      if (s.remote_count != 0) s.interrupt_status |= devices::ne2000::kIsrRdc;
      s.remote_count = 0;
    } else {
      s.remote_count = static_cast<std::uint16_t>(s.remote_count - size);
    }
    chip_.chip().restore(s);
  }
  devices::ChipDevice& chip_;
};

}  // namespace vpio::testing_support

// An NE2000 chip on a wire, standing in for a physical card.
#pragma once

#include "devices/ne2000/ne2000.hpp"
#include "hw/physical_device.hpp"

namespace vpio::devices {

class ChipDevice final : public hw::StandInDevice {
 public:
  explicit ChipDevice(hw::MacAddress mac) : chip_(mac) {}

  Ne2000& chip() noexcept { return chip_; }
  hw::NetworkChip& network_chip() noexcept override { return chip_; }
  std::string describe() const override { return "emulated NE2000 (stand-in for hardware)"; }
  std::uint32_t read(std::uint16_t offset, unsigned size) override {
    return chip_.read(offset, size);
  }
  void write(std::uint16_t offset, unsigned size, std::uint32_t value) override {
    chip_.write(offset, size, value);
  }
  void read_string(std::uint16_t offset, unsigned size, std::span<std::uint8_t> data) override {
    chip_.read_string(offset, size, data);
  }
  void write_string(std::uint16_t offset, unsigned size,
                    std::span<const std::uint8_t> data) override {
    chip_.write_string(offset, size, data);
  }
  // The line's rising edge is the interrupt (ISA edge semantics).
  void set_interrupt_handler(std::function<void()> handler) override {
    chip_.set_irq_line([h = std::move(handler)](bool asserted) {
      if (asserted && h) h();
    });
  }

 private:
  Ne2000 chip_;
};

}  // namespace vpio::devices

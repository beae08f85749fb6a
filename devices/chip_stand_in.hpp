// An emulated chip standing in for a physical card (`hw=chip`), for any
// device whose chip is a hw::NetworkChip made from a MAC: what a new device
// needs for its stand-in, with nothing to write.
#pragma once

#include <functional>
#include <string>
#include <utility>

#include "hw/net/mac_address.hpp"
#include "hw/physical_device.hpp"

namespace vpio::devices {

template <typename Chip>
class ChipStandIn : public hw::StandInDevice {
 public:
  ChipStandIn(std::string description, hw::MacAddress mac)
      : description_(std::move(description)), chip_(mac) {}

  Chip& chip() noexcept { return chip_; }
  hw::NetworkChip& network_chip() noexcept override { return chip_; }
  std::string describe() const override { return description_; }
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
  // The chip's MMIO window, if it has one, is the device's.
  std::uint32_t mmio_bytes() const noexcept override { return chip_.mmio_bytes(); }
  std::uint64_t mmio_read(std::uint32_t offset, unsigned size) override {
    return chip_.mmio_read(offset, size);
  }
  void mmio_write(std::uint32_t offset, unsigned size, std::uint64_t value) override {
    chip_.mmio_write(offset, size, value);
  }
  std::uint8_t* mmio_page(std::uint32_t page) noexcept override { return chip_.mmio_page(page); }
  void set_dma_bus(hw::DmaBus* bus) override { chip_.set_dma_bus(bus); }
  // The line's rising edge is the interrupt.
  void set_interrupt_handler(std::function<void()> handler) override {
    chip_.set_irq_line(hw::on_rising_edge(std::move(handler)));
  }

 private:
  std::string description_;
  Chip chip_;
};

}  // namespace vpio::devices

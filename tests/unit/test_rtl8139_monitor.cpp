// The RTL8139 monitor's hold on its card's DMA: a card keeps the bus it was
// given until told otherwise (hw::PhysicalDevice::set_dma_bus: "the bus
// outlives its registration"), and a VFIO card calls it again when it is
// closed, so a monitor that gave its card its I/O virtual address space must
// take it back on every way out, a failed start included.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>

#include "devices/rtl8139/rtl8139_monitor.hpp"
#include "hw/dma_bus.hpp"
#include "hw/physical_device.hpp"

namespace vpio::devices {
namespace {

// A card that takes the bus it is given and, once failing, fails every
// register write, as a VFIO card whose device file stopped answering does.
class FailingCard final : public hw::PhysicalDevice {
 public:
  std::string describe() const override { return "a card that fails"; }
  std::uint32_t read(std::uint16_t, unsigned) override { return 0; }
  void write(std::uint16_t, unsigned, std::uint32_t) override {
    if (failing) throw std::runtime_error("writing the I/O BAR of the card failed");
  }
  void read_string(std::uint16_t, unsigned, std::span<std::uint8_t>) override {}
  void write_string(std::uint16_t, unsigned, std::span<const std::uint8_t>) override {}
  void set_interrupt_handler(std::function<void()>) override {}
  void set_dma_bus(hw::DmaBus* given) override {
    ++registrations;
    bus = given;
  }

  bool failing = false;
  hw::DmaBus* bus = nullptr;
  unsigned registrations = 0;
};

TEST(Rtl8139Monitor, ACardThatFailsAtStartIsLeftWithoutTheMonitorsDmaBus) {
  FailingCard card;
  card.failing = true;
  EXPECT_THROW(Rtl8139Monitor(card, Rtl8139MonitorConfig{}), std::runtime_error);
  EXPECT_GE(card.registrations, 2u) << "the monitor never gave the card its bus";
  EXPECT_EQ(card.bus, nullptr) << "the card still holds the dead monitor's bus";
}

// Its last reset fails too: the monitor still ends (a destructor that
// threw would end the VMM) and still takes its bus back.
TEST(Rtl8139Monitor, ACardThatFailsAtTheEndIsLeftWithoutTheMonitorsDmaBus) {
  FailingCard card;
  {
    Rtl8139MonitorConfig config;
    config.sharing.run_service_thread = false;
    Rtl8139Monitor monitor(card, config);
    EXPECT_NE(card.bus, nullptr);
    card.failing = true;
  }
  EXPECT_EQ(card.bus, nullptr) << "the card still holds the dead monitor's bus";
}

}  // namespace
}  // namespace vpio::devices

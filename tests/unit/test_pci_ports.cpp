// A Linux guest's PCI side on its port bus: the window of an I/O BAR goes
// where the guest's configuration writes put it, and posted writes follow.
#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <vector>

#include "hooks/mmio_bus.hpp"
#include "hooks/mmio_window.hpp"
#include "hooks/port_bus.hpp"
#include "vmm/pci_ports.hpp"

namespace vpio {
namespace {

class Window final : public PortDevice {
 public:
  std::uint32_t port_read(std::uint16_t offset, unsigned) noexcept override { return offset; }
  void port_write(std::uint16_t, unsigned, std::uint32_t) noexcept override {}
};

// Configuration cycles as the guest makes them, through the bus.
struct Guest {
  PortBus& bus;
  void config_write(unsigned device, unsigned reg, unsigned size, std::uint32_t value) {
    access(0xcf8)->device->port_write(0, 4, 0x80000000u | (device << 11) | (reg & 0xfc));
    access(0xcfc)->device->port_write(static_cast<std::uint16_t>(4 + (reg & 3)), size, value);
  }
  std::uint32_t config_read(unsigned device, unsigned reg) {
    access(0xcf8)->device->port_write(0, 4, 0x80000000u | (device << 11) | (reg & 0xfc));
    return access(0xcfc)->device->port_read(4, 4);
  }
  const PortRange* access(std::uint16_t port) { return bus.find(port); }
};

TEST(PciPorts, TheWindowFollowsTheBarThroughSizingAndAMove) {
  PortBus bus;
  PciPorts pci(bus);
  Window window;
  std::vector<std::pair<std::optional<std::uint16_t>, std::optional<std::uint16_t>>> moves;
  const unsigned device = pci.add_io_function(
      hw::pci::kRtl8029, window, 32, 0x300, 9, "ne2000",
      [&](auto before, auto after) { moves.emplace_back(before, after); });
  EXPECT_EQ(device, 1u);  // 00:00.0 is the host bridge
  Guest guest{bus};
  EXPECT_EQ(guest.config_read(0, 0), 0x12378086u);
  EXPECT_EQ(guest.config_read(1, 0), 0x802910ecu);
  ASSERT_NE(bus.find(0x310), nullptr);
  EXPECT_EQ(bus.find(0x310)->device, &window);

  // Sizing with decode off: the window leaves the bus and comes back.
  guest.config_write(1, hw::pci::kCommand, 2, 0);
  EXPECT_EQ(bus.find(0x310), nullptr);
  guest.config_write(1, hw::pci::kBar0, 4, 0xffffffff);
  EXPECT_EQ(guest.config_read(1, hw::pci::kBar0), 0xffe1u);
  guest.config_write(1, hw::pci::kBar0, 4, 0x300);
  guest.config_write(1, hw::pci::kCommand, 2, hw::pci::kCommandIo);
  EXPECT_EQ(bus.find(0x310)->device, &window);

  // A move: the old ports are free, the new ones the window's.
  moves.clear();
  guest.config_write(1, hw::pci::kBar0, 4, 0xc020);
  EXPECT_EQ(bus.find(0x310), nullptr);
  ASSERT_NE(bus.find(0xc030), nullptr);
  EXPECT_EQ(bus.find(0xc030)->device, &window);
  EXPECT_EQ(bus.find(0xc030)->base, 0xc020);
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].first, 0x300);
  EXPECT_EQ(moves[0].second, 0xc020);
}

// A device with a 256-byte MMIO window (an RTL8139's register BAR) and, for
// the exit-free test, two pages whose second is memory.
class BarDevice final : public hw::MemoryMapped {
 public:
  explicit BarDevice(std::uint32_t bytes) : bytes_(bytes) {}
  std::uint32_t mmio_bytes() const noexcept override { return bytes_; }
  std::uint64_t mmio_read(std::uint32_t offset, unsigned) override { return offset; }
  std::uint8_t* mmio_page(std::uint32_t page) noexcept override {
    return page == 1 ? memory.data() : nullptr;
  }
  alignas(hw::kMmioPageBytes) std::array<std::uint8_t, hw::kMmioPageBytes> memory{};

 private:
  std::uint32_t bytes_;
};

class NoHooks final : public HookedMmioHandler {
 public:
  std::uint64_t hooked_mmio_read(std::uint32_t, unsigned) noexcept override { return 0xee; }
  void hooked_mmio_write(std::uint32_t, unsigned, std::uint64_t) noexcept override {}
};

class Mapper final : public PageMapper {
 public:
  bool map_page(std::uint64_t at, std::uint8_t*) noexcept override {
    pages.push_back(at);
    return true;
  }
  void unmap_page(std::uint64_t at) noexcept override { std::erase(pages, at); }
  std::vector<std::uint64_t> pages;
};

TEST(PciPorts, TheMmioWindowFollowsTheMemoryBar) {
  PortBus bus;
  MmioBus mmio;
  PciPorts pci(bus, &mmio);
  Window ports;
  BarDevice device(256);
  NoHooks hooks;
  MmioWindow window(device, "rtl8139", hooks);
  pci.add_io_function(hw::pci::kRtl8029, ports, 256, 0xc000, 11, "rtl8139", nullptr,
                      PciPorts::MemoryBar{&window, 256, 0xfebf1000, nullptr});
  Guest guest{bus};
  EXPECT_EQ(guest.config_read(1, hw::pci::kBar1), 0xfebf1000u);
  ASSERT_NE(mmio.find(0xfebf1010), nullptr);
  EXPECT_EQ(mmio.find(0xfebf1010)->device, &window);
  EXPECT_EQ(window.base(), 0xfebf1000u);

  // Linux's sizing: memory decode off, all ones, the base back, decode on.
  const std::uint32_t command = guest.config_read(1, hw::pci::kCommand) & 0xffff;
  guest.config_write(1, hw::pci::kCommand, 2, command & ~hw::pci::kCommandMemory);
  EXPECT_EQ(mmio.find(0xfebf1010), nullptr);
  EXPECT_EQ(window.base(), std::nullopt);
  guest.config_write(1, hw::pci::kBar1, 4, 0xffffffff);
  EXPECT_EQ(guest.config_read(1, hw::pci::kBar1), 0xffffff00u);
  guest.config_write(1, hw::pci::kBar1, 4, 0xfebf1000);
  guest.config_write(1, hw::pci::kCommand, 2, command);
  EXPECT_EQ(mmio.find(0xfebf1010)->device, &window);

  // A move: the old range is free, the new one the window's, and the I/O
  // window stayed.
  guest.config_write(1, hw::pci::kBar1, 4, 0xe0000100);
  EXPECT_EQ(mmio.find(0xfebf1010), nullptr);
  ASSERT_NE(mmio.find(0xe0000100), nullptr);
  EXPECT_EQ(window.base(), 0xe0000100u);
  EXPECT_EQ(bus.find(0xc010)->device, &ports);
}

TEST(PciPorts, ExitFreePagesAreMappedWhereTheBarIsAndFollowIt) {
  PortBus bus;
  MmioBus mmio;
  PciPorts pci(bus, &mmio);
  Window ports;
  BarDevice device(2 * hw::kMmioPageBytes);
  NoHooks hooks;
  Mapper mapper;
  MmioWindow window(device, "two pages", hooks);
  window.set_hooked(0, window.bytes(), false, false);
  pci.add_io_function(hw::pci::kRtl8029, ports, 32, 0x300, 9, "two pages", nullptr,
                      PciPorts::MemoryBar{&window, 8192, 0xd0000000, &mapper});
  EXPECT_EQ(mapper.pages, std::vector<std::uint64_t>{0xd0001000});
  Guest guest{bus};
  guest.config_write(1, hw::pci::kBar1, 4, 0xd0010000);
  EXPECT_EQ(mapper.pages, std::vector<std::uint64_t>{0xd0011000});
  guest.config_write(1, hw::pci::kCommand, 2, hw::pci::kCommandIo);  // memory decode off
  EXPECT_TRUE(mapper.pages.empty());
}

TEST(PciPorts, AMalformedMemoryBarIsRefused) {
  PortBus bus;
  MmioBus mmio;
  Window ports;
  BarDevice device(256);
  NoHooks hooks;
  MmioWindow window(device, "rtl8139", hooks);
  {
    PciPorts pci(bus, &mmio);
    EXPECT_THROW(pci.add_io_function(hw::pci::kRtl8029, ports, 256, 0xc000, 11, "small", nullptr,
                                     PciPorts::MemoryBar{&window, 128, 0xfebf1000, nullptr}),
                 std::invalid_argument);
    EXPECT_THROW(pci.add_io_function(hw::pci::kRtl8029, ports, 256, 0xc000, 11, "unaligned",
                                     nullptr, PciPorts::MemoryBar{&window, 256, 0xfebf1080, nullptr}),
                 std::invalid_argument);
  }
  PortBus other;
  PciPorts no_mmio(other);
  EXPECT_THROW(no_mmio.add_io_function(hw::pci::kRtl8029, ports, 256, 0xc000, 11, "no bus", nullptr,
                                       PciPorts::MemoryBar{&window, 256, 0xfebf1000, nullptr}),
               std::invalid_argument);
}

TEST(PciPorts, AMoveOntoAnotherDeviceDecodesNothing) {
  PortBus bus;
  Window other;
  bus.add(0x3f8, 8, other, "com1");
  PciPorts pci(bus);
  Window window;
  std::optional<std::uint16_t> now = 0x300;
  pci.add_io_function(hw::pci::kRtl8029, window, 32, 0x300, 9, "ne2000",
                      [&](auto, auto after) { now = after; });
  Guest guest{bus};
  guest.config_write(1, hw::pci::kBar0, 4, 0x3e0);  // 0x3e0-0x3ff covers COM1
  EXPECT_EQ(now, std::nullopt);
  EXPECT_EQ(bus.find(0x300), nullptr);
  EXPECT_EQ(bus.find(0x3f8)->device, &other);
  guest.config_write(1, hw::pci::kBar0, 4, 0x300);
  EXPECT_EQ(now, 0x300);
  EXPECT_EQ(bus.find(0x300)->device, &window);
}

TEST(PciPorts, RoutesEachFunctionsIntaForTheMpTableAndRefusesAnUnalignedBar) {
  PortBus bus;
  PciPorts pci(bus);
  Window a, b, c;
  pci.add_io_function(hw::pci::kRtl8029, a, 32, 0x300, 9, "a", {});
  pci.add_io_function(hw::pci::kRtl8029, b, 32, 0x320, 10, "b", {});
  const auto routes = pci.routes();
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].device, 1);
  EXPECT_EQ(routes[0].ioapic_pin, 9);
  EXPECT_EQ(routes[1].device, 2);
  EXPECT_EQ(routes[1].ioapic_pin, 10);
  EXPECT_THROW(pci.add_io_function(hw::pci::kRtl8029, c, 32, 0x310, 11, "c", {}),
               std::invalid_argument);
  EXPECT_THROW(pci.add_io_function(hw::pci::kRtl8029, c, 32, 0x320, 11, "c", {}),
               std::invalid_argument)
      << "overlaps b";
}

}  // namespace
}  // namespace vpio

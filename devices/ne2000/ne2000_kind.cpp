// The NE2000 as vpio offers it: an RTL8029 PCI function to a Linux guest, a
// 0x20-port ISA window to a flat one, in all three modes, on vpio's chip or
// a real card by host port I/O.
#include "devices/ne2000/ne2000_kind.hpp"

#include <algorithm>

#include "devices/ne2000/chip_device.hpp"
#include "devices/ne2000/ne2000.hpp"
#include "devices/ne2000/ne2000_monitor.hpp"
#include "devices/ne2000/port_io_card.hpp"

namespace vpio::devices {
namespace {

// Writes to the data port need no answer (no value; the monitor judges the
// data port's range when the DMA starts, not per write), and neither do the
// three ports after it, which decode nothing or mirror the data port. KVM
// matches a 32-bit write against a posted range as four bytes, so the range
// is four ports wide.
constexpr std::uint16_t kPostedDataPortBytes = 4;

std::unique_ptr<hw::NetworkChip> make_chip(hw::MacAddress mac) {
  return std::make_unique<Ne2000>(mac);
}

std::unique_ptr<hw::StandInDevice> make_stand_in(hw::MacAddress mac) {
  return std::make_unique<ChipDevice>(mac);
}

std::unique_ptr<hw::PhysicalDevice> make_host_card(hw::HostPorts& ports, std::uint16_t base) {
  return std::make_unique<PortIoCard>(ports, base);
}

std::unique_ptr<dmm::nic::NicMonitor> make_monitor(hw::PhysicalDevice& card,
                                                   const NicMonitorOptions& options) {
  MonitorConfig config;
  config.queue_frames = options.queue_frames;
  config.max_guests = std::max(options.sharers, 1u);
  config.tx_pages =
      static_cast<std::uint8_t>(options.tx_pages.value_or(default_tx_pages(config.max_guests)));
  config.sharing = sharing_config(options);
  return std::make_unique<Ne2000Monitor>(card, config);
}

}  // namespace

const NicKind& ne2000_kind() noexcept {
  static const NicKind kind{
      .name = "ne2000",
      .display = "NE2000",
      .what = "NE2000 (DP8390, 0x20 ports; an RTL8029 PCI function to a Linux guest): emulate, "
              "passthrough, vpio",
      .window_ports = Ne2000::kWindowPorts,
      .pci = hw::pci::kRtl8029,
      .posted_offset = Ne2000::kDataPort,
      .posted_ports = kPostedDataPortBytes,
      .min_tx_pages = kMinTxPages,                      // one maximal frame
      .max_tx_pages = kCardMemoryPages - kMinRingPages,  // the monitor's ring keeps the rest
      .make_chip = make_chip,
      .make_stand_in = make_stand_in,
      .make_host_card = make_host_card,
      .make_monitor = make_monitor,
  };
  return kind;
}

}  // namespace vpio::devices

// The RTL8139 as vpio offers it so far: a 10ec:8139 PCI function (revision
// 0x10, for 8139too) to a Linux guest, a 256-port window and a 256-byte MMIO
// window to a flat one, on vpio's chip, in all three modes. No host card
// (VFIO) yet (issue 17).
#include "devices/rtl8139/rtl8139_kind.hpp"

#include <algorithm>

#include "devices/chip_stand_in.hpp"
#include "devices/rtl8139/rtl8139.hpp"
#include "devices/rtl8139/rtl8139_monitor.hpp"
#include "hw/pci.hpp"

namespace vpio::devices {
namespace {

static_assert(hw::pci::kRtl8139.revision == rtl8139::kRevision,
              "the PCI function and the chip's RERID name one revision");

class Rtl8139StandIn final : public ChipStandIn<Rtl8139> {
 public:
  explicit Rtl8139StandIn(hw::MacAddress mac)
      : ChipStandIn("emulated RTL8139 (stand-in for hardware)", mac) {}
};

std::unique_ptr<hw::NetworkChip> make_chip(hw::MacAddress mac) {
  return std::make_unique<Rtl8139>(mac);
}

std::unique_ptr<hw::StandInDevice> make_stand_in(hw::MacAddress mac) {
  return std::make_unique<Rtl8139StandIn>(mac);
}

std::unique_ptr<dmm::nic::NicMonitor> make_monitor(hw::PhysicalDevice& card,
                                                   const NicMonitorOptions& options) {
  Rtl8139MonitorConfig config;
  config.queue_frames = options.queue_frames;
  config.max_guests = std::max(options.sharers, 1u);
  config.sharing = sharing_config(options);
  return std::make_unique<Rtl8139Monitor>(card, config);
}

}  // namespace

const NicKind& rtl8139_kind() noexcept {
  static const NicKind kind{
      .name = "rtl8139",
      .display = "RTL8139",
      .what =
          "RTL8139 (bus master, classic mode; 256 ports and a 256-byte MMIO window; a 10ec:8139 "
          "PCI function to a Linux guest): emulate, passthrough, vpio",
      .window_ports = rtl8139::kWindowBytes,
      .pci = hw::pci::kRtl8139,
      .linux_port = 0xc000,
      .mmio_bytes = rtl8139::kWindowBytes,
      .make_chip = make_chip,
      .make_stand_in = make_stand_in,
      .make_monitor = make_monitor,
  };
  return kind;
}

}  // namespace vpio::devices

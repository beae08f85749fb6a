// What a network device gives vpio, as one entry of the device table
// (devices/registry.hpp): its window, how a Linux guest finds it, and how to
// make each of its forms. The VMM builds every card from such an entry and
// names no device itself. A new device is a folder devices/<name>/ that
// defines one NicKind, and one line in devices/registry.cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "dmm/nic/nic_monitor.hpp"
#include "hw/host_ports.hpp"
#include "hw/net/mac_address.hpp"
#include "hw/net/network_chip.hpp"
#include "hw/pci.hpp"
#include "hw/physical_device.hpp"

namespace vpio::devices {

struct NicMonitorOptions {
  unsigned sharers = 1;  // guests the card is set up for
  // The card's interrupt does not reach userspace (a real ISA card whose
  // ISR is polled): the monitor also looks at the card when a guest waits.
  bool polled_interrupt = false;
  std::size_t queue_frames = 64;  // per-guest receive queue bound
  // The card memory each guest's transmit area gets, in 256-byte pages
  // (`--nic ...,tx_pages=`); unset: the device's default for `sharers`.
  // A device without a transmit area in card memory ignores it.
  std::optional<unsigned> tx_pages;
  // A guest's checked operation that holds the card longer is stopped and
  // the guest gets a machine check (dmm::SharingConfig).
  std::chrono::milliseconds stall_limit{3000};
  // False: no service thread; the card is serviced only by service_now()
  // (a harness that must run the same way every time: fuzz/).
  bool service_thread = true;
};

// What every shared device's core takes from the options (dmm::SharingConfig):
// a polled card is also looked at when a guest waits on its own card, not
// only on the monitor's timer.
inline dmm::SharingConfig sharing_config(const NicMonitorOptions& options) {
  dmm::SharingConfig sharing;
  sharing.device_interrupts = !options.polled_interrupt;
  sharing.operation_stall_limit = options.stall_limit;
  sharing.run_service_thread = options.service_thread;
  return sharing;
}

struct NicKind {
  std::string_view name;     // `--nic ...,model=NAME`
  std::string_view display;  // as messages name it ("NE2000")
  std::string_view what;     // one line for --help and errors
  // The card's I/O window: its size, to which its base is aligned.
  std::uint16_t window_ports = 0;
  // The PCI function a Linux guest sees in front of the window.
  hw::PciIdentity pci{};
  // Where that function's I/O BAR starts when `--nic` gives no port=; 0:
  // the flat guests' default (0x300). A window of 0x100 ports at 0x300
  // would cover COM1 (0x3f8), so such a device's BAR starts where PC
  // firmware puts PCI I/O BARs, from 0xc000.
  std::uint16_t linux_port = 0;
  // Writes that need no answer and may be posted through KVM's coalesced
  // ring: their first port in the window and how many; 0: none.
  std::uint16_t posted_offset = 0;
  std::uint16_t posted_ports = 0;
  // The range `--nic ...,tx-pages=` may ask for (NicMonitorOptions::
  // tx_pages); both 0: the device takes no such option.
  unsigned min_tx_pages = 0;
  unsigned max_tx_pages = 0;
  // The size of the chip's MMIO window (hw::MemoryMapped), which a flat
  // guest may have placed with `--nic ...,mmio=ADDRESS`; 0: none.
  std::uint32_t mmio_bytes = 0;

  // A guest's own emulated card (emulate mode), with this MAC in its PROM.
  std::unique_ptr<hw::NetworkChip> (*make_chip)(hw::MacAddress mac) = nullptr;
  // The emulated chip standing in for a physical card (hw=chip).
  std::unique_ptr<hw::StandInDevice> (*make_stand_in)(hw::MacAddress mac) = nullptr;
  // The real card at a host I/O base (hw=port:BASE), probed; throws naming
  // the base when no such card answers there. Null: no host card of this kind.
  std::unique_ptr<hw::PhysicalDevice> (*make_host_card)(hw::HostPorts& ports,
                                                        std::uint16_t base) = nullptr;
  // The monitor that shares `card` in vpio mode. Null: no vpio mode.
  std::unique_ptr<dmm::nic::NicMonitor> (*make_monitor)(hw::PhysicalDevice& card,
                                                        const NicMonitorOptions& options) = nullptr;
};

}  // namespace vpio::devices

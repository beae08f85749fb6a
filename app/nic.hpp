// Network cards attached to guests, and the wires between them: parsing of
// `--nic` specifications, emulated NE2000s on the guest's port bus, and the
// run's hubs, TAP devices and pcap recorders.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "devices/registry.hpp"
#include "dmm/iova_space.hpp"
#include "hooks/hooked_ports.hpp"
#include "hooks/mmio_window.hpp"
#include "hooks/port_bus.hpp"
#include "hw/host_ports.hpp"
#include "hw/net/network_chip.hpp"
#include "net/hub.hpp"
#include "net/pcap_recorder.hpp"
#include "net/tap_device.hpp"
#include "vmm/machine.hpp"

namespace vpio {

enum class NicMode { emulate, passthrough, vpio };

// `MODE[,port=0x300][,irq=9][,wire=hub|hub:NAME|tap:IFNAME|none][,mac=..][,guest=N]
//  [,hw=chip|port:BASE][,queue=N][,tx-pages=N][,mmio=ADDRESS]`. hw names the physical card of
// passthrough and vpio modes: `chip` is vpio's own chip on the wire standing
// in for hardware; `port:0x300` a real NE2000 at that host I/O base, reached
// by ioperm port I/O (its wire is its own cable). queue bounds each vpio
// guest's receive queue in the monitor; tx-pages sets each vpio guest's
// transmit area on the card (default: 12, two buffers, for up to 4 guests,
// else 6). The first spec that shares a card sets both.
struct NicSpec {
  NicMode mode = NicMode::emulate;
  std::string model{devices::nic_kinds().front()->name};  // a devices::nic_kinds() name
  std::uint16_t port = 0x300;
  bool port_given = false;  // port= was written (else a Linux guest gets NicKind::linux_port)
  unsigned irq = 9;
  std::string wire = "hub";
  bool wire_given = false;  // wire= was written (a host card has no wire to choose)
  std::optional<hw::MacAddress> mac;
  std::optional<unsigned> guest;  // 0-based; unset: every guest gets a card
  std::string hw = "chip";
  std::size_t queue = 64;
  std::optional<unsigned> tx_pages;  // unset: the device's default for the card's guests
  // Where a flat guest sees the card's MMIO window (a device with one:
  // NicKind::mmio_bytes), page-aligned, above RAM and below 4 GiB; unset:
  // the window is not placed.
  std::optional<std::uint64_t> mmio;
};

// The largest number of guests one card can be shared by in vpio mode.
inline constexpr unsigned kMaxVpioGuests = 8;

// The highest base of a host card: ioperm reaches ports up to 0x3ff only.
inline constexpr unsigned kMaxHostCardBase = 0x3e0;

// Throws std::invalid_argument naming the offending item.
NicSpec parse_nic_spec(std::string_view text);
// The --nic options of a run of `guests` guests, each parsed and all checked
// against each other: guest= names a guest there is, passthrough gives a
// card to one guest only and never also shares it, and at most
// kMaxVpioGuests share a card in vpio mode. Throws std::invalid_argument.
struct NicPlan {
  std::vector<NicSpec> specs;
  std::map<std::string, unsigned> sharers;  // vpio guests per physical card (hw=)
};
NicPlan plan_nics(const std::vector<std::string>& texts, std::size_t guests);
// The device a spec names (model=); parse_nic_spec has checked it exists.
const devices::NicKind& nic_kind(const NicSpec& spec);
// The port a guest has the card's window at: port=, or without it, on a
// Linux guest, where the device's kind puts its function's I/O BAR
// (NicKind::linux_port) when it names one.
std::uint16_t guest_port(const NicSpec& spec, bool linux_guest);
// The host I/O base of a spec's physical card, if it is a host card.
std::optional<std::uint16_t> host_card_base(const NicSpec& spec);
// The PCI address of the function `hw=vfio:ADDRESS` names, if it names one.
std::optional<std::string> host_vfio_address(const NicSpec& spec);
// Why this process may not reach the ports of a host card at `base`
// (ioperm's refusal), or nullopt when it may. Only asks for the permission,
// touching no port, so callers can refuse before any guest or row runs.
std::optional<std::string> host_card_access_error(std::uint16_t base, std::uint16_t ports);

// Why `mac` cannot be a card's own address, or nullopt when it can: a
// station's address is unicast (bit 0 of the first octet clear; set, it is a
// group address: multicast, or broadcast ff:ff:ff:ff:ff:ff) and not all zeros.
std::optional<std::string> station_mac_error(const hw::MacAddress& mac);

// The MAC a guest's card gets unless one is given: 52:54:00:12:34:56 + index.
hw::MacAddress default_mac(unsigned guest_index);

// A guest's own emulated card: every access goes to its chip.
class EmulatedNic final : public PortDevice {
 public:
  // raise_irq is called on each rising edge of the chip's interrupt line;
  // a chip that masters the bus reaches `ram` (its guest's) by DMA.
  EmulatedNic(std::unique_ptr<hw::NetworkChip> chip, hw::MacAddress mac,
              std::function<void()> raise_irq, const GuestMemory& ram);

  hw::NetworkChip& chip() noexcept { return *chip_; }
  const hw::MacAddress& mac() const noexcept { return mac_; }

  std::uint32_t port_read(std::uint16_t offset, unsigned size) noexcept override;
  void port_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept override;
  void port_read_string(std::uint16_t offset, unsigned size,
                        std::span<std::uint8_t> data) noexcept override;
  void port_write_string(std::uint16_t offset, unsigned size,
                         std::span<const std::uint8_t> data) noexcept override;

 private:
  hw::MacAddress mac_;
  dmm::GuestMemory ram_;  // its DMA reaches the guest's RAM at guest-physical addresses
  dmm::GuestRamBus dma_;
  std::unique_ptr<hw::NetworkChip> chip_;
};

// A physical card given whole to one guest: every access direct, no model.
// The unsafe upper bound that VPIO is measured against.
class PassthroughNic {
 public:
  // The device's DMA reaches `ram` (the guest's) while the guest has it.
  PassthroughNic(std::string guest, hw::PhysicalDevice& device, std::uint16_t ports,
                 const GuestMemory& ram);
  PassthroughNic(const PassthroughNic&) = delete;
  PassthroughNic& operator=(const PassthroughNic&) = delete;
  ~PassthroughNic();

  PassthroughWindow& window() noexcept { return window_; }
  // The card's MMIO window as the guest has it placed (mmio=), or nullptr.
  MmioWindow* mmio_window() noexcept { return mmio_window_; }
  void set_mmio_window(MmioWindow* window) noexcept { mmio_window_ = window; }
  const std::string& guest() const noexcept { return guest_; }
  hw::PhysicalDevice& device() noexcept { return device_; }

 private:
  // Passthrough hooks nothing; a hooked access would be a bug.
  class NoMonitor final : public HookedIoHandler {
   public:
    std::uint32_t hooked_read(std::uint16_t, unsigned) noexcept override { return ~0u; }
    void hooked_write(std::uint16_t, unsigned, std::uint32_t) noexcept override {}
  };
  std::string guest_;
  hw::PhysicalDevice& device_;
  dmm::GuestMemory ram_;  // as the emulated card's
  dmm::GuestRamBus dma_;
  NoMonitor no_monitor_;
  PassthroughWindow window_;
  MmioWindow* mmio_window_ = nullptr;
};

// A guest's card in vpio mode: its part of the monitor of a shared card.
struct VpioNic {
  std::string guest;
  dmm::Monitor* monitor;
  dmm::SharedGuest* share;
  hw::PhysicalDevice* device;  // the card the monitor drives
};

// The cards of one guest, by mode.
struct GuestNics {
  std::vector<EmulatedNic*> emulated;
  std::vector<PassthroughNic*> passthrough;
  std::vector<VpioNic*> vpio;
};

// Everything on the wire side of one run. Outlives the machines' threads.
class Network {
 public:
  // With a path, every frame on the default hub is recorded there.
  explicit Network(std::optional<std::filesystem::path> pcap = std::nullopt);
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;
  ~Network();

  // Creates an emulated card for `machine` per `spec`, registers it on the
  // machine's port bus and connects it to its wire.
  EmulatedNic& attach_emulated(Machine& machine, const NicSpec& spec, hw::MacAddress mac);
  // Gives the physical card `spec.hw` whole to `machine`. Throws
  // std::invalid_argument if another guest has it already: passthrough
  // cannot share a card.
  PassthroughNic& attach_passthrough(Machine& machine, const NicSpec& spec, hw::MacAddress mac);
  // Shares the physical card `spec.hw` with `machine` through the card's
  // monitor, created for `sharers` guests at the first call. Throws
  // std::invalid_argument if the card is given by passthrough or full.
  VpioNic& attach_vpio(Machine& machine, const NicSpec& spec, hw::MacAddress mac, unsigned sharers);
  // Stops every monitor's thread and its calls into guests; call once the
  // machines have stopped running and before they go.
  void stop_monitors();
  net::Hub& hub(const std::string& name = "");
  // The hub a `wire=` value names (hub, hub:NAME), or nullptr for other wires.
  net::Hub* hub_for_wire(const std::string& wire);
  const std::vector<std::unique_ptr<EmulatedNic>>& nics() const noexcept { return nics_; }
  const std::vector<std::unique_ptr<PassthroughNic>>& passthrough_nics() const noexcept {
    return passthrough_;
  }
  std::uint64_t frames_recorded() const;
  // The recording's first failed write (no more frames were recorded after
  // it), or an empty code.
  std::error_code pcap_write_error() const;

 private:
  std::map<std::string, std::unique_ptr<net::Hub>> hubs_;
  std::unique_ptr<net::PcapRecorder> recorder_;
  std::vector<std::unique_ptr<net::TapDevice>> taps_;
  std::vector<std::unique_ptr<EmulatedNic>> nics_;
  std::unique_ptr<hw::SystemPorts> host_ports_;
  std::map<std::string, std::unique_ptr<hw::PhysicalDevice>> physical_cards_;
  std::map<std::string, std::string> card_models_;  // hw= -> the model it was made as
  std::vector<std::unique_ptr<PassthroughNic>> passthrough_;
  std::map<std::string, std::unique_ptr<dmm::nic::NicMonitor>> monitors_;
  std::vector<std::unique_ptr<VpioNic>> vpio_;
  // Cards' MMIO windows (mmio=), each mapping its exit-free pages through
  // its machine, which outlives the network.
  class NoMmioMonitor final : public HookedMmioHandler {
   public:
    std::uint64_t hooked_mmio_read(std::uint32_t, unsigned) noexcept override { return ~0ull; }
    void hooked_mmio_write(std::uint32_t, unsigned, std::uint64_t) noexcept override {}
  };
  NoMmioMonitor no_mmio_monitor_;
  std::vector<std::unique_ptr<MmioWindow>> mmio_windows_;

  hw::PhysicalDevice& physical_card(const NicSpec& spec, hw::MacAddress mac);
  // A window on `device`'s MMIO window with every byte direct (emulate,
  // passthrough), not yet placed; the network keeps it.
  MmioWindow& direct_mmio_window(hw::MemoryMapped& device, const std::string& name);
  // Places `device`'s MMIO window at spec.mmio on `machine`, every byte
  // direct (emulate, passthrough): its memory pages are mapped, exit-free.
  MmioWindow& place_mmio_direct(Machine& machine, const NicSpec& spec, hw::MemoryMapped& device,
                                const std::string& name);
};

}  // namespace vpio

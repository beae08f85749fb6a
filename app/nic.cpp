// Network cards attached to guests, and their wires.
#include "app/nic.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <stdexcept>
#include <system_error>

#include "hw/hex.hpp"
#include "hw/pci.hpp"
#include "hw/vfio_device.hpp"
#include "vmm/long_mode.hpp"
#include "vmm/dmm_machine_check.hpp"

namespace vpio {
namespace {

constexpr unsigned kIsaIrqLines = 16;
constexpr std::uint8_t kGroupAddressBit = 0x01;  // in the first octet (IEEE 802)

unsigned parse_number(std::string_view key, std::string_view text, unsigned max) {
  const std::string original(text);
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
    base = 16;
  }
  unsigned value = 0;
  auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (text.empty() || err != std::errc() || end != text.data() + text.size() || value > max)
    throw std::invalid_argument("--nic: bad " + std::string(key) + " '" + original +
                                "' (a number up to " + std::to_string(max) + ")");
  return value;
}

// `chip`, `port:BASE` for a card at a host I/O base, or `vfio:ADDRESS` for
// a PCI function bound to vfio-pci, kept in one spelling (port:0x300,
// vfio:0000:00:10.0) so that two specs naming the same card agree.
std::string parse_hw(std::string_view value) {
  if (value == "chip") return "chip";
  if (value.starts_with("vfio:")) {
    try {
      return "vfio:" + hw::VfioDevice::canonical_address(std::string(value.substr(5)));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("--nic: bad hw '" + std::string(value) + "': " + e.what());
    }
  }
  if (value.starts_with("port:")) {
    const std::string_view base_text = value.substr(5);
    const unsigned base = parse_number("hw port base", base_text, kMaxHostCardBase);
    if (base < 0x100)
      throw std::invalid_argument("--nic: bad hw '" + std::string(value) +
                                  "' (an ISA card's base is 0x100 to 0x3e0, aligned to its window)");
    char text[16];
    std::snprintf(text, sizeof text, "port:0x%x", base);
    return text;
  }
  throw std::invalid_argument("--nic: bad hw '" + std::string(value) +
                              "' (chip; port:BASE for a card at a host I/O base, e.g. "
                              "port:0x300; or vfio:ADDRESS for a PCI function bound to vfio-pci, "
                              "e.g. vfio:0000:00:10.0)");
}

}  // namespace

NicPlan plan_nics(const std::vector<std::string>& texts, std::size_t guests) {
  NicPlan plan;
  for (const auto& text : texts) {
    NicSpec spec = parse_nic_spec(text);
    if (spec.mode == NicMode::passthrough && !spec.guest && guests > 1)
      throw std::invalid_argument(
          "--nic: passthrough gives the card whole to one guest and cannot share it; with "
          "several guests add guest=N");
    if (spec.guest && *spec.guest >= guests)
      throw std::invalid_argument("--nic: guest=" + std::to_string(*spec.guest) + " but only " +
                                  std::to_string(guests) + " guest(s) given (guests count from 0)");
    if (spec.mac && !spec.guest && guests > 1)
      throw std::invalid_argument("--nic: mac= with several guests needs guest=N");
    plan.specs.push_back(std::move(spec));
  }
  std::map<std::string, unsigned> passthrough_owner;
  for (const auto& spec : plan.specs)
    if (spec.mode == NicMode::passthrough) {
      const unsigned guest = spec.guest.value_or(0);
      auto [it, fresh] = passthrough_owner.emplace(spec.hw, guest);
      if (!fresh)
        throw std::invalid_argument("--nic: physical card '" + spec.hw +
                                    "' given by passthrough to guests " +
                                    std::to_string(it->second) + " and " + std::to_string(guest) +
                                    "; passthrough cannot share a card");
    }
  for (const auto& spec : plan.specs)
    if (spec.mode == NicMode::vpio) {
      if (passthrough_owner.contains(spec.hw))
        throw std::invalid_argument("--nic: physical card '" + spec.hw +
                                    "' is given by passthrough and shared by vpio; a card is "
                                    "one or the other");
      unsigned& sharers = plan.sharers[spec.hw];
      sharers += spec.guest ? 1u : static_cast<unsigned>(guests);
      if (sharers > kMaxVpioGuests)
        throw std::invalid_argument("--nic: " + std::to_string(sharers) + " guests share card '" +
                                    spec.hw + "' in vpio mode; at most " +
                                    std::to_string(kMaxVpioGuests) + " fit its memory");
    }
  return plan;
}

const devices::NicKind& nic_kind(const NicSpec& spec) {
  if (const devices::NicKind* kind = devices::find_nic_kind(spec.model)) return *kind;
  throw std::invalid_argument("--nic: unknown model '" + spec.model + "' (" +
                              devices::nic_kind_names() + ")");
}

std::optional<std::uint16_t> host_card_base(const NicSpec& spec) {
  if (!spec.hw.starts_with("port:")) return std::nullopt;
  return static_cast<std::uint16_t>(std::stoul(spec.hw.substr(5), nullptr, 16));
}

std::optional<std::string> host_vfio_address(const NicSpec& spec) {
  if (!spec.hw.starts_with("vfio:")) return std::nullopt;
  return spec.hw.substr(5);
}

std::uint16_t guest_port(const NicSpec& spec, bool linux_guest) {
  const devices::NicKind& kind = nic_kind(spec);
  return linux_guest && !spec.port_given && kind.linux_port != 0 ? kind.linux_port : spec.port;
}

std::optional<std::string> host_card_access_error(std::uint16_t base, std::uint16_t ports) {
  // The permission stays granted: the card's own setup asks for it again.
  try {
    hw::SystemPorts().request(base, ports);
    return std::nullopt;
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
}

std::optional<std::string> station_mac_error(const hw::MacAddress& mac) {
  if ((mac.bytes[0] & kGroupAddressBit) != 0)
    return "a group address (multicast or broadcast: bit 0 of the first octet is set); a "
           "card's own MAC must be unicast";
  if (std::all_of(mac.bytes.begin(), mac.bytes.end(), [](std::uint8_t b) { return b == 0; }))
    return "the all-zero address, which no card may have";
  return std::nullopt;
}

namespace {

std::string hex(unsigned value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%x", value);
  return text;
}

// The card decodes its window from a base aligned to the window's size, as
// every NE2000 jumper setting (0x200-0x3e0) and QEMU's iobase are; an
// unaligned base would give the guest a window no card has.
void check_for_device(const NicSpec& spec, std::string_view port_text,
                      std::string_view tx_pages_text) {
  const devices::NicKind& kind = nic_kind(spec);
  const unsigned window = kind.window_ports;
  const unsigned last_base = 0x10000 - window;
  if (spec.port > last_base)
    throw std::invalid_argument("--nic: bad port '" + std::string(port_text) +
                                "' (a number up to " + std::to_string(last_base) + ")");
  if (spec.port % window != 0)
    throw std::invalid_argument("--nic: port=" + std::string(port_text) + ": an " +
                                std::string(kind.display) + "'s window is " + hex(window) +
                                " ports, so its base must be a multiple of " + hex(window) +
                                " (e.g. " + hex(0x300) + ", " + hex(0x300 + window) + ", " +
                                hex(0x300 - 4 * window) + ")");
  if (const auto base = host_card_base(spec); base && *base % window != 0)
    throw std::invalid_argument("--nic: bad hw '" + spec.hw + "' (an " +
                                std::string(kind.display) + "'s base is aligned to its " +
                                hex(window) + " ports, 0x100 to 0x3e0)");
  if (spec.tx_pages) {
    if (kind.max_tx_pages == 0)
      throw std::invalid_argument("--nic: tx-pages does not apply to model " +
                                  std::string(kind.name));
    if (*spec.tx_pages > kind.max_tx_pages)
      throw std::invalid_argument("--nic: bad tx-pages '" + std::string(tx_pages_text) +
                                  "' (a number up to " + std::to_string(kind.max_tx_pages) + ")");
    if (*spec.tx_pages < kind.min_tx_pages)
      throw std::invalid_argument("--nic: tx-pages must be at least " +
                                  std::to_string(kind.min_tx_pages) + " (one maximal frame)");
  }
}

}  // namespace

NicSpec parse_nic_spec(std::string_view text) {
  NicSpec spec;
  // What depends on the device (model= may come last) is checked at the end.
  std::string_view port_text = "0x300", tx_pages_text;
  std::size_t start = 0;
  bool first = true;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    std::string_view item =
        text.substr(start, comma == std::string_view::npos ? comma : comma - start);
    start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    if (first) {
      first = false;
      if (item == "emulate")
        spec.mode = NicMode::emulate;
      else if (item == "passthrough")
        spec.mode = NicMode::passthrough;
      else if (item == "vpio")
        spec.mode = NicMode::vpio;
      else
        throw std::invalid_argument("--nic: unknown mode '" + std::string(item) +
                                    "' (emulate, passthrough or vpio)");
      continue;
    }
    std::size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      throw std::invalid_argument("--nic: '" + std::string(item) + "' is not KEY=VALUE");
    std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "model") {
      spec.model = value;
      nic_kind(spec);  // throws for an unknown one
    } else if (key == "port") {
      port_text = value;
      spec.port = static_cast<std::uint16_t>(parse_number(key, value, 0xffff));
      spec.port_given = true;
    } else if (key == "irq") {
      spec.irq = parse_number(key, value, kIsaIrqLines - 1);
    } else if (key == "guest") {
      spec.guest = parse_number(key, value, 255);
    } else if (key == "mac") {
      spec.mac = hw::MacAddress::parse(value);
      if (!spec.mac) throw std::invalid_argument("--nic: bad mac '" + std::string(value) + "'");
      if (const auto error = station_mac_error(*spec.mac))
        throw std::invalid_argument("--nic: mac '" + std::string(value) + "' is " + *error);
    } else if (key == "hw") {
      spec.hw = parse_hw(value);
    } else if (key == "queue") {
      spec.queue = parse_number(key, value, 65536);
      if (spec.queue == 0) throw std::invalid_argument("--nic: queue must be at least 1");
    } else if (key == "mmio") {
      const unsigned address = parse_number(key, value, 0xffffffffu);
      if (address % hw::kMmioPageBytes != 0)
        throw std::invalid_argument("--nic: mmio=" + std::string(value) +
                                    " is not page-aligned (a multiple of 0x1000)");
      spec.mmio = address;
    } else if (key == "tx-pages") {
      tx_pages_text = value;
      spec.tx_pages = parse_number(key, value, 0xffff);
    } else if (key == "wire") {
      bool ok = value == "hub" || value == "none" ||
                (value.starts_with("hub:") && value.size() > 4) ||
                (value.starts_with("tap:") && value.size() > 4 && value.size() <= 4 + 15);
      if (!ok)
        throw std::invalid_argument("--nic: bad wire '" + std::string(value) +
                                    "' (hub, hub:NAME, tap:IFNAME or none)");
      spec.wire = value;
      spec.wire_given = true;
    } else {
      throw std::invalid_argument("--nic: unknown key '" + std::string(key) + "'");
    }
  }
  check_for_device(spec, port_text, tx_pages_text);
  if (spec.mmio) {
    const devices::NicKind& kind = nic_kind(spec);
    if (kind.mmio_bytes == 0)
      throw std::invalid_argument("--nic: mmio= does not apply to model " + std::string(kind.name) +
                                  ": the " + std::string(kind.display) + " has no MMIO window");
    if (*spec.mmio + kind.mmio_bytes > layout::kIdentityMapBytes)
      throw std::invalid_argument("--nic: mmio=" + hex(static_cast<unsigned>(*spec.mmio)) + ": the " +
                                  std::string(kind.display) + "'s " +
                                  std::to_string(kind.mmio_bytes) +
                                  "-byte MMIO window must end below 4 GiB");
  }
  return spec;
}

hw::MacAddress default_mac(unsigned guest_index) {
  hw::MacAddress mac{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};
  mac.bytes[5] = static_cast<std::uint8_t>(mac.bytes[5] + guest_index);
  return mac;
}

EmulatedNic::EmulatedNic(std::unique_ptr<hw::NetworkChip> chip, hw::MacAddress mac,
                         std::function<void()> raise_irq, const GuestMemory& ram)
    : mac_(mac), ram_(dmm_view(ram)), dma_(ram_), chip_(std::move(chip)) {
  chip_->set_dma_bus(&dma_);
  // ISA interrupts are edge-triggered: a rising line raises the IRQ once.
  chip_->set_irq_line(hw::on_rising_edge(std::move(raise_irq)));
}

// The chip and the wires behind it may throw (out of memory, a pcap write
// failing); the exit path must not. A lost access is the least harm.
std::uint32_t EmulatedNic::port_read(std::uint16_t offset, unsigned size) noexcept {
  try {
    return chip_->read(offset, size);
  } catch (...) {
    return ~0u;
  }
}

void EmulatedNic::port_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept {
  try {
    chip_->write(offset, size, value);
  } catch (...) {
  }
}

void EmulatedNic::port_read_string(std::uint16_t offset, unsigned size,
                                   std::span<std::uint8_t> data) noexcept {
  try {
    chip_->read_string(offset, size, data);
  } catch (...) {
  }
}

void EmulatedNic::port_write_string(std::uint16_t offset, unsigned size,
                                    std::span<const std::uint8_t> data) noexcept {
  try {
    chip_->write_string(offset, size, data);
  } catch (...) {
  }
}

Network::Network(std::optional<std::filesystem::path> pcap) {
  if (pcap) {
    recorder_ = std::make_unique<net::PcapRecorder>(*pcap);
    hub("").add_observer(*recorder_);
  }
}

Network::~Network() {
  // Tap reader threads deliver into chips: stop them before anything goes.
  for (auto& tap : taps_) tap->stop();
  stop_monitors();
}

net::Hub& Network::hub(const std::string& name) {
  auto& slot = hubs_[name];
  if (!slot) slot = std::make_unique<net::Hub>();
  return *slot;
}

net::Hub* Network::hub_for_wire(const std::string& wire) {
  if (wire == "hub") return &hub("");
  if (wire.starts_with("hub:")) return &hub(wire.substr(4));
  return nullptr;
}

namespace {

// Puts a card's window where its guest looks for it: on a Linux guest the
// device's PCI function, whose I/O BAR starts at spec.port and which the
// guest may move (`moved` is told), on a flat guest an ISA card at spec.port.
// With `memory` (a device's MMIO window), a Linux guest's function has a
// memory BAR serving it as well.
void place_card(Machine& machine, const NicSpec& spec, PortDevice& window, const std::string& name,
                hw::PciFunction::WindowMoved moved, MmioWindow* memory = nullptr) {
  const devices::NicKind& kind = nic_kind(spec);
  if (machine.is_linux() && kind.pci.vendor == 0)
    throw std::invalid_argument("--nic model=" + std::string(kind.name) +
                                ": the device has no PCI function, so a Linux guest cannot find "
                                "it; it is for flat guests");
  if (machine.is_linux())
    machine.add_pci_io_function(kind.pci, window, kind.window_ports, spec.port, spec.irq, name,
                                std::move(moved), memory);
  else
    machine.ports().add(spec.port, kind.window_ports, window, name);
}

// A card's MMIO window goes on a flat guest, above its RAM.
void check_mmio_placement(Machine& machine, const NicSpec& spec) {
  if (machine.is_linux())
    throw std::invalid_argument("--nic: mmio= is for flat guests; a Linux guest finds a card's "
                                "MMIO window through its PCI function's memory BAR");
  if (*spec.mmio < machine.memory().size())
    throw std::invalid_argument("--nic: mmio=" + hex(static_cast<unsigned>(*spec.mmio)) +
                                " lies in the RAM of guest '" + machine.name() + "' (" +
                                std::to_string(machine.memory().size() >> 20) + " MiB)");
}

// The spec as `machine` takes it (guest_port).
NicSpec placed_for(const Machine& machine, const NicSpec& requested) {
  NicSpec spec = requested;
  spec.port = guest_port(requested, machine.is_linux());
  return spec;
}

std::string card_name(const NicSpec& spec, const char* mode) {
  return std::string(nic_kind(spec).name) + (*mode ? " " : "") + mode;
}

// Posted writes of a window that moved, for windows that post through the
// machine directly.
hw::PciFunction::WindowMoved repost(Machine& machine, const devices::NicKind& kind) {
  return [&machine, &kind](std::optional<std::uint16_t> before,
                           std::optional<std::uint16_t> after) {
    if (kind.posted_ports == 0) return;
    if (before)
      machine.post_writes(static_cast<std::uint16_t>(*before + kind.posted_offset),
                          kind.posted_ports, false);
    if (after)
      machine.post_writes(static_cast<std::uint16_t>(*after + kind.posted_offset),
                          kind.posted_ports, true);
  };
}

hw::PciFunction::WindowMoved move_posted(PassthroughWindow& window) {
  return [&window](std::optional<std::uint16_t>, std::optional<std::uint16_t> after) {
    window.move_posted(after);
  };
}

}  // namespace

EmulatedNic& Network::attach_emulated(Machine& machine, const NicSpec& requested,
                                      hw::MacAddress mac) {
  const NicSpec spec = placed_for(machine, requested);
  const devices::NicKind& kind = nic_kind(spec);
  auto nic = std::make_unique<EmulatedNic>(
      kind.make_chip(mac), mac, [&machine, irq = spec.irq] { machine.raise_irq(irq); },
      machine.memory());
  MmioWindow* memory_bar = nullptr;
  if (machine.is_linux() && kind.mmio_bytes != 0)
    memory_bar = &direct_mmio_window(nic->chip(), card_name(spec, "") + " MMIO");
  place_card(machine, spec, *nic, card_name(spec, ""), repost(machine, kind), memory_bar);
  machine.add_interrupt_source();
  if (kind.posted_ports != 0)
    machine.post_writes(static_cast<std::uint16_t>(spec.port + kind.posted_offset),
                        kind.posted_ports, true);
  if (net::Hub* wire_hub = hub_for_wire(spec.wire)) {
    nic->chip().set_transmit_sink(&wire_hub->attach(nic->chip(), machine.name()));
  } else if (spec.wire.starts_with("tap:")) {
    auto tap = std::make_unique<net::TapDevice>(spec.wire.substr(4));
    tap->up();
    nic->chip().set_transmit_sink(tap.get());
    tap->start(nic->chip());
    taps_.push_back(std::move(tap));
  }
  if (spec.mmio) place_mmio_direct(machine, spec, nic->chip(), card_name(spec, "") + " MMIO");
  nics_.push_back(std::move(nic));
  return *nics_.back();
}

PassthroughNic::PassthroughNic(std::string guest, hw::PhysicalDevice& device, std::uint16_t ports,
                               const GuestMemory& ram)
    : guest_(std::move(guest)),
      device_(device),
      ram_(dmm_view(ram)),
      dma_(ram_),
      window_(ports, device, no_monitor_) {
  device_.set_dma_bus(&dma_);
}

PassthroughNic::~PassthroughNic() { device_.set_dma_bus(nullptr); }

// The physical card a spec names, created at its first use: vpio's chip on
// the requested wire (with the first user's MAC as its PROM), or a real card
// at a host I/O base, probed before anything uses it.
hw::PhysicalDevice& Network::physical_card(const NicSpec& spec, hw::MacAddress mac) {
  auto& card = physical_cards_[spec.hw];
  if (card) {
    if (card_models_[spec.hw] != spec.model)
      throw std::invalid_argument("--nic: physical card '" + spec.hw + "' is a " +
                                  card_models_[spec.hw] + ", not a " + spec.model);
    return *card;
  }
  card_models_[spec.hw] = spec.model;
  if (const auto base = host_card_base(spec)) {
    if (spec.wire_given)
      throw std::invalid_argument("--nic: wire= does not apply to hw=" + spec.hw +
                                  ": a real card's wire is its own cable");
    const devices::NicKind& kind = nic_kind(spec);
    if (kind.make_host_card == nullptr)
      throw std::invalid_argument("--nic: model " + std::string(kind.name) +
                                  " has no host card (hw=chip only)");
    if (!host_ports_) host_ports_ = std::make_unique<hw::SystemPorts>();
    try {
      card = kind.make_host_card(*host_ports_, *base);
    } catch (const std::system_error&) {
      physical_cards_.erase(spec.hw);
      throw;  // not allowed to reach the ports: not the input's fault
    } catch (const std::exception& e) {
      physical_cards_.erase(spec.hw);
      throw std::invalid_argument("--nic: hw=" + spec.hw + ": " + e.what());
    }
    return *card;
  }
  if (const auto address = host_vfio_address(spec)) {
    if (spec.wire_given)
      throw std::invalid_argument("--nic: wire= does not apply to hw=" + spec.hw +
                                  ": a real card's wire is its own cable");
    const devices::NicKind& kind = nic_kind(spec);
    std::unique_ptr<hw::VfioDevice> device;
    try {
      device = std::make_unique<hw::VfioDevice>(*address);
    } catch (const std::invalid_argument& e) {
      physical_cards_.erase(spec.hw);
      throw std::invalid_argument("--nic: hw=" + spec.hw + ": " + e.what());
    } catch (...) {
      physical_cards_.erase(spec.hw);
      throw;  // a refused call: not the input's fault
    }
    if (device->vendor_id() != kind.pci.vendor || device->device_id() != kind.pci.device) {
      physical_cards_.erase(spec.hw);
      char ids[64];
      std::snprintf(ids, sizeof ids, "%04x:%04x, not the %04x:%04x", device->vendor_id(),
                    device->device_id(), kind.pci.vendor, kind.pci.device);
      throw std::invalid_argument("--nic: hw=" + spec.hw + " is a PCI device " + ids + " of " +
                                  std::string(kind.display) + " (model=" + std::string(kind.name) + ")");
    }
    card = std::move(device);
    return *card;
  }
  net::Hub* wire_hub = hub_for_wire(spec.wire);
  if (wire_hub == nullptr && spec.wire != "none")
    throw std::invalid_argument("--nic: a physical chip supports wire=hub, hub:NAME or none");
  auto chip = nic_kind(spec).make_stand_in(mac);
  if (wire_hub != nullptr)
    chip->network_chip().set_transmit_sink(
        &wire_hub->attach(chip->network_chip(), "card:" + spec.hw));
  card = std::move(chip);
  return *card;
}

PassthroughNic& Network::attach_passthrough(Machine& machine, const NicSpec& requested,
                                            hw::MacAddress mac) {
  const NicSpec spec = placed_for(machine, requested);
  if (monitors_.contains(spec.hw))
    throw std::invalid_argument("--nic: physical card '" + spec.hw +
                                "' is shared in vpio mode; passthrough cannot have it too");
  if (auto it = physical_cards_.find(spec.hw); it != physical_cards_.end())
    for (const auto& existing : passthrough_)
      if (&existing->device() == it->second.get())
        throw std::invalid_argument("--nic: physical card '" + spec.hw +
                                    "' is already given whole to guest '" + existing->guest() +
                                    "'; passthrough cannot share a card (vpio mode will)");
  if (spec.mac && (host_card_base(spec) || host_vfio_address(spec)))
    throw std::invalid_argument("--nic: mac= does not apply to passthrough of hw=" + spec.hw +
                                ": the guest reads the card's own MAC from its PROM");
  hw::PhysicalDevice& card = physical_card(spec, mac);
  const devices::NicKind& kind = nic_kind(spec);
  auto nic =
      std::make_unique<PassthroughNic>(machine.name(), card, kind.window_ports, machine.memory());
  MmioWindow* memory_bar = nullptr;
  if (machine.is_linux() && kind.mmio_bytes != 0) {
    memory_bar = &direct_mmio_window(card, card_name(spec, "passthrough") + " MMIO");
    nic->set_mmio_window(memory_bar);
  }
  place_card(machine, spec, nic->window(), card_name(spec, "passthrough"),
             move_posted(nic->window()), memory_bar);
  if (kind.posted_ports != 0)
    nic->window().post_direct_writes(machine, spec.port, kind.posted_offset, kind.posted_ports);
  if (spec.mmio)
    nic->set_mmio_window(
        &place_mmio_direct(machine, spec, card, card_name(spec, "passthrough") + " MMIO"));
  card.set_interrupt_handler([&machine, irq = spec.irq] { machine.raise_irq(irq); });
  machine.add_interrupt_source();
  passthrough_.push_back(std::move(nic));
  return *passthrough_.back();
}

VpioNic& Network::attach_vpio(Machine& machine, const NicSpec& requested, hw::MacAddress mac,
                              unsigned sharers) {
  const NicSpec spec = placed_for(machine, requested);
  if (physical_cards_.contains(spec.hw) && !monitors_.contains(spec.hw))
    throw std::invalid_argument("--nic: physical card '" + spec.hw +
                                "' is given whole to a guest by passthrough; vpio cannot share it");
  const devices::NicKind& kind = nic_kind(spec);
  if (kind.make_monitor == nullptr)
    throw std::invalid_argument("--nic: model " + std::string(kind.name) + " has no vpio mode");
  auto& monitor = monitors_[spec.hw];
  if (!monitor) {
    devices::NicMonitorOptions options;
    options.sharers = sharers;
    options.queue_frames = spec.queue;
    options.tx_pages = spec.tx_pages;
    // A host card's interrupt is polled (docs/real-hardware.md).
    options.polled_interrupt = host_card_base(spec).has_value();
    try {
      monitor = kind.make_monitor(physical_card(spec, mac), options);
    } catch (...) {
      monitors_.erase(spec.hw);
      throw;
    }
  }
  // Where the guest has the card's window now (a Linux guest may move its
  // BAR): the machine check names the port the guest used.
  auto base = std::make_shared<std::atomic<std::uint32_t>>(spec.port);
  dmm::GuestCallbacks callbacks;
  callbacks.raise_irq = [&machine, irq = spec.irq] { machine.raise_irq(irq); };
  callbacks.violation = [&machine, base, mmio = spec.mmio](const dmm::ViolationReport& r) {
    machine.inject_machine_check(dmm_machine_check(r, r.in_mmio && mmio ? *mmio : base->load()));
  };
  callbacks.ram = dmm_view(machine.memory());
  auto& share = monitor->add_guest(machine.name(), mac, std::move(callbacks));
  MmioWindow* memory_bar =
      machine.is_linux() && kind.mmio_bytes != 0 ? share.mmio_window() : nullptr;
  place_card(machine, spec, share.window(), card_name(spec, "vpio"),
             [base, posted = move_posted(share.window())](std::optional<std::uint16_t> before,
                                                          std::optional<std::uint16_t> after) {
               if (after) base->store(*after);
               posted(before, after);
             },
             memory_bar);
  // Posted while the model leaves the data port direct (a checked DMA).
  if (kind.posted_ports != 0)
    share.window().post_direct_writes(machine, spec.port, kind.posted_offset, kind.posted_ports);
  if (spec.mmio) {
    MmioWindow* window = share.mmio_window();
    if (window == nullptr)
      throw std::invalid_argument("--nic: model " + std::string(kind.name) +
                                  "'s monitor does not serve its MMIO window in vpio mode");
    check_mmio_placement(machine, spec);
    machine.mmio().add(*spec.mmio, window->bytes(), *window, card_name(spec, "vpio") + " MMIO");
    window->place(*spec.mmio, &machine);
  }
  machine.add_interrupt_source();
  vpio_.push_back(std::make_unique<VpioNic>(
      VpioNic{machine.name(), monitor.get(), &share, physical_cards_.at(spec.hw).get()}));
  return *vpio_.back();
}

MmioWindow& Network::direct_mmio_window(hw::MemoryMapped& device, const std::string& name) {
  auto window = std::make_unique<MmioWindow>(device, name, no_mmio_monitor_);
  window->set_hooked(0, window->bytes(), false, false);
  mmio_windows_.push_back(std::move(window));
  return *mmio_windows_.back();
}

MmioWindow& Network::place_mmio_direct(Machine& machine, const NicSpec& spec,
                                       hw::MemoryMapped& device, const std::string& name) {
  check_mmio_placement(machine, spec);
  MmioWindow& window = direct_mmio_window(device, name);
  machine.mmio().add(*spec.mmio, window.bytes(), window, name);
  window.place(*spec.mmio, &machine);
  return window;
}

void Network::stop_monitors() {
  for (auto& [name, monitor] : monitors_) monitor->stop();
}

std::uint64_t Network::frames_recorded() const {
  return recorder_ ? recorder_->frames_recorded() : 0;
}

std::error_code Network::pcap_write_error() const {
  return recorder_ ? recorder_->write_error() : std::error_code();
}

}  // namespace vpio

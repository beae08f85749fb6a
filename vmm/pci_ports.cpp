// Configuration cycles from the guest's port I/O, and BAR moves turned into
// port bus changes.
#include "vmm/pci_ports.hpp"

#include <cstdio>
#include <stdexcept>

namespace vpio {

PciPorts::PciPorts(PortBus& bus) : bus_(bus), host_bridge_(hw::pci::kHostBridge, 0, 0) {
  mechanism_.attach(0, host_bridge_);
  bus_.add(hw::PciConfigMechanism1::kAddressPort, hw::PciConfigMechanism1::kPorts, *this,
           "pci config");
}

unsigned PciPorts::add_io_function(const hw::PciIdentity& identity, PortDevice& window,
                                   std::uint16_t bytes, std::uint16_t base, std::uint8_t irq,
                                   std::string name, hw::PciFunction::WindowMoved moved) {
  if (bytes == 0 || base % bytes != 0)
    throw std::invalid_argument("'" + name + "' at port " + std::to_string(base) +
                                ": a PCI I/O BAR of " + std::to_string(bytes) +
                                " ports starts at a multiple of " + std::to_string(bytes));
  const auto device = mechanism_.free_device();
  if (!device) throw std::invalid_argument("PCI bus 0 is full: no slot for '" + name + "'");
  auto function = std::make_unique<Function>(Function{
      hw::PciFunction(identity, bytes, hw::pci::kPinIntA), &window, std::move(name), *device, irq,
      std::nullopt, std::move(moved)});
  function->config.place(base, irq);
  bus_.add(base, bytes, window, function->name);
  function->mapped = base;
  Function& placed = *function;
  placed.config.on_window_moved(
      [this, &placed](std::optional<std::uint16_t>, std::optional<std::uint16_t> after) {
        move(placed, after);
      });
  mechanism_.attach(*device, placed.config);
  functions_.push_back(std::move(function));
  return *device;
}

// A window that would overlap another device decodes nothing, as two PCI
// functions claiming one address would not work on hardware either; vpio
// says so once per move.
void PciPorts::move(Function& function, std::optional<std::uint16_t> to) noexcept {
  const auto before = function.mapped;
  if (function.mapped) bus_.remove(*function.mapped, *function.window);
  function.mapped.reset();
  if (to) {
    try {
      bus_.add(*to, function.config.io_bytes(), *function.window, function.name);
      function.mapped = to;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "vpio: the guest moved PCI device %02x.0 (%s) onto used ports: %s\n",
                   function.device, function.name.c_str(), e.what());
    }
  }
  if (before != function.mapped && function.moved) function.moved(before, function.mapped);
}

std::vector<PciInterruptRoute> PciPorts::routes() const {
  std::vector<PciInterruptRoute> routes;
  for (const auto& f : functions_)
    routes.push_back({static_cast<std::uint8_t>(f->device), 0, f->irq});
  return routes;
}

std::uint32_t PciPorts::port_read(std::uint16_t offset, unsigned size) noexcept {
  return mechanism_.read(offset, size);
}

void PciPorts::port_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept {
  mechanism_.write(offset, size, value);
}

}  // namespace vpio

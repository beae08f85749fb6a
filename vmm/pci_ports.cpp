// Configuration cycles from the guest's port I/O, and BAR moves turned into
// port bus changes.
#include "vmm/pci_ports.hpp"

#include <cstdio>
#include <stdexcept>

namespace vpio {

PciPorts::PciPorts(PortBus& bus, MmioBus* mmio)
    : bus_(bus), mmio_(mmio), host_bridge_(hw::pci::kHostBridge, 0, 0) {
  mechanism_.attach(0, host_bridge_);
  bus_.add(hw::PciConfigMechanism1::kAddressPort, hw::PciConfigMechanism1::kPorts, *this,
           "pci config");
}

unsigned PciPorts::add_io_function(const hw::PciIdentity& identity, PortDevice& window,
                                   std::uint16_t bytes, std::uint16_t base, std::uint8_t irq,
                                   std::string name, hw::PciFunction::WindowMoved moved,
                                   std::optional<MemoryBar> memory) {
  if (memory) {
    if (mmio_ == nullptr || memory->window == nullptr)
      throw std::invalid_argument("'" + name + "': a memory BAR needs an MMIO bus and a window");
    if (memory->window->bytes() > memory->bytes || memory->base % memory->bytes != 0)
      throw std::invalid_argument("'" + name + "': a memory BAR of " +
                                  std::to_string(memory->bytes) + " bytes at " +
                                  std::to_string(memory->base) + " cannot hold its " +
                                  std::to_string(memory->window->bytes()) +
                                  "-byte window, or is not aligned to its size");
  }
  if (bytes == 0 || base % bytes != 0)
    throw std::invalid_argument("'" + name + "' at port " + std::to_string(base) +
                                ": a PCI I/O BAR of " + std::to_string(bytes) +
                                " ports starts at a multiple of " + std::to_string(bytes));
  const auto device = mechanism_.free_device();
  if (!device) throw std::invalid_argument("PCI bus 0 is full: no slot for '" + name + "'");
  auto function = std::make_unique<Function>(
      Function{hw::PciFunction(identity, bytes, hw::pci::kPinIntA, memory ? memory->bytes : 0),
               &window, std::move(name), *device, irq, std::nullopt, std::move(moved), memory,
               std::nullopt});
  function->config.place(base, irq, memory ? memory->base : 0);
  bus_.add(base, bytes, window, function->name);
  function->mapped = base;
  if (memory) {
    try {
      mmio_->add(memory->base, memory->window->bytes(), *memory->window, function->name + " MMIO");
    } catch (...) {
      bus_.remove(base, window);
      throw;
    }
    function->mem_mapped = memory->base;
    memory->window->place(memory->base, memory->mapper);
  }
  Function& placed = *function;
  placed.config.on_window_moved(
      [this, &placed](std::optional<std::uint16_t>, std::optional<std::uint16_t> after) {
        move(placed, after);
      });
  placed.config.on_mem_window_moved(
      [this, &placed](std::optional<std::uint32_t>, std::optional<std::uint32_t> after) {
        move_memory(placed, after);
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

// The same for the MMIO window: off the MMIO bus (and its pages unmapped)
// while the BAR decodes nowhere or onto another range.
void PciPorts::move_memory(Function& function, std::optional<std::uint32_t> to) noexcept {
  if (!function.memory) return;
  MmioWindow& window = *function.memory->window;
  if (function.mem_mapped) mmio_->remove(*function.mem_mapped, window);
  function.mem_mapped.reset();
  if (to) {
    try {
      mmio_->add(*to, window.bytes(), window, function.name + " MMIO");
      function.mem_mapped = to;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "vpio: the guest moved PCI device %02x.0 (%s) onto used memory: %s\n",
                   function.device, function.name.c_str(), e.what());
    }
  }
  window.place(function.mem_mapped ? std::optional<std::uint64_t>(*function.mem_mapped)
                                   : std::nullopt,
               function.memory->mapper);
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

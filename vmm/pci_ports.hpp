// The PCI side of a Linux guest: configuration mechanism #1 on its port bus
// with a host bridge at 00:00.0, and functions with one I/O BAR each whose
// window is kept on the port bus where the BAR says. When the guest moves a
// BAR (or turns I/O decode off and on), the window's ports move with it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hooks/port_bus.hpp"
#include "hw/pci.hpp"
#include "vmm/mptable.hpp"

namespace vpio {

class PciPorts final : public PortDevice {
 public:
  // Registers itself at 0xCF8-0xCFF on `bus`, which must outlive it.
  explicit PciPorts(PortBus& bus);
  PciPorts(const PciPorts&) = delete;
  PciPorts& operator=(const PciPorts&) = delete;

  // A function with identity `identity` on the next free device number,
  // whose I/O BAR of `bytes` ports serves `window`, placed at `base` with
  // I/O decode on, its INTA on IOAPIC pin `irq`. `moved` is called (on the
  // vCPU thread, from the configuration write) after the window moved, with
  // where it decoded before and after. Throws std::invalid_argument when
  // the bus is full or the window overlaps another range of the port bus.
  unsigned add_io_function(const hw::PciIdentity& identity, PortDevice& window,
                           std::uint16_t bytes, std::uint16_t base, std::uint8_t irq,
                           std::string name, hw::PciFunction::WindowMoved moved);

  // Each function's interrupt, for the MP table.
  std::vector<PciInterruptRoute> routes() const;

  std::uint32_t port_read(std::uint16_t offset, unsigned size) noexcept override;
  void port_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept override;

 private:
  struct Function {
    hw::PciFunction config;
    PortDevice* window = nullptr;
    std::string name;
    unsigned device = 0;
    std::uint8_t irq = 0;
    std::optional<std::uint16_t> mapped;  // where its ports are on the bus
    hw::PciFunction::WindowMoved moved;
  };
  void move(Function& function, std::optional<std::uint16_t> to) noexcept;

  PortBus& bus_;
  hw::PciConfigMechanism1 mechanism_;
  hw::PciFunction host_bridge_;
  std::vector<std::unique_ptr<Function>> functions_;
};

}  // namespace vpio

// The PCI side of a Linux guest: configuration mechanism #1 on its port bus
// with a host bridge at 00:00.0, and functions with one I/O BAR each whose
// window is kept on the port bus where the BAR says, and optionally a memory
// BAR whose MMIO window is kept on the MMIO bus (its exit-free pages mapped
// there too). When the guest moves a BAR (or turns decode off and on), the
// window moves with it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hooks/mmio_bus.hpp"
#include "hooks/mmio_window.hpp"
#include "hooks/port_bus.hpp"
#include "hw/pci.hpp"
#include "vmm/mptable.hpp"

namespace vpio {

class PciPorts final : public PortDevice {
 public:
  // Registers itself at 0xCF8-0xCFF on `bus`, which must outlive it, as
  // must `mmio` (for memory BARs; none without it).
  explicit PciPorts(PortBus& bus, MmioBus* mmio = nullptr);

  // A function's memory BAR (BAR1): `bytes` (a power of two from 16),
  // served by `window` (no larger), placed at `base`; exit-free pages are
  // mapped through `mapper` (nullptr: none).
  struct MemoryBar {
    MmioWindow* window = nullptr;
    std::uint32_t bytes = 0;
    std::uint32_t base = 0;
    PageMapper* mapper = nullptr;
  };
  PciPorts(const PciPorts&) = delete;
  PciPorts& operator=(const PciPorts&) = delete;

  // A function with identity `identity` on the next free device number,
  // whose I/O BAR of `bytes` ports serves `window`, placed at `base` with
  // I/O decode on, its INTA on IOAPIC pin `irq`. `moved` is called (on the
  // vCPU thread, from the configuration write) after the window moved, with
  // where it decoded before and after. With `memory`, the function has a
  // memory BAR too. Throws std::invalid_argument when the bus is full, the
  // window overlaps another range of its bus, or the memory BAR is malformed.
  unsigned add_io_function(const hw::PciIdentity& identity, PortDevice& window,
                           std::uint16_t bytes, std::uint16_t base, std::uint8_t irq,
                           std::string name, hw::PciFunction::WindowMoved moved,
                           std::optional<MemoryBar> memory = std::nullopt);

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
    std::optional<MemoryBar> memory;
    std::optional<std::uint32_t> mem_mapped;  // where its MMIO window is on the MMIO bus
  };
  void move(Function& function, std::optional<std::uint16_t> to) noexcept;
  void move_memory(Function& function, std::optional<std::uint32_t> to) noexcept;

  PortBus& bus_;
  MmioBus* mmio_;
  hw::PciConfigMechanism1 mechanism_;
  hw::PciFunction host_bridge_;
  std::vector<std::unique_ptr<Function>> functions_;
};

}  // namespace vpio

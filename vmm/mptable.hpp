// The Intel MultiProcessor Specification 1.4 table a Linux guest reads to
// find its IOAPIC and how every interrupt line reaches it: ISA IRQs 0-15 on
// the IOAPIC pin of the same number (KVM's default GSI routing), each PCI
// function's INTx on the pin vpio gives it (edge-triggered, active high: see
// docs/linux-guests.md; that pin is then no ISA line), the 8259 on LINT0 (ExtINT) and
// NMI on LINT1. Without ACPI this is the only place Linux learns PCI
// interrupt routing (as kvmtool's x86/mptable.c provides it). Pure bytes.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "vmm/guest_memory.hpp"

namespace vpio {

namespace mptable {
// Linux scans the last KiB of base memory (639 KiB) for the floating pointer.
inline constexpr std::uint64_t kFloatingPointer = 0x9fc00;
inline constexpr std::uint64_t kRegionBytes = 0x400;
inline constexpr std::uint32_t kLocalApic = 0xfee00000;
inline constexpr std::uint32_t kIoApic = 0xfec00000;
inline constexpr std::uint8_t kIoApicId = 1;  // the BSP's local APIC is 0
inline constexpr unsigned kIoApicPins = 24;   // KVM's in-kernel IOAPIC
inline constexpr std::uint8_t kPciBus = 0, kIsaBus = 1;
}  // namespace mptable

// One PCI function's interrupt: device `device` on bus 0, pin INTA..INTD
// (0..3), wired to IOAPIC pin `ioapic_pin`.
struct PciInterruptRoute {
  std::uint8_t device = 0;
  std::uint8_t pin = 0;
  std::uint8_t ioapic_pin = 0;
};

// The floating pointer followed by the configuration table, as it lies at
// kFloatingPointer. Throws std::invalid_argument when a route names a pin or
// device that does not exist or the table would not fit its KiB.
std::vector<std::uint8_t> build_mptable(std::span<const PciInterruptRoute> routes);

// Writes build_mptable()'s bytes at kFloatingPointer.
void write_mptable(GuestMemory& memory, std::span<const PciInterruptRoute> routes);

}  // namespace vpio

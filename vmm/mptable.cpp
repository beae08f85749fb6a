// The MP table: floating pointer, header, and entries in the order the
// specification asks (processors, buses, IOAPICs, I/O then local interrupts).
#include "vmm/mptable.hpp"

#include <cstring>
#include <stdexcept>
#include <string>

#include "vmm/linux_boot.hpp"

namespace vpio {
namespace {

using namespace mptable;
static_assert(kFloatingPointer == linux_boot::kMpTableStart, "the e820 map reserves the MP table");

constexpr std::size_t kFloatingBytes = 16;
constexpr std::size_t kHeaderBytes = 44;
constexpr std::uint8_t kSpecRevision = 4;  // 1.4
enum EntryType : std::uint8_t { kProcessor = 0, kBus = 1, kIoApicEntry = 2, kIoInterrupt = 3,
                                kLocalInterrupt = 4 };
enum InterruptType : std::uint8_t { kInt = 0, kNmi = 1, kExtInt = 3 };
constexpr std::uint8_t kLocalApicVersion = 0x14, kIoApicVersion = 0x11;
constexpr std::uint8_t kCpuEnabled = 1, kCpuBootstrap = 2;
constexpr std::uint8_t kAllLocalApics = 0xff;
// "Conforms to the bus": edge, active high for ISA. vpio's PCI functions
// signal INTx as edges (their devices report rising edges of their
// interrupt line), so their entries say edge, active high too.
constexpr std::uint16_t kConformsToBus = 0;
constexpr std::uint16_t kEdgeActiveHigh = (1u << 2) | 1u;
constexpr unsigned kIsaIrqs = 16;
constexpr unsigned kPciDevices = 32;

class Writer {
 public:
  void u8(std::uint8_t v) { bytes_.push_back(v); }
  void u16(std::uint16_t v) { raw(&v, sizeof v); }
  void u32(std::uint32_t v) { raw(&v, sizeof v); }
  void text(const char* s, std::size_t width) {  // space-padded, no NUL
    const std::size_t n = std::strlen(s);
    for (std::size_t i = 0; i < width; ++i) u8(i < n ? static_cast<std::uint8_t>(s[i]) : ' ');
  }
  void raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  std::vector<std::uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<std::uint8_t> bytes_;
};

// The byte that makes [begin, end) sum to zero.
std::uint8_t checksum(const std::vector<std::uint8_t>& bytes, std::size_t begin, std::size_t end) {
  std::uint8_t sum = 0;
  for (std::size_t i = begin; i < end; ++i) sum = static_cast<std::uint8_t>(sum + bytes[i]);
  return static_cast<std::uint8_t>(-sum);
}

void interrupt(Writer& w, EntryType type, InterruptType kind, std::uint8_t bus,
               std::uint8_t bus_irq, std::uint8_t apic, std::uint8_t pin,
               std::uint16_t flags = kConformsToBus) {
  w.u8(type);
  w.u8(kind);
  w.u16(flags);
  w.u8(bus);
  w.u8(bus_irq);
  w.u8(apic);
  w.u8(pin);
}

}  // namespace

std::vector<std::uint8_t> build_mptable(std::span<const PciInterruptRoute> routes) {
  for (const PciInterruptRoute& r : routes) {
    if (r.device >= kPciDevices || r.pin > 3 || r.ioapic_pin >= kIoApicPins)
      throw std::invalid_argument("MP table: PCI device " + std::to_string(r.device) + " pin " +
                                  std::to_string(r.pin) + " to IOAPIC pin " +
                                  std::to_string(r.ioapic_pin) + " does not exist");
  }
  Writer w;
  const std::uint32_t table_at = static_cast<std::uint32_t>(kFloatingPointer + kFloatingBytes);
  // The floating pointer: signature, table address, length in 16-byte units,
  // revision, checksum, feature bytes (0: a table follows; IMCR absent, so
  // the 8259 reaches the CPU in virtual-wire mode).
  w.text("_MP_", 4);
  w.u32(table_at);
  w.u8(1);
  w.u8(kSpecRevision);
  w.u8(0);
  for (int i = 0; i < 5; ++i) w.u8(0);
  w.bytes()[10] = checksum(w.bytes(), 0, kFloatingBytes);

  const std::size_t header_at = w.bytes().size();
  w.text("PCMP", 4);
  w.u16(0);  // length, filled in below
  w.u8(kSpecRevision);
  w.u8(0);  // checksum
  w.text("VPIO", 8);
  w.text("VPIO VMM", 12);
  w.u32(0);  // no OEM table
  w.u16(0);
  w.u16(0);  // entry count, filled in below
  w.u32(kLocalApic);
  w.u16(0);  // no extended table
  w.u8(0);
  w.u8(0);
  std::uint16_t entries = 0;

  w.u8(kProcessor);
  w.u8(0);  // local APIC id
  w.u8(kLocalApicVersion);
  w.u8(kCpuEnabled | kCpuBootstrap);
  w.u32(0);  // CPU signature and features: Linux reads neither here
  w.u32(0);
  w.u32(0);
  w.u32(0);
  ++entries;

  for (const auto& [id, name] : {std::pair{kPciBus, "PCI"}, std::pair{kIsaBus, "ISA"}}) {
    w.u8(kBus);
    w.u8(id);
    w.text(name, 6);
    ++entries;
  }

  w.u8(kIoApicEntry);
  w.u8(kIoApicId);
  w.u8(kIoApicVersion);
  w.u8(1);  // enabled
  w.u32(kIoApic);
  ++entries;

  // ISA IRQ n on IOAPIC pin n, as KVM routes GSI n; IRQ 2 is the cascade;
  // a pin a PCI function has is not also an ISA line (as firmware does).
  std::uint32_t pci_pins = 0;
  for (const PciInterruptRoute& r : routes) pci_pins |= 1u << r.ioapic_pin;
  for (std::uint8_t irq = 0; irq < kIsaIrqs; ++irq) {
    if (irq == 2 || (pci_pins & (1u << irq)) != 0) continue;
    interrupt(w, kIoInterrupt, kInt, kIsaBus, irq, kIoApicId, irq);
    ++entries;
  }
  // A PCI source is (device << 2) | pin.
  for (const PciInterruptRoute& r : routes) {
    interrupt(w, kIoInterrupt, kInt, kPciBus, static_cast<std::uint8_t>((r.device << 2) | r.pin),
              kIoApicId, r.ioapic_pin, kEdgeActiveHigh);
    ++entries;
  }
  interrupt(w, kLocalInterrupt, kExtInt, kIsaBus, 0, kAllLocalApics, 0);
  interrupt(w, kLocalInterrupt, kNmi, kIsaBus, 0, kAllLocalApics, 1);
  entries += 2;

  auto& bytes = w.bytes();
  const auto length = static_cast<std::uint16_t>(bytes.size() - header_at);
  std::memcpy(&bytes[header_at + 4], &length, sizeof length);
  std::memcpy(&bytes[header_at + 34], &entries, sizeof entries);
  bytes[header_at + 7] = checksum(bytes, header_at, bytes.size());
  if (bytes.size() > kRegionBytes)
    throw std::invalid_argument("MP table: " + std::to_string(bytes.size()) +
                                " bytes do not fit the last KiB of base memory");
  return bytes;
}

void write_mptable(GuestMemory& memory, std::span<const PciInterruptRoute> routes) {
  const auto table = build_mptable(routes);
  auto at = memory.bytes(kFloatingPointer, table.size());
  std::memcpy(at.data(), table.data(), table.size());
}

}  // namespace vpio

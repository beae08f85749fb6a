// Configuration space with per-bit write masks: every register a write may
// change is writable bit by bit, everything else is read-only.
#include "hw/pci.hpp"

#include <bit>
#include <cstring>
#include <stdexcept>
#include <string>

namespace vpio::hw {
namespace {

using namespace pci;

// What a read of `size` bytes nobody answers returns.
std::uint32_t all_ones(unsigned size) noexcept {
  return size >= 4 ? ~0u : (1u << (8 * size)) - 1;
}

bool valid_access(std::uint8_t offset, unsigned size) noexcept {
  return (size == 1 || size == 2 || size == 4) && (offset & (size - 1)) == 0;
}

void put(std::array<std::uint8_t, kConfigBytes>& bytes, unsigned at, std::uint32_t value,
         unsigned size) {
  for (unsigned i = 0; i < size; ++i) bytes[at + i] = static_cast<std::uint8_t>(value >> (8 * i));
}

}  // namespace

PciFunction::PciFunction(const PciIdentity& identity, std::uint16_t io_bytes,
                         std::uint8_t interrupt_pin, std::uint32_t mem_bytes)
    : io_bytes_(io_bytes), mem_bytes_(mem_bytes) {
  if (mem_bytes != 0 && (mem_bytes < 16 || mem_bytes > (256u << 20) || !std::has_single_bit(mem_bytes)))
    throw std::invalid_argument("PCI memory BAR of " + std::to_string(mem_bytes) +
                                " bytes: a power of two from 16 bytes to 256 MiB");
  if (io_bytes != 0 && (io_bytes < 4 || io_bytes > 256 || !std::has_single_bit(io_bytes)))
    throw std::invalid_argument("PCI I/O BAR of " + std::to_string(io_bytes) +
                                " ports: a power of two from 4 to 256");
  if (interrupt_pin > 4)
    throw std::invalid_argument("PCI interrupt pin " + std::to_string(interrupt_pin));
  put(space_, kVendorId, identity.vendor, 2);
  put(space_, kVendorId + 2, identity.device, 2);
  put(space_, kRevision, identity.revision, 1);
  put(space_, kClass, identity.class_code, 3);
  put(space_, kHeaderType, 0, 1);
  put(space_, kSubsystemVendor, identity.subsystem_vendor, 2);
  put(space_, kSubsystemVendor + 2, identity.subsystem, 2);
  put(space_, kInterruptPin, interrupt_pin, 1);
  const std::uint16_t command_bits = (io_bytes != 0 ? kCommandIo : 0) | kCommandMemory |
                                     kCommandMaster | kCommandParity | kCommandSerr;
  put(writable_, kCommand, command_bits, 2);
  put(writable_, kCacheLine, 0xff, 1);
  put(writable_, kLatency, 0xff, 1);
  put(writable_, kInterruptLine, 0xff, 1);
  if (io_bytes != 0) {
    // A 16-bit decoder: the upper half of the BAR is hardwired to zero.
    put(space_, kBar0, kBarIo, 4);
    put(writable_, kBar0, static_cast<std::uint16_t>(~(io_bytes - 1u)) & 0xfffcu, 4);
  }
  // 32-bit, anywhere below 4 GiB, not prefetchable: type bits 0.
  if (mem_bytes != 0) put(writable_, kBar1, ~(mem_bytes - 1u) & ~0xfu, 4);
}

std::uint32_t PciFunction::read(std::uint8_t offset, unsigned size) const noexcept {
  if (!valid_access(offset, size)) return ~0u;
  std::uint32_t value = 0;
  for (unsigned i = 0; i < size; ++i) value |= std::uint32_t{space_[offset + i]} << (8 * i);
  return value;
}

void PciFunction::write(std::uint8_t offset, unsigned size, std::uint32_t value) noexcept {
  if (!valid_access(offset, size)) return;
  const auto before = io_window();
  const auto mem_before = mem_window();
  for (unsigned i = 0; i < size; ++i) {
    const auto byte = static_cast<std::uint8_t>(value >> (8 * i));
    const std::uint8_t mask = writable_[offset + i];
    space_[offset + i] = static_cast<std::uint8_t>((space_[offset + i] & ~mask) | (byte & mask));
  }
  const auto after = io_window();
  if (before != after && moved_) moved_(before, after);
  const auto mem_after = mem_window();
  if (mem_before != mem_after && mem_moved_) mem_moved_(mem_before, mem_after);
}

void PciFunction::place(std::uint16_t io_base, std::uint8_t interrupt_line,
                        std::uint32_t mem_base) noexcept {
  if (io_bytes_ != 0) {
    put(space_, kBar0, (io_base & ~(io_bytes_ - 1u)) | kBarIo, 4);
    put(space_, kCommand, read(kCommand, 2) | kCommandIo, 2);
  }
  if (mem_bytes_ != 0) {
    put(space_, kBar1, mem_base & ~(mem_bytes_ - 1u), 4);
    put(space_, kCommand, read(kCommand, 2) | kCommandMemory, 2);
  }
  put(space_, kInterruptLine, interrupt_line, 1);
}

std::optional<std::uint16_t> PciFunction::io_window() const noexcept {
  if (io_bytes_ == 0 || (read(kCommand, 2) & kCommandIo) == 0) return std::nullopt;
  const std::uint32_t base = read(kBar0, 4) & ~std::uint32_t{3};
  if (base == 0 || base + io_bytes_ > 0x10000) return std::nullopt;
  return static_cast<std::uint16_t>(base);
}

std::optional<std::uint32_t> PciFunction::mem_window() const noexcept {
  if (mem_bytes_ == 0 || (read(kCommand, 2) & kCommandMemory) == 0) return std::nullopt;
  const std::uint32_t base = read(kBar1, 4) & ~std::uint32_t{0xf};
  if (base == 0 || std::uint64_t{base} + mem_bytes_ > (std::uint64_t{1} << 32)) return std::nullopt;
  return base;
}

void PciConfigMechanism1::attach(unsigned device, PciFunction& function) {
  if (device >= kDevicesPerBus || devices_[device] != nullptr)
    throw std::invalid_argument("PCI device " + std::to_string(device) +
                                (device >= kDevicesPerBus ? " does not exist on a bus"
                                                          : " is taken"));
  devices_[device] = &function;
}

std::optional<unsigned> PciConfigMechanism1::free_device() const noexcept {
  for (unsigned d = 0; d < kDevicesPerBus; ++d)
    if (devices_[d] == nullptr) return d;
  return std::nullopt;
}

PciFunction* PciConfigMechanism1::selected(std::uint8_t& reg) const noexcept {
  if ((address_ & kEnable) == 0) return nullptr;
  const unsigned bus = (address_ >> 16) & 0xff, device = (address_ >> 11) & 0x1f,
                 function = (address_ >> 8) & 0x7;
  if (bus != 0 || function != 0) return nullptr;
  reg = static_cast<std::uint8_t>(address_ & 0xfc);
  return devices_[device];
}

std::uint32_t PciConfigMechanism1::read(std::uint16_t offset, unsigned size) const noexcept {
  if (offset < 4) return offset == 0 && size == 4 ? address_ : all_ones(size);
  std::uint8_t reg = 0;
  const PciFunction* function = selected(reg);
  if (function == nullptr || offset + size > kPorts) return all_ones(size);
  return function->read(static_cast<std::uint8_t>(reg + offset - 4), size);
}

void PciConfigMechanism1::write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept {
  if (offset < 4) {
    // Reserved bits 30:24 and 1:0 read as written on some bridges; zero here.
    if (offset == 0 && size == 4) address_ = value & (kEnable | 0x00fffffcu);
    return;
  }
  std::uint8_t reg = 0;
  PciFunction* function = selected(reg);
  if (function == nullptr || offset + size > kPorts) return;
  function->write(static_cast<std::uint8_t>(reg + offset - 4), size, value);
}

}  // namespace vpio::hw

// PCI configuration space as a PC's host bridge offers it through
// configuration mechanism #1 (ports 0xCF8 address, 0xCFC-0xCFF data), with
// conventional functions of header type 0 on bus 0: identity, command
// register, one I/O BAR (BAR0), one 32-bit memory BAR (BAR1), the interrupt
// line and pin. Enough for Linux's
// `pci_direct_probe` and its bus scan, BAR sizing and claiming, and a driver's
// `pci_enable_device`. Leaves out: other buses and bridges, memory BARs,
// expansion ROMs, capabilities, the status register's error bits, INTx
// disable (bit 10 reads 0 and ignores writes: as on a PCI 2.2 function).
// Knows nothing of guests or KVM.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>

namespace vpio::hw {

struct PciIdentity {
  std::uint16_t vendor = 0;
  std::uint16_t device = 0;
  std::uint32_t class_code = 0;  // base class, subclass, programming interface
  std::uint8_t revision = 0;
  std::uint16_t subsystem_vendor = 0;
  std::uint16_t subsystem = 0;
};

namespace pci {
inline constexpr std::uint8_t kVendorId = 0x00, kCommand = 0x04, kStatus = 0x06,
                              kRevision = 0x08, kClass = 0x09, kCacheLine = 0x0c,
                              kLatency = 0x0d, kHeaderType = 0x0e, kBar0 = 0x10, kBar1 = 0x14,
                              kSubsystemVendor = 0x2c, kInterruptLine = 0x3c,
                              kInterruptPin = 0x3d;
inline constexpr std::uint16_t kCommandIo = 1u << 0, kCommandMemory = 1u << 1,
                               kCommandMaster = 1u << 2, kCommandParity = 1u << 6,
                               kCommandSerr = 1u << 8;
inline constexpr std::uint32_t kBarIo = 1u << 0;
inline constexpr std::uint8_t kPinIntA = 1;
inline constexpr unsigned kDevicesPerBus = 32;
inline constexpr unsigned kConfigBytes = 256;
// RTL8029: an NE2000 on PCI (Linux's ne2k-pci knows it as 10ec:8029).
inline constexpr PciIdentity kRtl8029{0x10ec, 0x8029, 0x020000, 0, 0x10ec, 0x8029};
// RTL8139 in classic mode: revision 0x10, below the 0x20 from which Linux
// leaves a 10ec:8139 to 8139cp (C+ mode) and 8139too binds it.
inline constexpr PciIdentity kRtl8139{0x10ec, 0x8139, 0x020000, 0x10, 0x10ec, 0x8139};
// A host bridge (class 06 00 00), the function Linux's sanity check of
// mechanism #1 looks for on bus 0.
inline constexpr PciIdentity kHostBridge{0x8086, 0x1237, 0x060000, 0x02, 0, 0};
}  // namespace pci

// One function's 256 bytes of configuration space.
class PciFunction {
 public:
  // io_bytes: the size of its one I/O BAR (BAR0), a power of two from 4 to
  // 256, or 0 for none. interrupt_pin: 0 for none, 1 for INTA. mem_bytes:
  // the size of its 32-bit memory BAR (BAR1), a power of two from 16 bytes
  // to 256 MiB, or 0 for none.
  PciFunction(const PciIdentity& identity, std::uint16_t io_bytes, std::uint8_t interrupt_pin,
              std::uint32_t mem_bytes = 0);

  // `offset` is a byte offset; `size` 1, 2 or 4 bytes that stay inside one
  // dword. Other accesses read all ones and are ignored.
  std::uint32_t read(std::uint8_t offset, unsigned size) const noexcept;
  void write(std::uint8_t offset, unsigned size, std::uint32_t value) noexcept;

  // Firmware's placement, before the guest runs: BAR0 at `base`, I/O decode
  // on, the interrupt line register; with a memory BAR, BAR1 at `mem_base`
  // and memory decode on.
  void place(std::uint16_t io_base, std::uint8_t interrupt_line,
             std::uint32_t mem_base = 0) noexcept;

  // Where the I/O BAR decodes now: nullopt while I/O decode is off, BAR0 is
  // 0 or the window would run past port 0xFFFF (a BAR being sized).
  std::optional<std::uint16_t> io_window() const noexcept;
  std::uint16_t io_bytes() const noexcept { return io_bytes_; }
  // Where the memory BAR decodes now: nullopt while memory decode is off,
  // BAR1 is 0 or the window would run past 4 GiB (a BAR being sized).
  std::optional<std::uint32_t> mem_window() const noexcept;
  std::uint32_t mem_bytes() const noexcept { return mem_bytes_; }

  // Called after a configuration write that changed io_window(), with the
  // window before and after.
  using WindowMoved =
      std::function<void(std::optional<std::uint16_t> before, std::optional<std::uint16_t> after)>;
  void on_window_moved(WindowMoved moved) { moved_ = std::move(moved); }
  // The same for mem_window().
  using MemWindowMoved =
      std::function<void(std::optional<std::uint32_t> before, std::optional<std::uint32_t> after)>;
  void on_mem_window_moved(MemWindowMoved moved) { mem_moved_ = std::move(moved); }

 private:
  std::array<std::uint8_t, pci::kConfigBytes> space_{};
  std::array<std::uint8_t, pci::kConfigBytes> writable_{};  // per bit
  std::uint16_t io_bytes_;
  std::uint32_t mem_bytes_;
  WindowMoved moved_;
  MemWindowMoved mem_moved_;
};

// Configuration mechanism #1 on bus 0: the address register at 0xCF8
// (32-bit accesses only: byte and word accesses to 0xCF8-0xCFB are not this
// register's), the data window at 0xCFC-0xCFF. Absent functions, other
// buses and a disabled address read all ones.
class PciConfigMechanism1 {
 public:
  static constexpr std::uint16_t kAddressPort = 0xcf8, kDataPort = 0xcfc, kPorts = 8;
  static constexpr std::uint32_t kEnable = 1u << 31;

  // Puts `function` at device `device`, function 0. The function is not
  // owned. Throws std::invalid_argument if the slot is taken or past 31.
  void attach(unsigned device, PciFunction& function);
  // The lowest free device number, or nullopt when the bus is full.
  std::optional<unsigned> free_device() const noexcept;

  // `offset` from kAddressPort (0..7).
  std::uint32_t read(std::uint16_t offset, unsigned size) const noexcept;
  void write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept;

 private:
  PciFunction* selected(std::uint8_t& reg) const noexcept;

  std::uint32_t address_ = 0;
  std::array<PciFunction*, pci::kDevicesPerBus> devices_{};
};

}  // namespace vpio::hw

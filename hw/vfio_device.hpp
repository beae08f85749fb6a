// A PCI function on this host reached through VFIO (`hw=vfio:ADDRESS`):
// the physical device behind a monitor or given whole to one guest. Its
// first I/O BAR is the port window and its first memory BAR the MMIO
// window, both accessed through the vfio-pci device file; its INTx comes
// back by an eventfd; and its DMA reaches only what the DMA bus it is given
// maps, because every window of that bus is mirrored into the IOMMU (a VFIO
// type-1 container) and nothing else is. It knows nothing of guests or of
// any particular device.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/owned_fd.hpp"
#include "hw/physical_device.hpp"

namespace vpio::hw {

class VfioDevice final : public PhysicalDevice, private IommuMapper {
 public:
  // Opens the function at `address` (DDDD:BB:DD.F or BB:DD.F), which must be
  // bound to vfio-pci and alone in its IOMMU group with devices vfio-pci
  // holds. Enables its decoding and bus mastering, resets it where VFIO can.
  // Throws std::invalid_argument naming the address and what to do for a
  // setup that is wrong (no such device, another driver, no IOMMU, no I/O
  // BAR); std::system_error for a refused call.
  explicit VfioDevice(const std::string& address);
  ~VfioDevice() override;
  VfioDevice(const VfioDevice&) = delete;
  VfioDevice& operator=(const VfioDevice&) = delete;

  // `address` in one spelling, DDDD:BB:DD.F in lowercase; throws
  // std::invalid_argument for what is not a PCI address.
  static std::string canonical_address(const std::string& address);

  // The function's vendor and device IDs, from its configuration space.
  std::uint16_t vendor_id() const noexcept { return vendor_; }
  std::uint16_t device_id() const noexcept { return device_; }

  std::string describe() const override;
  std::uint32_t read(std::uint16_t offset, unsigned size) override;
  void write(std::uint16_t offset, unsigned size, std::uint32_t value) override;
  void read_string(std::uint16_t offset, unsigned size, std::span<std::uint8_t> data) override;
  void write_string(std::uint16_t offset, unsigned size,
                    std::span<const std::uint8_t> data) override;
  std::uint32_t mmio_bytes() const noexcept override { return mmio_.size; }
  std::uint64_t mmio_read(std::uint32_t offset, unsigned size) override;
  void mmio_write(std::uint32_t offset, unsigned size, std::uint64_t value) override;
  void set_interrupt_handler(std::function<void()> handler) override;
  // Unmaps all the previous bus mapped, then mirrors `bus` into the IOMMU.
  // Throws std::logic_error for a bus that has no windows to mirror.
  void set_dma_bus(DmaBus* bus) override;
  std::vector<Count> counts() const override;

 private:
  struct Region {
    std::uint64_t offset = 0;  // in the device file
    std::uint32_t size = 0;
  };
  void map_window(std::uint64_t address, std::span<std::uint8_t> host) override;
  void unmap_all();
  std::uint32_t access_read(const Region& region, std::uint64_t offset, unsigned size,
                            const char* what);
  void access_write(const Region& region, std::uint64_t offset, unsigned size,
                    std::uint64_t value, const char* what);
  void unmask_if_masked();
  void interrupt_thread();

  std::string address_;
  base::OwnedFd container_;
  base::OwnedFd group_;
  base::OwnedFd device_fd_;
  std::uint16_t vendor_ = 0;
  std::uint16_t device_ = 0;
  Region io_;
  Region mmio_;

  std::mutex dma_mutex_;
  DmaBus* bus_ = nullptr;
  struct Mapping {
    std::uint64_t iova;
    std::uint64_t bytes;
  };
  mutable std::mutex map_mutex_;  // mappings_: also taken inside the bus's mirror calls
  std::vector<Mapping> mappings_;

  std::mutex irq_mutex_;
  std::function<void()> handler_;
  base::OwnedFd irq_event_;
  base::OwnedFd stop_event_;
  std::thread irq_thread_;
  // INTx is masked by VFIO when it fires; unmasked at the next access that
  // may have acknowledged it, or after a while without one.
  std::atomic<bool> masked_{false};
  std::atomic<std::uint64_t> interrupts_{0};
  std::atomic<std::uint64_t> unmasks_{0};
};

}  // namespace vpio::hw

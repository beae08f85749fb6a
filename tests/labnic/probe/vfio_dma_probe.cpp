// The control for the VFIO tests that find no IOMMU fault: programs the
// RTL8139 at ADDRESS (bound to vfio-pci) to transmit a frame from DMA
// address 0x200000 with nothing mapped in its IOMMU, as a model that let a
// bad address through would. The card's read is stopped by the IOMMU, which
// the host kernel logs as a DMAR fault naming that address.
//
//   vfio_dma_probe ADDRESS
#include <cstdio>
#include <exception>

#include "hw/vfio_device.hpp"

namespace {

// A bus with no windows: the IOMMU maps nothing.
class NothingMapped final : public vpio::hw::DmaBus {
 public:
  bool dma_read(std::uint64_t, std::span<std::uint8_t>) override { return false; }
  bool dma_write(std::uint64_t, std::span<const std::uint8_t>) override { return false; }
  bool mirror_into(vpio::hw::IommuMapper*) override { return true; }
};

// RTL8139 registers (classic mode), from its datasheet.
constexpr std::uint16_t kTsd0 = 0x10, kTsad0 = 0x20, kCr = 0x37;
constexpr std::uint32_t kCrReset = 0x10, kCrTransmitEnable = 0x04;
constexpr std::uint32_t kTsdOwn = 1u << 13, kTsdAbort = 1u << 30;
constexpr std::uint32_t kUnmapped = 0x200000;

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: vfio_dma_probe PCI-ADDRESS\n");
    return 2;
  }
  try {
    // Before the card: a bus outlives its registration (the card's
    // destructor calls it).
    NothingMapped nothing;
    vpio::hw::VfioDevice card(argv[1]);
    card.set_dma_bus(&nothing);
    card.write(kCr, 1, kCrReset);
    for (int i = 0; i < 1000 && (card.read(kCr, 1) & kCrReset) != 0; ++i) {
    }
    card.write(kCr, 1, kCrTransmitEnable);
    card.write(kTsad0, 4, kUnmapped);
    card.write(kTsd0, 4, 60);  // OWN clear: the card reads 60 bytes from TSAD0
    std::uint32_t status = 0;
    for (int i = 0; i < 100000 && (status & (kTsdOwn | kTsdAbort)) == 0; ++i)
      status = card.read(kTsd0, 4);
    card.write(kCr, 1, kCrReset);
    std::printf("vfio_dma_probe: %s: transmit from 0x%x, TSD0 0x%08x\n", card.describe().c_str(),
                kUnmapped, status);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vfio_dma_probe: %s\n", e.what());
    return 1;
  }
}

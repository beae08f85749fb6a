// A guest's own card reaches the guest's RAM by DMA (dmm::GuestRamBus over
// the VMM's RAM, vmm/guest_memory.hpp's dmm_view) and nothing else: every
// range that is not wholly RAM is refused whole, wrap-around included.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>

#include "dmm/iova_space.hpp"
#include "vmm/guest_memory.hpp"

namespace vpio {
namespace {

constexpr std::uint64_t kRam = 2 << 20;

TEST(RamDmaBus, ReadsAndWritesGuestPhysicalRam) {
  GuestMemory memory(kRam);
  const dmm::GuestMemory view = dmm_view(memory);
  dmm::GuestRamBus bus(view);
  const std::array<std::uint8_t, 4> in{1, 2, 3, 4};
  ASSERT_TRUE(bus.dma_write(0x1000, in));
  EXPECT_EQ(memory.host_base()[0x1002], 3);
  std::array<std::uint8_t, 4> out{};
  ASSERT_TRUE(bus.dma_read(0x1000, out));
  EXPECT_EQ(out, in);
  EXPECT_TRUE(bus.dma_write(kRam - 4, in));  // the last bytes of RAM
}

TEST(RamDmaBus, RefusesWhatIsNotWhollyRam) {
  GuestMemory memory(kRam);
  const dmm::GuestMemory view = dmm_view(memory);
  dmm::GuestRamBus bus(view);
  std::array<std::uint8_t, 8> bytes{};
  bytes.fill(0xaa);
  EXPECT_FALSE(bus.dma_write(kRam - 4, bytes));  // runs past the end
  EXPECT_EQ(memory.host_base()[kRam - 1], 0) << "a refused DMA wrote part of itself";
  EXPECT_FALSE(bus.dma_write(kRam, bytes));
  EXPECT_FALSE(bus.dma_read(0xfee00000, bytes));  // the local APIC, not RAM
  EXPECT_FALSE(bus.dma_read(std::numeric_limits<std::uint64_t>::max() - 3, bytes));  // wraps
  EXPECT_TRUE(bus.dma_read(kRam, std::span<std::uint8_t>()));  // empty: touches nothing
}

}  // namespace
}  // namespace vpio

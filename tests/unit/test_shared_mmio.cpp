// A shared device's MMIO window in the generic core (dmm/shared_device.hpp):
// each guest gets its own view, all hooked, when its monitor serves one;
// the model's answer to question 3 (HookedAccesses::mmio_direct) makes
// exactly its ranges direct, and a page left with no hooked byte is mapped
// where the device has memory behind it.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "dmm/shared_device.hpp"

namespace vpio::dmm {
namespace {

constexpr std::uint32_t kPage = hw::kMmioPageBytes;

// Two MMIO pages: registers, then a page of memory a guest may map.
class TwoPageDevice final : public hw::PhysicalDevice {
 public:
  std::string describe() const override { return "two-page device"; }
  std::uint32_t read(std::uint16_t, unsigned) override { return 0; }
  void write(std::uint16_t, unsigned, std::uint32_t) override {}
  void read_string(std::uint16_t, unsigned, std::span<std::uint8_t>) override {}
  void write_string(std::uint16_t, unsigned, std::span<const std::uint8_t>) override {}
  void set_interrupt_handler(std::function<void()>) override {}
  std::uint32_t mmio_bytes() const noexcept override { return 2 * kPage; }
  std::uint64_t mmio_read(std::uint32_t, unsigned) override { return 0xd1; }
  std::uint8_t* mmio_page(std::uint32_t page) noexcept override {
    return page == 1 ? memory.data() : nullptr;
  }
  alignas(kPage) std::array<std::uint8_t, kPage> memory{};
};

class Mapper final : public PageMapper {
 public:
  bool map_page(std::uint64_t at, std::uint8_t* host) noexcept override {
    pages[at] = host;
    return true;
  }
  void unmap_page(std::uint64_t at) noexcept override { pages.erase(at); }
  std::map<std::uint64_t, std::uint8_t*> pages;
};

class MmioGuest final : public SharedGuest, private HookedMmioHandler {
 public:
  MmioGuest(SharedDevice& device, bool serves_mmio)
      : SharedGuest(device, "g", {}, 4, serves_mmio ? this : nullptr) {}
  using SharedGuest::set_hooked;
  Report report() const override { return {}; }
  std::uint32_t hooked_read(std::uint16_t, unsigned) noexcept override { return 0; }
  void hooked_write(std::uint16_t, unsigned, std::uint32_t) noexcept override {}
  std::uint64_t hooked_mmio_read(std::uint32_t, unsigned) noexcept override { return 0xee; }
  void hooked_mmio_write(std::uint32_t, unsigned, std::uint64_t) noexcept override {}
};

SharingConfig no_thread() {
  SharingConfig config;
  config.run_service_thread = false;
  return config;
}

TEST(SharedGuestMmio, AGuestWhoseMonitorServesNoMmioHasNoWindow) {
  TwoPageDevice device;
  SharedDevice core(device, no_thread());
  MmioGuest g(core, false);
  EXPECT_EQ(g.mmio_window(), nullptr);
}

TEST(SharedGuestMmio, TheModelsDirectRangesAreDirectAndAWholeDirectPageIsMapped) {
  TwoPageDevice device;
  SharedDevice core(device, no_thread());
  MmioGuest g(core, true);
  MmioWindow* window = g.mmio_window();
  ASSERT_NE(window, nullptr);
  Mapper mapper;
  window->place(0xe0000000, &mapper);
  EXPECT_EQ(window->mmio_read(0x10, 1), 0xeeu) << "all hooked at first";
  EXPECT_TRUE(mapper.pages.empty());

  HookedAccesses hooked = HookedAccesses::all();
  hooked.mmio_direct = {{0x10, 4}, {kPage, kPage}};
  {
    std::lock_guard lock(core.gate());
    g.set_hooked(hooked);
  }
  EXPECT_EQ(window->mmio_read(0x10, 4), 0xd1u);
  EXPECT_EQ(window->mmio_read(0x14, 1), 0xeeu);
  EXPECT_EQ(window->mmio_read(0x0c, 8), 0xeeu) << "straddles a hooked byte";
  EXPECT_EQ(mapper.pages.size(), 1u);
  EXPECT_EQ(mapper.pages.at(0xe0000000 + kPage), device.memory.data());

  // The model takes the page back: unmapped, and its accesses exit, hooked.
  hooked.mmio_direct = {{0x10, 4}};
  {
    std::lock_guard lock(core.gate());
    g.set_hooked(hooked);
  }
  EXPECT_TRUE(mapper.pages.empty());
  EXPECT_EQ(window->mmio_read(kPage + 8, 1), 0xeeu);
  EXPECT_EQ(window->mmio_read(0x10, 4), 0xd1u);
}

}  // namespace
}  // namespace vpio::dmm

// The MMIO window with a fake device, a fake monitor and a fake page mapper:
// each access that exits goes exactly one way, a wide access touching a
// hooked byte is hooked, and a page is mapped exactly while nothing in it is
// hooked, the window is placed and the device has memory behind it.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "hooks/mmio_window.hpp"

namespace vpio {
namespace {

constexpr std::uint32_t kPage = MmioWindow::kPageBytes;

// Three pages: 0 and 2 have host memory behind them, 1 has not.
class FakeBarDevice final : public hw::PhysicalDevice {
 public:
  std::string describe() const override { return "fake BAR"; }
  std::uint32_t read(std::uint16_t, unsigned) override { return 0; }
  void write(std::uint16_t, unsigned, std::uint32_t) override {}
  void read_string(std::uint16_t, unsigned, std::span<std::uint8_t>) override {}
  void write_string(std::uint16_t, unsigned, std::span<const std::uint8_t>) override {}
  void set_interrupt_handler(std::function<void()>) override {}
  std::uint32_t mmio_bytes() const noexcept override { return bytes; }
  std::uint64_t mmio_read(std::uint32_t offset, unsigned) override {
    ++reads;
    return 0xd0000000'00000000ull | offset;
  }
  void mmio_write(std::uint32_t offset, unsigned size, std::uint64_t value) override {
    ++writes;
    last_offset = offset;
    last_size = size;
    last_value = value;
  }
  std::uint8_t* mmio_page(std::uint32_t page) noexcept override {
    if (page == 1 || page >= 3) return nullptr;
    return memory[page].data();
  }
  std::uint32_t bytes = 3 * kPage;
  std::array<std::vector<std::uint8_t>, 3> memory{std::vector<std::uint8_t>(kPage),
                                                  std::vector<std::uint8_t>(kPage),
                                                  std::vector<std::uint8_t>(kPage)};
  unsigned reads = 0, writes = 0;
  std::uint32_t last_offset = 0;
  unsigned last_size = 0;
  std::uint64_t last_value = 0;
};

class FakeMonitor final : public HookedMmioHandler {
 public:
  std::uint64_t hooked_mmio_read(std::uint32_t offset, unsigned) noexcept override {
    ++reads;
    return 0xa000u + offset;
  }
  void hooked_mmio_write(std::uint32_t offset, unsigned, std::uint64_t value) noexcept override {
    ++writes;
    last_offset = offset;
    last_value = value;
  }
  unsigned reads = 0, writes = 0;
  std::uint32_t last_offset = 0;
  std::uint64_t last_value = 0;
};

class FakeMapper final : public PageMapper {
 public:
  bool map_page(std::uint64_t guest_physical, std::uint8_t* host) noexcept override {
    if (refuse) return false;
    pages[guest_physical] = host;
    ++maps;
    return true;
  }
  void unmap_page(std::uint64_t guest_physical) noexcept override {
    pages.erase(guest_physical);
    ++unmaps;
  }
  std::map<std::uint64_t, std::uint8_t*> pages;
  unsigned maps = 0, unmaps = 0;
  bool refuse = false;
};

TEST(MmioWindow, StartsAllHookedAndEachAccessGoesOneWay) {
  FakeBarDevice device;
  FakeMonitor monitor;
  MmioWindow window(device, "fake BAR", monitor);
  EXPECT_EQ(window.bytes(), 3 * kPage);
  EXPECT_TRUE(window.reads_hooked(0));
  EXPECT_TRUE(window.writes_hooked(3 * kPage - 1));
  EXPECT_EQ(window.mmio_read(0x10, 4), 0xa010u);
  EXPECT_EQ(window.last_path(), IoPath::hooked);
  window.set_hooked(0x10, 4, false, false);
  // The device's answer, cut to the access's 4 bytes.
  EXPECT_EQ(window.mmio_read(0x10, 4), 0x10u);
  EXPECT_EQ(window.last_path(), IoPath::direct);
  window.mmio_write(0x10, 2, 0x12345678);
  EXPECT_EQ(device.writes, 1u);
  EXPECT_EQ(device.last_value, 0x5678u) << "the value is cut to the access's size";
  EXPECT_EQ(device.last_size, 2u);
  EXPECT_EQ(monitor.reads, 1u);
  EXPECT_EQ(monitor.writes, 0u);
  // Counted per dword, path and direction.
  const auto& c = window.counters();
  EXPECT_EQ(c.count(0x10 / 4, IoPath::hooked, false), 1u);
  EXPECT_EQ(c.count(0x10 / 4, IoPath::direct, false), 1u);
  EXPECT_EQ(c.count(0x10 / 4, IoPath::direct, true), 1u);
  EXPECT_EQ(c.total(), 3u);
}

TEST(MmioWindow, AWideAccessTouchingAHookedByteIsHooked) {
  FakeBarDevice device;
  FakeMonitor monitor;
  MmioWindow window(device, "fake BAR", monitor);
  window.set_hooked(0, 0x40, false, false);
  window.set_hooked(0x37, 1, false, true);  // a command byte: writes bounded
  window.mmio_write(0x34, 4, 0x10000000);   // covers 0x37
  EXPECT_EQ(monitor.writes, 1u);
  EXPECT_EQ(monitor.last_offset, 0x34u);
  EXPECT_EQ(device.writes, 0u);
  window.mmio_read(0x34, 4);  // reads of 0x37 are direct
  EXPECT_EQ(device.reads, 1u);
  window.mmio_write(0x30, 4, 1);  // stops short of it
  EXPECT_EQ(device.writes, 1u);
  window.mmio_write(0x38, 8, 1);
  EXPECT_EQ(device.writes, 2u);
  window.mmio_read(0x3c, 8);  // runs into hooked bytes at 0x40
  EXPECT_EQ(monitor.reads, 1u);
}

TEST(MmioWindow, MalformedAccessesReachNeitherSide) {
  FakeBarDevice device;
  FakeMonitor monitor;
  MmioWindow window(device, "fake BAR", monitor);
  window.set_hooked(0, window.bytes(), false, false);
  EXPECT_EQ(window.mmio_read(3 * kPage - 2, 4), 0xffffffffu);  // runs past the end
  EXPECT_EQ(window.mmio_read(0, 3), 0xffffffu);                 // no such size
  window.mmio_write(3 * kPage, 1, 0);
  EXPECT_EQ(device.reads + device.writes + monitor.reads + monitor.writes, 0u);
  EXPECT_EQ(window.counters().total(), 0u);
}

TEST(MmioWindow, APageIsMappedExactlyWhileNothingInItIsHooked) {
  FakeBarDevice device;
  FakeMonitor monitor;
  FakeMapper mapper;
  MmioWindow window(device, "fake BAR", monitor);
  constexpr std::uint64_t kBase = 0xfebf0000;
  window.place(kBase, &mapper);
  EXPECT_EQ(window.pages_mapped(), 0u) << "all hooked at first";
  window.set_hooked(0, window.bytes(), false, false);
  // Page 1 has no memory behind it: it stays served by exits.
  EXPECT_TRUE(window.page_mapped(0));
  EXPECT_FALSE(window.page_mapped(1));
  EXPECT_TRUE(window.page_mapped(2));
  EXPECT_EQ(mapper.pages.at(kBase), device.memory[0].data());
  EXPECT_EQ(mapper.pages.at(kBase + 2 * kPage), device.memory[2].data());
  // One hooked byte, in one direction, takes its page's mapping away.
  window.set_hooked(2 * kPage + 0x123, 1, true, false);
  EXPECT_FALSE(window.page_mapped(2));
  EXPECT_EQ(mapper.pages.count(kBase + 2 * kPage), 0u);
  EXPECT_TRUE(window.page_mapped(0));
  window.set_hooked(2 * kPage + 0x123, 1, false, false);
  EXPECT_TRUE(window.page_mapped(2));
  // The window moves: the mappings follow.
  window.place(kBase + 0x10000, &mapper);
  EXPECT_EQ(mapper.pages.size(), 2u);
  EXPECT_EQ(mapper.pages.count(kBase + 0x10000), 1u);
  EXPECT_EQ(mapper.pages.count(kBase + 0x10000 + 2 * kPage), 1u);
  // Nowhere (BAR decode off): nothing mapped.
  window.place(std::nullopt, &mapper);
  EXPECT_TRUE(mapper.pages.empty());
  EXPECT_EQ(mapper.maps, mapper.unmaps);
}

TEST(MmioWindow, AnUnalignedBaseOrARefusingMapperMapsNothingAndAccessesStillWork) {
  FakeBarDevice device;
  FakeMonitor monitor;
  FakeMapper mapper;
  MmioWindow window(device, "fake BAR", monitor);
  window.set_hooked(0, window.bytes(), false, false);
  window.place(0xfebf0100, &mapper);
  EXPECT_EQ(window.pages_mapped(), 0u);
  mapper.refuse = true;
  window.place(0xfebf0000, &mapper);
  EXPECT_EQ(window.pages_mapped(), 0u);
  window.mmio_write(0x8, 4, 7);
  EXPECT_EQ(device.writes, 1u);
  EXPECT_EQ(window.last_path(), IoPath::direct);
}

TEST(MmioWindow, TheWindowTakesItsMappingsAwayWhenItGoes) {
  FakeBarDevice device;
  FakeMonitor monitor;
  FakeMapper mapper;
  {
    MmioWindow window(device, "fake BAR", monitor);
    window.set_hooked(0, window.bytes(), false, false);
    window.place(0x80000000, &mapper);
    EXPECT_EQ(mapper.pages.size(), 2u);
  }
  EXPECT_TRUE(mapper.pages.empty());
}

TEST(MmioWindow, ADeviceWithoutAWindowIsRefusedByName) {
  FakeBarDevice device;
  FakeMonitor monitor;
  device.bytes = 0;
  try {
    MmioWindow window(device, "fake BAR", monitor);
    FAIL() << "no window accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("fake BAR"), std::string::npos) << e.what();
  }
  device.bytes = MmioWindow::kMaxBytes + 8;
  EXPECT_THROW(MmioWindow(device, "fake BAR", monitor), std::invalid_argument);
}

}  // namespace
}  // namespace vpio

// The template device's MMIO window in vpio mode, at the monitor: a guest
// writes its frame into the transmit buffer page (hooked: the card's one
// buffer is no guest's), the model watches the source address there as it
// does through DATA, and a send of a frame under another station's address
// is refused with one violation and reaches no card.
#include <gtest/gtest.h>

#include <vector>

#include "devices/chip_stand_in.hpp"
#include "devices/template/template_monitor.hpp"
#include "devices/template/template_nic.hpp"

namespace vpio::devices {
namespace {

namespace reg = template_nic;
constexpr std::uint32_t kBuffer = reg::kMmioTxPage * hw::kMmioPageBytes;
const hw::MacAddress kMac{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};

struct Rig {
  Rig() {
    TemplateMonitorConfig config;
    config.sharing.run_service_thread = false;
    monitor = std::make_unique<TemplateMonitor>(card, config);
    dmm::GuestCallbacks callbacks;
    callbacks.violation = [this](const dmm::ViolationReport& r) { violations.push_back(r); };
    guest = &monitor->add_guest("g", kMac, std::move(callbacks));
  }
  ~Rig() { monitor->stop(); }

  // A 60-byte frame from `source`, through the MMIO window, then a send.
  void send(const hw::MacAddress& source) {
    std::vector<std::uint8_t> frame(64, 0x5a);  // whole quadwords; 60 are sent
    std::fill_n(frame.begin(), 6, 0xff);
    std::copy(source.bytes.begin(), source.bytes.end(), frame.begin() + 6);
    MmioWindow& window = *guest->mmio_window();
    for (std::size_t i = 0; i < frame.size(); i += 8) {
      std::uint64_t q = 0;
      for (unsigned b = 0; b < 8; ++b) q |= std::uint64_t{frame[i + b]} << (8 * b);
      window.mmio_write(kBuffer + i, 8, q);
    }
    guest->window().port_write(reg::kLen, 2, 60);
    window.mmio_write(reg::kCmd, 1, reg::kCmdSend);  // the register page
  }

  ChipStandIn<TemplateNic> card{"card", hw::MacAddress{{0x02, 0, 0, 0, 0, 1}}};
  std::unique_ptr<TemplateMonitor> monitor;
  TemplateMonitor::Guest* guest = nullptr;
  std::vector<dmm::ViolationReport> violations;
};

TEST(TemplateMmio, AFrameWrittenIntoTheBufferPageIsSentUnderTheGuestsAddress) {
  Rig rig;
  ASSERT_NE(rig.guest->mmio_window(), nullptr);
  EXPECT_TRUE(rig.guest->mmio_window()->writes_hooked(kBuffer)) << "the card's one buffer";
  rig.send(kMac);
  EXPECT_TRUE(rig.violations.empty());
  EXPECT_EQ(rig.card.chip().counts().frames_sent, 1u);
  EXPECT_EQ(rig.monitor->report().count("targets_checked"), 1u);
  // Eight quadwords and the command.
  EXPECT_EQ(rig.guest->mmio_window()->counters().total(IoPath::hooked), 8u + 1);
}

TEST(TemplateMmio, AForeignSourceWrittenThroughTheBufferPageIsRefused) {
  Rig rig;
  rig.send(hw::MacAddress{{0x52, 0x54, 0x00, 0x12, 0x34, 0x99}});
  ASSERT_EQ(rig.violations.size(), 1u);
  EXPECT_EQ(rig.violations[0].code, 2u);  // foreign_source_address
  EXPECT_EQ(rig.violations[0].window_offset, reg::kCmd);
  EXPECT_TRUE(rig.violations[0].in_mmio) << "the send came through the register page";
  EXPECT_EQ(rig.card.chip().counts().frames_sent, 0u);
}

}  // namespace
}  // namespace vpio::devices

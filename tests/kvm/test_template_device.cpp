// The template device (devices/template/) on real KVM: two flat guests, a
// pinger and an echo (guests/template_ping.c), each with the template card
// at 0x300, exchange 200 frames of 60 to 1514 bytes, on emulated cards on
// one hub and then sharing one card in vpio mode. The wire is recorded:
// every frame carries its sender's MAC; in vpio mode no guest gets a
// machine check and the core refuses no target the model passed.
// Then the same through the card's MMIO window (mmio=0xd0000000): the
// transmit buffer page is mapped into the guest and costs no exit where the
// guest has the card to itself (emulate, passthrough), and is hooked, one
// exit per quadword, where the card is shared (vpio).
#include <array>
#include <filesystem>

#include "app/nic.hpp"
#include "hooks/mmio_window.hpp"
#include "net/pcap_recorder.hpp"
#include "support.hpp"

namespace vpio::test {
namespace {

class TemplateDeviceTest : public KvmTest {
 protected:
  // The pair's cards: each guest's spec (without model=), and whether the
  // guests send through the card's MMIO window (the template_mmio_* images).
  void run_pair(NicMode mode, bool mmio = false,
                std::array<std::string, 2> specs = {"", ""}) {
    const std::string pcap = testing::TempDir() + "vpio-template-" +
                             (mode == NicMode::vpio ? "vpio" : "emulate") + (mmio ? "-mmio" : "") +
                             ".pcap";
    std::filesystem::remove(pcap);
    auto network = std::make_unique<Network>(pcap);
    const std::array<const char*, 2> images =
        mmio ? std::array<const char*, 2>{"template_mmio_ping", "template_mmio_echo"}
             : std::array<const char*, 2>{"template_ping", "template_echo"};
    for (unsigned i = 0; i < 2; ++i) {
      machines_.push_back(make_machine(guest_image(images[i]), images[i]));
      std::string text = specs[i];
      if (text.empty()) text = mode == NicMode::vpio ? "vpio" : "emulate";
      NicSpec spec = parse_nic_spec(text + ",model=template" + (mmio ? ",mmio=0xd0000000" : ""));
      if (spec.mode == NicMode::vpio) {
        nics_.push_back(&network->attach_vpio(*machines_.back(), spec, default_mac(i), 2));
        if (mmio) mmio_[i] = nics_.back()->share->mmio_window();
      } else if (spec.mode == NicMode::passthrough) {
        mmio_[i] = network->attach_passthrough(*machines_.back(), spec, default_mac(i)).mmio_window();
      } else {
        network->attach_emulated(*machines_.back(), spec, default_mac(i));
      }
    }
    const std::vector<Machine*> both = {machines_[0].get(), machines_[1].get()};
    const auto outcomes = run_concurrently(both, std::chrono::minutes(5));
    network->stop_monitors();
    for (unsigned i = 0; i < 2; ++i) {
      EXPECT_TRUE(outcomes[i].ok() && outcomes[i].status == 0)
          << images[i] << ": " << outcomes[i].detail << "\n"
          << machines_[i]->console_transcript();
      pages_mapped_[i] = machines_[i]->pages_mapped();
      mmio_exits_[i] = machines_[i]->counters().by_reason[KVM_EXIT_MMIO].load();
      if (mmio_[i] != nullptr) {
        placed_[i] = mmio_[i]->base().has_value();
        mmio_hooked_[i] = mmio_[i]->counters().total(IoPath::hooked);
      }
    }
    EXPECT_NE(machines_[0]->console_transcript().find("template_ping: 200 frames echoed"),
              std::string::npos);
    for (VpioNic* nic : nics_) {
      reports_.push_back(nic->share->report());
      monitor_ = nic->monitor->report();
    }
    nics_.clear();
    mmio_ = {};
    network.reset();  // closes the pcap file, and unmaps the windows' pages
    const auto frames = net::read_pcap_frames(pcap);
    EXPECT_GE(frames.size(), 401u);  // 200 pings, 200 echoes, DONE
    for (const auto& f : frames) {
      ASSERT_GE(f.size(), 14u);
      hw::MacAddress source;
      std::copy_n(f.begin() + 6, 6, source.bytes.begin());
      EXPECT_TRUE(source == default_mac(0) || source == default_mac(1))
          << "a frame on the wire from " << source.to_string();
      // Through the MMIO window, a frame is written in whole quadwords.
      for (unsigned i = 0; i < 2; ++i)
        if (source == default_mac(i)) quadwords_sent_[i] += (f.size() + 7) / 8;
    }
  }

  std::vector<std::unique_ptr<Machine>> machines_;  // outlive the network's windows
  std::vector<VpioNic*> nics_;
  std::array<MmioWindow*, 2> mmio_{};  // a card's window the test can see (not emulate's)
  std::array<bool, 2> placed_{};
  std::array<std::size_t, 2> pages_mapped_{};
  std::array<std::uint64_t, 2> mmio_exits_{}, mmio_hooked_{}, quadwords_sent_{};
  std::vector<dmm::Report> reports_;
  dmm::Report monitor_;
};

TEST_F(TemplateDeviceTest, TwoGuestsExchangeFramesOnTheirOwnEmulatedCards) {
  run_pair(NicMode::emulate);
}

TEST_F(TemplateDeviceTest, TwoGuestsShareOneCardInVpioModeWithNoViolation) {
  run_pair(NicMode::vpio);
  ASSERT_EQ(reports_.size(), 2u);
  for (const dmm::Report& r : reports_) {
    EXPECT_EQ(r.count("violations"), 0u);
    EXPECT_GE(r.count("frames_sent"), 200u);
    EXPECT_GE(r.count("frames_received"), 200u);
  }
  EXPECT_EQ(monitor_.count("targets_refused"), 0u);
  EXPECT_GE(monitor_.count("targets_checked"), 401u);
  // The card changed hands between the guests for every echo.
  EXPECT_GE(monitor_.count("context_switches"), 399u);
}

TEST_F(TemplateDeviceTest, TheTransmitBufferPageIsExitFreeOnAGuestsOwnCard) {
  run_pair(NicMode::emulate, true);
  for (unsigned i = 0; i < 2; ++i) {
    EXPECT_EQ(pages_mapped_[i], 1u) << "guest " << i;
    EXPECT_EQ(mmio_exits_[i], 0u) << "guest " << i << " sent " << quadwords_sent_[i]
                                  << " quadwords through its mapped page";
    EXPECT_GT(quadwords_sent_[i], 200u * 60 / 8);
  }
}

TEST_F(TemplateDeviceTest, PassthroughMapsTheCardsBufferPageIntoItsGuest) {
  run_pair(NicMode::emulate, true, {"passthrough", "emulate"});
  EXPECT_TRUE(placed_[0]);
  EXPECT_EQ(pages_mapped_[0], 1u);
  EXPECT_EQ(mmio_exits_[0], 0u);
  EXPECT_EQ(mmio_hooked_[0], 0u);
}

TEST_F(TemplateDeviceTest, SharedInVpioModeTheBufferPageIsHookedQuadwordByQuadword) {
  run_pair(NicMode::vpio, true);
  ASSERT_EQ(reports_.size(), 2u);
  for (unsigned i = 0; i < 2; ++i) {
    EXPECT_TRUE(placed_[i]);
    EXPECT_EQ(pages_mapped_[i], 0u) << "the card's one buffer mapped into guest " << i;
    // Every quadword of every frame the guest sent, and nothing else.
    EXPECT_EQ(mmio_hooked_[i], quadwords_sent_[i]) << "guest " << i;
    EXPECT_EQ(mmio_exits_[i], quadwords_sent_[i]) << "guest " << i;
    EXPECT_EQ(reports_[i].count("violations"), 0u);
    EXPECT_GE(reports_[i].count("frames_sent"), 200u);
  }
  EXPECT_EQ(monitor_.count("targets_refused"), 0u);
}

}  // namespace
}  // namespace vpio::test

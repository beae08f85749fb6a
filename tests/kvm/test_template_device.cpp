// The template device (devices/template/) on real KVM: two flat guests, a
// pinger and an echo (guests/template_ping.c), each with the template card
// at 0x300, exchange 200 frames of 60 to 1514 bytes, on emulated cards on
// one hub and then sharing one card in vpio mode. The wire is recorded:
// every frame carries its sender's MAC; in vpio mode no guest gets a
// machine check and the core refuses no target the model passed.
#include <filesystem>

#include "net/pcap_recorder.hpp"
#include "support.hpp"
#include "vmm/nic.hpp"

namespace vpio::test {
namespace {

class TemplateDeviceTest : public KvmTest {
 protected:
  void run_pair(NicMode mode) {
    const std::string pcap = testing::TempDir() + "vpio-template-" +
                             (mode == NicMode::vpio ? "vpio" : "emulate") + ".pcap";
    std::filesystem::remove(pcap);
    auto network = std::make_unique<Network>(pcap);
    const char* images[] = {"template_ping", "template_echo"};
    std::vector<std::unique_ptr<Machine>> machines;
    for (unsigned i = 0; i < 2; ++i) {
      machines.push_back(make_machine(guest_image(images[i]), images[i]));
      NicSpec spec = parse_nic_spec(mode == NicMode::vpio ? "vpio,model=template"
                                                          : "emulate,model=template");
      if (mode == NicMode::vpio)
        nics_.push_back(&network->attach_vpio(*machines.back(), spec, default_mac(i), 2));
      else
        network->attach_emulated(*machines.back(), spec, default_mac(i));
    }
    const std::vector<Machine*> both = {machines[0].get(), machines[1].get()};
    const auto outcomes = run_concurrently(both, std::chrono::minutes(5));
    network->stop_monitors();
    for (unsigned i = 0; i < 2; ++i)
      EXPECT_TRUE(outcomes[i].ok() && outcomes[i].status == 0)
          << images[i] << ": " << outcomes[i].detail << "\n"
          << machines[i]->console_transcript();
    EXPECT_NE(machines[0]->console_transcript().find("template_ping: 200 frames echoed"),
              std::string::npos);
    for (VpioNic* nic : nics_) {
      reports_.push_back(nic->share->report());
      monitor_ = nic->monitor->report();
    }
    nics_.clear();
    network.reset();  // closes the pcap file
    const auto frames = net::read_pcap_frames(pcap);
    EXPECT_GE(frames.size(), 401u);  // 200 pings, 200 echoes, DONE
    for (const auto& f : frames) {
      ASSERT_GE(f.size(), 14u);
      hw::MacAddress source;
      std::copy_n(f.begin() + 6, 6, source.bytes.begin());
      EXPECT_TRUE(source == default_mac(0) || source == default_mac(1))
          << "a frame on the wire from " << source.to_string();
    }
  }

  std::vector<VpioNic*> nics_;
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

}  // namespace
}  // namespace vpio::test

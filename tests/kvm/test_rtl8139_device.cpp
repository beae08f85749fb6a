// The RTL8139 (devices/rtl8139/) on real KVM: two flat guests, a pinger and
// an echo (guests/template_ping.c built with PING_RTL8139, the driver
// guests/rtl8139/), exchange 200 frames of 60 to 1514 bytes. The card is a
// bus master: it reads each frame from a transmit slot in its guest's RAM
// and writes each received one into the guest's ring, by DMA at
// guest-physical addresses. Registers by port, then through the card's MMIO
// window; on emulated cards, on the stand-in chip given by passthrough, and
// sharing one stand-in card in vpio mode, where the card's DMA reaches each
// guest's RAM through a window of the monitor's address space. Then hostile
// guests (guests/rtl8139_hostile.c) beside the pair mid-exchange: each gets
// one machine check with the model's code and address, the card never
// faults (the model caught it first), and the pair's exchange completes.
#include <array>
#include <filesystem>

#include "app/nic.hpp"
#include "net/pcap_recorder.hpp"
#include "support.hpp"

namespace vpio::test {
namespace {

class Rtl8139DeviceTest : public KvmTest {
 protected:
  // The pair, and a third guest when `third` names one (vpio mode only).
  void run_pair(bool mmio, std::array<std::string, 2> modes = {"emulate", "emulate"},
                const std::string& third = "") {
    const std::string pcap =
        testing::TempDir() + "vpio-rtl8139-" + modes[0] + (mmio ? "-mmio" : "") + ".pcap";
    std::filesystem::remove(pcap);
    auto network = std::make_unique<Network>(pcap);
    std::vector<std::string> images =
        mmio ? std::vector<std::string>{"rtl8139_mmio_ping", "rtl8139_mmio_echo"}
             : std::vector<std::string>{"rtl8139_ping", "rtl8139_echo"};
    if (!third.empty()) images.push_back(third);
    const unsigned guests = static_cast<unsigned>(images.size());
    std::vector<VpioNic*> shared;
    for (unsigned i = 0; i < guests; ++i) {
      machines_.push_back(make_machine(guest_image(images[i]), images[i]));
      const NicSpec spec = parse_nic_spec(modes[std::min(i, 1u)] + ",model=rtl8139" +
                                          (mmio ? ",mmio=0xd0000000" : ""));
      if (spec.mode == NicMode::vpio)
        shared.push_back(&network->attach_vpio(*machines_.back(), spec, default_mac(i), guests));
      else if (spec.mode == NicMode::passthrough)
        network->attach_passthrough(*machines_.back(), spec, default_mac(i));
      else
        network->attach_emulated(*machines_.back(), spec, default_mac(i));
    }
    std::vector<Machine*> all;
    for (auto& m : machines_) all.push_back(m.get());
    const auto outcomes = run_concurrently(all, std::chrono::minutes(5));
    network->stop_monitors();
    for (unsigned i = 0; i < guests; ++i) {
      EXPECT_TRUE(outcomes[i].ok() && outcomes[i].status == 0)
          << images[i] << ": " << outcomes[i].detail << "\n"
          << machines_[i]->console_transcript();
      mmio_exits_[i] = machines_[i]->counters().by_reason[KVM_EXIT_MMIO].load();
      io_exits_[i] = machines_[i]->counters().by_reason[KVM_EXIT_IO].load();
      machine_checks_[i] = machines_[i]->counters().machine_checks_delivered.load();
    }
    for (VpioNic* nic : shared) reports_.push_back(nic->share->report());
    if (!shared.empty()) monitor_ = shared.front()->monitor->report();
    EXPECT_NE(machines_[0]->console_transcript().find("rtl8139_ping: 200 frames echoed"),
              std::string::npos);
    for (const auto& nic : network->nics()) chip_counts_.push_back(nic->chip().counts());
    network.reset();
    const auto frames = net::read_pcap_frames(pcap);
    EXPECT_GE(frames.size(), 401u);  // 200 pings, 200 echoes, DONE
    for (const auto& f : frames) {
      ASSERT_GE(f.size(), 60u);
      hw::MacAddress source;
      std::copy_n(f.begin() + 6, 6, source.bytes.begin());
      EXPECT_TRUE(source == default_mac(0) || source == default_mac(1) ||
                  (guests == 3 && source == default_mac(2)))
          << "a frame on the wire from " << source.to_string();
    }
  }

  std::vector<std::unique_ptr<Machine>> machines_;
  std::array<std::uint64_t, 3> mmio_exits_{}, io_exits_{}, machine_checks_{};
  std::vector<hw::NetworkChipCounts> chip_counts_;
  std::vector<dmm::Report> reports_;
  dmm::Report monitor_;
};

TEST_F(Rtl8139DeviceTest, TwoGuestsExchangeFramesByDmaOnTheirOwnCards) {
  run_pair(false);
  ASSERT_EQ(chip_counts_.size(), 2u);
  for (const hw::NetworkChipCounts& c : chip_counts_) {
    EXPECT_GE(c.frames_sent, 200u);
    EXPECT_GE(c.frames_received, 200u);
    EXPECT_EQ(c.bad_programming, 0u) << "a DMA the guest's RAM refused, or a refused register";
  }
  EXPECT_EQ(mmio_exits_[0], 0u);
}

TEST_F(Rtl8139DeviceTest, TheRegistersWorkAlikeThroughTheMmioWindow) {
  run_pair(true);
  ASSERT_EQ(chip_counts_.size(), 2u);
  for (unsigned i = 0; i < 2; ++i) {
    EXPECT_EQ(chip_counts_[i].bad_programming, 0u);
    // Every register access is an MMIO exit; ports carry the console only.
    EXPECT_GT(mmio_exits_[i], 400u) << "guest " << i;
    EXPECT_LT(io_exits_[i], 100u) << "guest " << i;
  }
}

TEST_F(Rtl8139DeviceTest, PassthroughGivesTheStandInsDmaTheGuestsRam) {
  run_pair(true, {"passthrough", "emulate"});
  ASSERT_EQ(chip_counts_.size(), 1u);  // the echo's own card; the pinger's is the stand-in
  EXPECT_EQ(chip_counts_[0].bad_programming, 0u);
}

TEST_F(Rtl8139DeviceTest, TwoGuestsShareOneCardInVpioModeItsDmaInTheirWindows) {
  for (const bool mmio : {false, true}) {
    SCOPED_TRACE(mmio ? "registers through the MMIO window" : "registers by port");
    machines_.clear();
    reports_.clear();
    run_pair(mmio, {"vpio", "vpio"});
    ASSERT_EQ(reports_.size(), 2u);
    for (const dmm::Report& r : reports_) {
      EXPECT_EQ(r.count("violations"), 0u);
      EXPECT_GE(r.count("frames_sent"), 200u);
      EXPECT_GE(r.count("frames_received"), 200u);
      EXPECT_EQ(r.count("shadow_bad_programming"), 0u);
    }
    EXPECT_EQ(monitor_.count("targets_refused"), 0u);
    EXPECT_GE(monitor_.count("targets_checked"), 401u);
    EXPECT_EQ(monitor_.count("iommu_faults"), 0u);
    EXPECT_EQ(monitor_.count("card_aborts"), 0u);
    EXPECT_GE(monitor_.count("context_switches"), 399u);
  }
}

class Rtl8139HostileTest : public Rtl8139DeviceTest,
                           public testing::WithParamInterface<const char*> {};

TEST_P(Rtl8139HostileTest, GetsOneMachineCheckWhileThePairCarriesOn) {
  run_pair(false, {"vpio", "vpio"}, std::string("rtl8139_hostile_") + GetParam());
  EXPECT_NE(machines_[2]->console_transcript().find("rtl8139_hostile: machine check as expected"),
            std::string::npos)
      << machines_[2]->console_transcript();
  EXPECT_EQ(machine_checks_[2], 1u);
  EXPECT_EQ(machine_checks_[0] + machine_checks_[1], 0u);
  ASSERT_EQ(reports_.size(), 3u);
  EXPECT_EQ(reports_[2].count("violations"), 1u);
  EXPECT_EQ(reports_[0].count("violations") + reports_[1].count("violations"), 0u);
  // The model refused it before the card was programmed: no target outside
  // a share, no DMA the address space refused.
  EXPECT_EQ(monitor_.count("targets_refused"), 0u);
  EXPECT_EQ(monitor_.count("iommu_faults"), 0u);
  EXPECT_EQ(monitor_.count("card_aborts"), 0u);
}

INSTANTIATE_TEST_SUITE_P(Vpio, Rtl8139HostileTest,
                         testing::Values("tx_outside", "tx_vmm", "tx_past_end", "tx_size", "ring",
                                         "cplus", "eeprom"),
                         [](const testing::TestParamInfo<const char*>& param_info) {
                           return std::string(param_info.param);
                         });

}  // namespace
}  // namespace vpio::test

// The RTL8139 (devices/rtl8139/) on real KVM: two flat guests, a pinger and
// an echo (guests/template_ping.c built with PING_RTL8139, the driver
// guests/rtl8139/), exchange 200 frames of 60 to 1514 bytes. The card is a
// bus master: it reads each frame from a transmit slot in its guest's RAM
// and writes each received one into the guest's ring, by DMA at
// guest-physical addresses. Registers by port, then through the card's MMIO
// window; on emulated cards, and on the stand-in chip given by passthrough.
#include <array>
#include <filesystem>

#include "net/pcap_recorder.hpp"
#include "support.hpp"
#include "vmm/nic.hpp"

namespace vpio::test {
namespace {

class Rtl8139DeviceTest : public KvmTest {
 protected:
  void run_pair(bool mmio, std::array<std::string, 2> modes = {"emulate", "emulate"}) {
    const std::string pcap =
        testing::TempDir() + "vpio-rtl8139-" + modes[0] + (mmio ? "-mmio" : "") + ".pcap";
    std::filesystem::remove(pcap);
    auto network = std::make_unique<Network>(pcap);
    const std::array<const char*, 2> images =
        mmio ? std::array<const char*, 2>{"rtl8139_mmio_ping", "rtl8139_mmio_echo"}
             : std::array<const char*, 2>{"rtl8139_ping", "rtl8139_echo"};
    for (unsigned i = 0; i < 2; ++i) {
      machines_.push_back(make_machine(guest_image(images[i]), images[i]));
      const NicSpec spec =
          parse_nic_spec(modes[i] + ",model=rtl8139" + (mmio ? ",mmio=0xd0000000" : ""));
      if (spec.mode == NicMode::passthrough)
        network->attach_passthrough(*machines_.back(), spec, default_mac(i));
      else
        network->attach_emulated(*machines_.back(), spec, default_mac(i));
    }
    const std::vector<Machine*> both = {machines_[0].get(), machines_[1].get()};
    const auto outcomes = run_concurrently(both, std::chrono::minutes(5));
    for (unsigned i = 0; i < 2; ++i) {
      EXPECT_TRUE(outcomes[i].ok() && outcomes[i].status == 0)
          << images[i] << ": " << outcomes[i].detail << "\n"
          << machines_[i]->console_transcript();
      mmio_exits_[i] = machines_[i]->counters().by_reason[KVM_EXIT_MMIO].load();
      io_exits_[i] = machines_[i]->counters().by_reason[KVM_EXIT_IO].load();
    }
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
      EXPECT_TRUE(source == default_mac(0) || source == default_mac(1))
          << "a frame on the wire from " << source.to_string();
    }
  }

  std::vector<std::unique_ptr<Machine>> machines_;
  std::array<std::uint64_t, 2> mmio_exits_{}, io_exits_{};
  std::vector<hw::NetworkChipCounts> chip_counts_;
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

}  // namespace
}  // namespace vpio::test

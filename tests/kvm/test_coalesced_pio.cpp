// Coalesced PIO on real KVM: the same transmit workload in each NIC mode with
// the data port's writes posted and with every write exiting. The wire must
// carry the same frames byte for byte; posted, a frame costs at most 30 exits
// where the KVM offers KVM_CAP_COALESCED_PIO, and nothing changes where not.
#include <filesystem>

#include "app/nic.hpp"
#include "net/pcap_recorder.hpp"
#include "support.hpp"

namespace vpio::test {
namespace {

constexpr const char* kImage = "net_blast_vary";
constexpr std::size_t kFrames = 120;  // BLAST_FRAMES of net_blast_vary
constexpr std::size_t kMinFrame = 60, kMaxFrame = 1514;
// About 18 register accesses per frame need an answer; the rest of a frame's
// exits are the ring filling up (KVM exits when its 170 slots are full).
constexpr double kMaxExitsPerFrame = 30;

struct BlastRun {
  GuestOutcome outcome;
  std::vector<std::vector<std::uint8_t>> wire;
  std::uint64_t exits = 0, port_accesses = 0, coalesced = 0, drains = 0;
  std::uint64_t window_coalesced = 0;  // passthrough and vpio: the window's own count
  bool posted = false;                 // the machine posted writes at all
  std::string console;
};

class CoalescedPioTest : public KvmTest {
 protected:
  BlastRun blast(NicMode mode, bool coalesced_pio) {
    const std::string pcap = testing::TempDir() + "coalesced-" +
                             std::to_string(static_cast<int>(mode)) +
                             (coalesced_pio ? "-on" : "-off") + ".pcap";
    std::filesystem::remove(pcap);
    BlastRun result;
    {
      auto network = std::make_unique<Network>(pcap);
      MachineConfig config;
      config.name = std::string(kImage) + (coalesced_pio ? "-posted" : "-exiting");
      config.image = guest_image(kImage);
      config.coalesced_pio = coalesced_pio;
      Machine machine(*kvm_, std::move(config), &console_);
      NicSpec spec;
      spec.mode = mode;
      const PortCounters* window = nullptr;
      switch (mode) {
        case NicMode::emulate: network->attach_emulated(machine, spec, default_mac(0)); break;
        case NicMode::passthrough:
          window = &network->attach_passthrough(machine, spec, default_mac(0)).window().counters();
          break;
        case NicMode::vpio:
          window =
              &network->attach_vpio(machine, spec, default_mac(0), 1).share->window().counters();
          break;
      }
      result.outcome = run(machine);
      network->stop_monitors();
      const ExitCounters& c = machine.counters();
      result.exits = c.userspace_exits.load();
      result.port_accesses = c.port_accesses.load();
      result.coalesced = c.coalesced_accesses.load();
      result.drains = c.ring_drains.load();
      result.posted = machine.posts_writes();
      result.console = machine.console_transcript();
      if (window != nullptr) result.window_coalesced = window->total(IoPath::coalesced);
      network.reset();  // closes the pcap file before the machine goes
    }
    result.wire = net::read_pcap_frames(pcap);
    return result;
  }

  void compare_modes(NicMode mode) {
    const BlastRun exiting = blast(mode, false);
    const BlastRun posted = blast(mode, true);
    ASSERT_TRUE(exiting.outcome.ok()) << exiting.outcome.detail << "\n" << exiting.console;
    ASSERT_TRUE(posted.outcome.ok()) << posted.outcome.detail << "\n" << posted.console;

    // The frames are the guest's, whatever way its writes reached the card.
    ASSERT_EQ(exiting.wire.size(), kFrames);
    ASSERT_EQ(posted.wire.size(), kFrames);
    for (std::size_t i = 0; i < kFrames; ++i) {
      const std::size_t length = kMinFrame + (i * 97) % (kMaxFrame - kMinFrame + 1);
      EXPECT_EQ(exiting.wire[i].size(), length) << "frame " << i;
      EXPECT_EQ(posted.wire[i], exiting.wire[i]) << "frame " << i << " differs when posted";
    }

    EXPECT_FALSE(exiting.posted);
    EXPECT_EQ(exiting.coalesced, 0u);
    EXPECT_EQ(exiting.drains, 0u);
    const double exiting_per_frame = static_cast<double>(exiting.exits) / kFrames;
    const double posted_per_frame = static_cast<double>(posted.exits) / kFrames;
    std::printf("[ coalesced ] %s: %.1f exits per frame exiting, %.1f posted (%llu writes "
                "posted, %llu drains)\n",
                mode == NicMode::emulate       ? "emulate"
                : mode == NicMode::passthrough ? "passthrough"
                                               : "vpio",
                exiting_per_frame, posted_per_frame,
                static_cast<unsigned long long>(posted.coalesced),
                static_cast<unsigned long long>(posted.drains));
    const bool offered = kvm_->check_extension(KVM_CAP_COALESCED_PIO) > 0 &&
                         kvm_->check_extension(KVM_CAP_COALESCED_MMIO) > 0;
    EXPECT_EQ(posted.posted, offered);
    if (!offered) {
      // Nothing may change on a KVM without the capability.
      EXPECT_EQ(posted.coalesced, 0u);
      std::printf("[ coalesced ] this KVM offers no coalesced PIO: writes exit as before\n");
      return;
    }
    EXPECT_GT(posted.coalesced, 0u);
    EXPECT_LE(posted_per_frame, kMaxExitsPerFrame);
    // Each posted access is counted once, as coalesced, also in the window.
    if (mode != NicMode::emulate) {
      EXPECT_EQ(posted.window_coalesced, posted.coalesced);
    }
  }
};

TEST_F(CoalescedPioTest, EmulatedCardPutsTheSameFramesOnTheWire) {
  compare_modes(NicMode::emulate);
}

TEST_F(CoalescedPioTest, PassthroughPutsTheSameFramesOnTheWire) {
  compare_modes(NicMode::passthrough);
}

TEST_F(CoalescedPioTest, VpioPutsTheSameFramesOnTheWire) { compare_modes(NicMode::vpio); }

}  // namespace
}  // namespace vpio::test

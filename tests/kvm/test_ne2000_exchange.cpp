// Two guests with their own emulated NE2000s on one hub exchange frames; the
// wire's pcap is read back with libpcap and with tshark and must show exactly
// the frames of the protocol, every byte as the guests meant it.
#include <filesystem>
#include <set>

#include "app/nic.hpp"
#include "guests/net_proto.h"
#include "net/pcap_recorder.hpp"
#include "support.hpp"

namespace vpio::test {
namespace {

using Frame = std::vector<std::uint8_t>;

const net_header& header_of(const Frame& f) {
  return *reinterpret_cast<const net_header*>(f.data());
}

std::string mac_text(const std::uint8_t* mac) {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return text;
}

class ExchangeTest : public KvmTest {
 protected:
  void exchange_and_check(const std::string& echo_image, const std::string& sender_image,
                          bool by_interrupt, bool sender_passthrough = false);
};

TEST_F(ExchangeTest, TwoEmulatedCardsExchangeAThousandFramesEachWayPolling) {
  exchange_and_check("net_echo", "net_sender", false);
}

TEST_F(ExchangeTest, TwoEmulatedCardsExchangeAThousandFramesEachWayByInterrupt) {
  exchange_and_check("net_echo_irq", "net_sender_irq", true);
}

// The sender gets the physical card (the chip standing in for hardware) whole:
// every one of its NIC accesses is direct, none hooked, and its port accesses
// add up exactly.
TEST_F(ExchangeTest, APassthroughGuestExchangesWithAnEmulatedOne) {
  exchange_and_check("net_echo", "net_sender", false, true);
}

void ExchangeTest::exchange_and_check(const std::string& echo_image,
                                      const std::string& sender_image, bool by_interrupt,
                                      bool sender_passthrough) {
  const std::string pcap = testing::TempDir() + echo_image + ".pcap";
  std::filesystem::remove(pcap);
  auto network = std::make_unique<Network>(pcap);
  auto echo = make_machine(guest_image(echo_image), "echo");
  auto sender = make_machine(guest_image(sender_image), "sender");
  const hw::MacAddress echo_mac = default_mac(0), sender_mac = default_mac(1);
  network->attach_emulated(*echo, NicSpec{}, echo_mac);
  PassthroughNic* passthrough = nullptr;
  if (sender_passthrough) {
    NicSpec spec;
    spec.mode = NicMode::passthrough;
    passthrough = &network->attach_passthrough(*sender, spec, sender_mac);
  } else {
    network->attach_emulated(*sender, NicSpec{}, sender_mac);
  }

  auto outcomes =
      run_concurrently(std::vector<Machine*>{echo.get(), sender.get()}, std::chrono::minutes(5));
  ASSERT_TRUE(outcomes[0].ok()) << outcomes[0].detail << "\n" << echo->console_transcript();
  ASSERT_TRUE(outcomes[1].ok()) << outcomes[1].detail << "\n" << sender->console_transcript();
  EXPECT_NE(
      sender->console_transcript().find("sent 1000, echoed 1000 intact, 0 bad, 0 retransmits"),
      std::string::npos)
      << sender->console_transcript();
  if (by_interrupt) {
    // The guests wait with HLT and are woken by the card's IRQ 9 (or their
    // timer's IRQ 0): each guest's own count of card interrupts handled is
    // exactly what vpio injected on IRQ 9, its ticks those on IRQ 0, and
    // its driver saw no event whose interrupt never came. How many
    // there are depends on timing (an event that arrives while the guest
    // still runs is found by its ISR poll, and one interrupt may cover
    // several events; with posted data-port writes the guests run faster and
    // wait less), so only a floor of half the frames is asked.
    for (const Machine* m : {echo.get(), sender.get()}) {
      SCOPED_TRACE(m->name());
      const std::string& console = m->console_transcript();
      const std::string marker = "interrupts ";
      const std::size_t at = console.rfind(marker);
      ASSERT_NE(at, std::string::npos) << console;
      const std::uint64_t handled = std::stoull(console.substr(at + marker.size()));
      EXPECT_EQ(handled, m->counters().interrupts_by_irq[9].load());
      EXPECT_GE(handled, 500u);
      EXPECT_NE(console.find("lost interrupts 0,"), std::string::npos) << console;
      const std::size_t ticks_at = console.rfind("timer ticks ");
      ASSERT_NE(ticks_at, std::string::npos) << console;
      EXPECT_EQ(std::stoull(console.substr(ticks_at + 12)),
                m->counters().interrupts_by_irq[0].load());
      EXPECT_EQ(
          m->counters().interrupts_injected.load(),
          m->counters().interrupts_by_irq[0].load() + m->counters().interrupts_by_irq[9].load());
      EXPECT_GT(m->counters().by_reason[KVM_EXIT_HLT].load(), 0u);
    }
  } else {
    EXPECT_EQ(echo->counters().interrupts_injected.load(), 0u);
    EXPECT_EQ(sender->counters().interrupts_injected.load(), 0u);
  }
  if (passthrough != nullptr) {
    const PortCounters& ports = passthrough->window().counters();
    EXPECT_GT(ports.total(IoPath::direct), 0u);
    EXPECT_EQ(ports.total(IoPath::hooked), 0u);
    EXPECT_EQ(ports.total(IoPath::emulated), 0u);
    // NIC accesses + console bytes + the exit port = every port access.
    EXPECT_EQ(ports.total() + sender->console_transcript().size() + 1,
              sender->counters().port_accesses.load());
  }
  network.reset();  // closes the pcap file

  const std::vector<Frame> frames = net::read_pcap_frames(pcap);
  ASSERT_FALSE(frames.empty());
  std::size_t i = 0;
  std::size_t announces = 0;
  for (; i < frames.size() && header_of(frames[i]).type == NET_MSG_ANNOUNCE; ++i) {
    ASSERT_EQ(net_check_frame(frames[i].data(), frames[i].size()), NET_OK);
    EXPECT_EQ(mac_text(header_of(frames[i]).src), echo_mac.to_string());
    ++announces;
  }
  EXPECT_GE(announces, 1u);
  std::set<std::size_t> sizes;
  for (std::uint32_t seq = 0; seq < 1000; ++seq) {
    ASSERT_LT(i + 1, frames.size()) << "the wire ends at DATA " << seq;
    const Frame& data = frames[i++];
    const Frame& reply = frames[i++];
    ASSERT_EQ(net_check_frame(data.data(), data.size()), NET_OK) << "DATA " << seq;
    ASSERT_EQ(net_check_frame(reply.data(), reply.size()), NET_OK) << "ECHO " << seq;
    ASSERT_EQ(header_of(data).type, NET_MSG_DATA) << "frame " << i - 2;
    ASSERT_EQ(header_of(reply).type, NET_MSG_ECHO) << "frame " << i - 1;
    ASSERT_EQ(header_of(data).sequence, seq);
    ASSERT_EQ(header_of(reply).sequence, seq);
    EXPECT_EQ(mac_text(header_of(data).src), sender_mac.to_string());
    EXPECT_EQ(mac_text(header_of(data).dst), echo_mac.to_string());
    EXPECT_EQ(mac_text(header_of(reply).src), echo_mac.to_string());
    EXPECT_EQ(mac_text(header_of(reply).dst), sender_mac.to_string());
    // The whole frame, rebuilt from the protocol, byte for byte.
    Frame expected(data.size());
    net_build_frame(expected.data(), header_of(data).dst, header_of(data).src, NET_MSG_DATA, seq,
                    header_of(data).length);
    ASSERT_EQ(data, expected) << "DATA " << seq;
    ASSERT_EQ(reply.size(), data.size());
    ASSERT_TRUE(
        std::equal(data.begin() + NET_HEADER_BYTES, data.end(), reply.begin() + NET_HEADER_BYTES));
    sizes.insert(data.size());
  }
  ASSERT_EQ(frames.size(), i + 2) << "frames after the exchange other than DONE/DONE_ACK";
  EXPECT_EQ(header_of(frames[i]).type, NET_MSG_DONE);
  EXPECT_EQ(header_of(frames[i + 1]).type, NET_MSG_DONE_ACK);
  EXPECT_TRUE(sizes.count(60) && sizes.count(1514)) << "mixed sizes must span 60..1514";
  EXPECT_GE(sizes.size(), 50u);

  // tshark reads the same file and sees the same frames.
  auto result = run_command("tshark -r " + pcap + " -T fields -e frame.len -e eth.src -e eth.dst");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::istringstream lines(result.output);
  std::string line;
  std::size_t n = 0;
  while (std::getline(lines, line)) {
    if (line.find("Running as user") != std::string::npos || line.empty()) continue;
    ASSERT_LT(n, frames.size());
    const Frame& f = frames[n++];
    std::string expected =
        std::to_string(f.size()) + "\t" + mac_text(f.data() + 6) + "\t" + mac_text(f.data());
    ASSERT_EQ(line, expected) << "tshark frame " << n;
  }
  EXPECT_EQ(n, frames.size());
}

}  // namespace
}  // namespace vpio::test

// Stock Linux guests on a card vpio did not write (issue 15): two Linux
// guests, each with Linux's own ne2k-pci bound to vpio's RTL8029 function,
// share QEMU's ISA NE2000 in vpio mode (hw=port:0x300). They ping each other
// and move 4 MiB each way over TCP, and QEMU's pcap of the card's wire shows
// each guest's frames under its own MAC only.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../kvm/wire_checks.hpp"
#include "hw/net/pcap_recorder.hpp"
#include "lab_nic.hpp"
#include "tests/support/lab_kernel.hpp"
#include "tests/support/linux_net.hpp"
#include "vmm/nic.hpp"

namespace vpio::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kTcpBytes = "4194304";  // guests/linux/init's default

std::uint16_t be16(const Frame& f, std::size_t at) {
  return static_cast<std::uint16_t>(f[at] << 8 | f[at + 1]);
}

// What one guest put on the wire, by the addresses its frames carry.
struct SenderTally {
  std::uint64_t frames = 0;
  std::uint64_t tcp_payload = 0;  // TCP payload bytes, retransmissions included
};

// Every frame on the wire is from one of the guests, and carries that
// guest's IPv4 address (10.0.15.N+1, guests/linux/init) wherever it names a
// sender: the IPv4 source, ARP's sender hardware and protocol addresses.
// Returns each guest's tally.
std::vector<SenderTally> tally_by_sender(const std::vector<Frame>& wire,
                                         const std::vector<hw::MacAddress>& macs) {
  std::vector<SenderTally> tally(macs.size());
  for (std::size_t n = 0; n < wire.size(); ++n) {
    const Frame& f = wire[n];
    SCOPED_TRACE("frame " + std::to_string(n));
    if (f.size() < 14) {
      ADD_FAILURE() << f.size() << " bytes";
      continue;
    }
    const hw::MacAddress src = mac_at(f, 6);
    const auto it = std::find(macs.begin(), macs.end(), src);
    if (it == macs.end()) {
      ADD_FAILURE() << "from " << src.to_string() << ", no guest's MAC";
      continue;
    }
    const auto guest = static_cast<std::size_t>(it - macs.begin());
    const std::uint8_t own_ip[4] = {10, 0, 15, static_cast<std::uint8_t>(guest + 1)};
    ++tally[guest].frames;
    switch (be16(f, 12)) {
      case 0x0800: {  // IPv4: source address at 26
        if (f.size() < 34) {
          ADD_FAILURE() << "a short IPv4 frame";
          break;
        }
        EXPECT_TRUE(std::equal(own_ip, own_ip + 4, f.begin() + 26))
            << "an IPv4 frame under guest " << guest << "'s MAC from another address";
        const std::size_t ihl = (f[14] & 0x0f) * 4u;
        if (f[23] == 6 && f.size() >= 14 + ihl + 20) {  // TCP
          const std::size_t total = be16(f, 16);
          const std::size_t header = ihl + (f[14 + ihl + 12] >> 4) * 4u;
          if (total > header) tally[guest].tcp_payload += total - header;
        }
        break;
      }
      case 0x0806:  // ARP: sender MAC at 22, sender IPv4 at 28
        if (f.size() < 42) {
          ADD_FAILURE() << "a short ARP frame";
          break;
        }
        EXPECT_EQ(mac_at(f, 22), src) << "an ARP under guest " << guest << "'s MAC names another";
        EXPECT_TRUE(std::equal(own_ip, own_ip + 4, f.begin() + 28))
            << "an ARP under guest " << guest << "'s MAC for another address";
        break;
      case 0x86dd:  // IPv6 (init does not turn it off): its link-local source
        break;       // address is the guest's own MAC, checked above
      default:
        ADD_FAILURE() << "ethertype " << std::hex << be16(f, 12) << " from guest " << guest;
    }
  }
  return tally;
}

TEST(RealCard, TwoLinuxGuestsShareQemusNe2000InVpioMode) {
  const LabKernel kernel = find_lab_kernel();
  if (kernel.path.empty()) GTEST_SKIP() << kernel.why_absent;
  ASSERT_FALSE(kernel.module_dir.empty()) << kernel.path << "'s package has no module tree";
  const fs::path dir = test_dir();
  // The kernel and the initramfs with ne2k-pci, in the build tree (the lab's share).
  fs::copy_file(kernel.path, dir / "vmlinuz");
  const fs::path initramfs = dir / "initramfs-net.cpio.gz";
  const std::string make = std::string(VPIO_SOURCE_DIR) + "/guests/linux/make-net-initramfs " +
                           initramfs.string() + " " +
                           build_path("guests/linux/initramfs.cpio.gz") + " " + kernel.module_dir;
  ASSERT_EQ(std::system(make.c_str()), 0) << make;

  OutsideWire wire;  // nobody outside: the guests talk to each other
  const std::string card = "ne2k-isa,iobase=0x300,irq=9,mac=52:54:00:ab:cd:ef,pcap=" +
                           (dir / "wire.pcap").string() + "," + wire.nic_keys();
  const auto rel = [](const fs::path& p) { return fs::relative(p, VPIO_BUILD_DIR).string(); };
  const std::string kernel_in_lab = rel(dir / "vmlinuz");
  LabProcess lab({"--nic", card},
                 {build_path("vpio"), "run", "--ram", "256", "--timeout", "2400", "--initrd",
                  rel(initramfs), "--append",
                  "console=ttyS0 quiet panic=-1 reboot=t vpio_net=1 vpio_test=ping+tcp", "--nic",
                  "vpio,hw=port:0x300", "--stats", rel(dir / "stats.json"), "--console-dir",
                  rel(dir / "consoles"), kernel_in_lab, kernel_in_lab},
                 dir / "lab.log", std::chrono::seconds(2700));
  const int status = lab.wait();
  const std::string log = lab.output();
  ASSERT_TRUE(fs::exists(dir / "stats.json")) << log;
  const auto stats = nlohmann::json::parse(read_text(dir / "stats.json"));
  std::vector<std::string> consoles;
  for (const auto& guest : stats.at("guests"))
    consoles.push_back(read_text(dir / "consoles" / (guest.value("name", "?") + ".log")));
  ASSERT_EQ(consoles.size(), 2u) << log;
  std::string context = log;
  for (std::size_t i = 0; i < consoles.size(); ++i)
    context += "\n---- guest " + std::to_string(i) + "'s console ----\n" + consoles[i];
  const auto figures = linux_net_figures(stats, consoles);
  print_linux_net_figures(figures);
  nlohmann::json summary = nlohmann::json::array();
  for (const auto& f : figures) summary.push_back(to_json(f));
  std::ofstream(dir / "figures.json") << summary.dump(2) << "\n";

  EXPECT_EQ(status, 0) << context;
  for (std::size_t i = 0; i < 2; ++i) expect_linux_guest_passed(consoles, stats, i, "ping+tcp", context);
  expect_linux_pinged(consoles, 0, 1, context);
  expect_linux_exchanged(consoles, 0, 1, kTcpBytes, context);
  for (std::size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE("guest " + std::to_string(i));
    const auto& nic = stats.at("guests")[i].at("nics").at(0);
    EXPECT_EQ(nic.value("mode", ""), "vpio");
    EXPECT_NE(nic.value("device", "").find("host port 0x300"), std::string::npos) << nic.dump();
    EXPECT_EQ(figures[i].violations, 0u);
    EXPECT_EQ(figures[i].machine_checks, 0u);
    EXPECT_GT(figures[i].direct, 0u);
    EXPECT_GT(figures[i].context_switches, 0u);
  }

  // QEMU's record of the card's wire: each guest's frames under its own MAC
  // only, and each one's 4 MiB crossed it.
  const auto wire_frames = hw::read_pcap_frames(dir / "wire.pcap");
  const std::vector<hw::MacAddress> macs = {default_mac(0), default_mac(1)};
  const auto tally = tally_by_sender(wire_frames, macs);
  for (std::size_t i = 0; i < tally.size(); ++i) {
    std::printf("[ labnic ] guest %zu (%s): %llu frames on QEMU's wire, %llu TCP payload bytes\n",
                i, macs[i].to_string().c_str(), static_cast<unsigned long long>(tally[i].frames),
                static_cast<unsigned long long>(tally[i].tcp_payload));
    EXPECT_GE(tally[i].tcp_payload, std::stoull(kTcpBytes)) << "guest " << i;
  }
}

}  // namespace
}  // namespace vpio::test

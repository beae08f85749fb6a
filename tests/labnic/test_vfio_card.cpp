// vpio on a bus master it did not write: QEMU's RTL8139 in the KVM lab,
// behind the lab VM's IOMMU (QEMU's intel-iommu) and bound to vfio-pci,
// reached with hw=vfio:0000:00:10.0. The monitor programs the card with
// DMA addresses of its own I/O address space, and every window of that space
// (each guest's RAM, the monitor's receive ring) is mapped in the IOMMU and
// nothing else: a DMA anywhere else is stopped there and logged by the lab
// kernel as a DMAR fault. The flat guests are guests/template_ping.c's pair
// on the RTL8139 (guests/rtl8139/) and guests/rtl8139_hostile.c.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "../kvm/wire_checks.hpp"
#include "app/nic.hpp"
#include "lab_nic.hpp"
#include "net/pcap_recorder.hpp"

namespace vpio::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCard = "vfio:0000:00:10.0";

std::string image(const std::string& name) { return build_path("guests/" + name + ".img"); }
std::string in_build(const fs::path& path) { return fs::relative(path, VPIO_BUILD_DIR).string(); }


// `vpio run` of `guests` sharing the card in vpio mode, its output in
// DIR/NAME.log, its exit status in DIR/NAME.status, its stats in
// DIR/NAME.json: a line of the lab's script.
std::string vpio_run(const fs::path& dir, const std::string& name,
                     const std::vector<std::string>& guests, const std::string& mode = "vpio") {
  std::string line = build_path("vpio") + " run --nic " + mode + ",model=rtl8139,hw=" + kCard +
                     " --timeout 300 --stats " + in_build(dir / (name + ".json"));
  for (const auto& g : guests) line += " " + image(g);
  line += " > " + in_build(dir / (name + ".log")) + " 2>&1; echo $? > " +
          in_build(dir / (name + ".status")) + "; ";
  return line;
}

// Runs `script` in one boot of the lab with the card; the lab kernel's log
// is then in DIR/dmesg.txt.
int run_lab(const fs::path& dir, const OutsideWire& wire, const std::string& script) {
  LabProcess lab({"--nic", vfio_card_option(dir, wire)},
                 {"bash", "-c", script + "dmesg > " + in_build(dir / "dmesg.txt")},
                 dir / "lab.log");
  const int status = lab.wait();
  EXPECT_EQ(status, 0) << lab.output();
  return status;
}

nlohmann::json card_of(const nlohmann::json& stats, std::size_t guest) {
  return stats.at("guests").at(guest).at("nics").at(0);
}

// The monitor refused nothing after programming the card, the card aborted
// nothing, the monitor's own address space refused nothing, and the IOMMU
// logged no fault: whatever a guest did was caught before the card moved.
void expect_card_clean(const nlohmann::json& stats, const fs::path& dir) {
  const auto card = card_of(stats, 0).at("card");
  EXPECT_EQ(card.at("iommu_faults"), 0) << card.dump();
  EXPECT_EQ(card.at("card_aborts"), 0) << card.dump();
  EXPECT_EQ(card.at("targets_refused"), 0) << card.dump();
  const std::string dmesg = read_text(dir / "dmesg.txt");
  EXPECT_NE(dmesg.find("DMAR: Intel(R) Virtualization Technology for Directed I/O"),
            std::string::npos)
      << "the lab kernel shows no IOMMU:\n"
      << dmesg;
  const auto faults = iommu_faults(dmesg);
  EXPECT_TRUE(faults.empty()) << faults.size() << " IOMMU faults, the first: " << faults.front();
}

// Every frame on QEMU's wire is from one of `macs`.
void expect_sources(const std::vector<Frame>& wire, const std::vector<hw::MacAddress>& macs) {
  for (const Frame& f : wire) {
    ASSERT_GE(f.size(), 14u);
    const hw::MacAddress from = mac_at(f, 6);
    EXPECT_NE(std::find(macs.begin(), macs.end(), from), macs.end())
        << "a frame on the wire from " << from.to_string();
  }
}

// The pair shares the card: every frame goes out through it by DMA from the
// sender's RAM (the card reads its guest's window through the IOMMU), and
// the monitor hands it to the other guest.
TEST(VfioCard, TwoGuestsShareQemusRtl8139InVpioMode) {
  const fs::path dir = test_dir();
  OutsideWire wire;
  ASSERT_EQ(run_lab(dir, wire, vpio_run(dir, "pair", {"rtl8139_ping", "rtl8139_echo"})), 0);
  const std::string log = read_text(dir / "pair.log");
  EXPECT_EQ(read_text(dir / "pair.status"), "0\n") << log;
  EXPECT_NE(log.find("[rtl8139_ping] rtl8139_ping: 200 frames echoed"), std::string::npos) << log;
  const auto stats = nlohmann::json::parse(read_text(dir / "pair.json"));
  for (std::size_t i = 0; i < 2; ++i) {
    const auto nic = card_of(stats, i);
    EXPECT_EQ(nic.at("mode"), "vpio");
    EXPECT_NE(nic.at("device").get<std::string>().find("0000:00:10.0 (10ec:8139) by VFIO"),
              std::string::npos)
        << nic.dump();
    EXPECT_EQ(nic.at("violations"), 0);
  }
  expect_card_clean(stats, dir);
  const auto frames = net::read_pcap_frames(dir / "wire.pcap");
  // 200 pings, 200 echoes, DONE; more when the pinger retried a ping whose
  // echo was slow (the first, at times, while the echo guest still boots).
  EXPECT_GE(frames.size(), 401u);
  expect_sources(frames, {default_mac(0), default_mac(1)});
}

// A station outside the lab that echoes what is sent to `mac` as
// guests/template_ping.c's echo does: back to the sender, from `mac`, the
// rest as it came. Replies go out from its own thread.
class EchoStation final : public hw::FrameSink {
 public:
  EchoStation(net::Hub& hub, hw::MacAddress mac) : hub_(hub), mac_(mac) {
    port_ = &hub_.attach(*this, "echo");
    thread_ = std::thread([this] { serve(); });
  }
  EchoStation(const EchoStation&) = delete;
  EchoStation& operator=(const EchoStation&) = delete;
  ~EchoStation() override { stop(); }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (port_ != nullptr) hub_.detach(*port_);
    port_ = nullptr;
  }

  void deliver(std::span<const std::uint8_t> frame) override {
    if (frame.size() < 14 || !std::equal(mac_.bytes.begin(), mac_.bytes.end(), frame.begin())) return;
    {
      std::lock_guard lock(mutex_);
      inbox_.emplace_back(frame.begin(), frame.end());
    }
    wake_.notify_all();
  }

  std::uint64_t echoed() const {
    std::lock_guard lock(mutex_);
    return echoed_;
  }

 private:
  void serve() {
    for (;;) {
      Frame f;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !inbox_.empty(); });
        if (stopping_) return;
        f = std::move(inbox_.front());
        inbox_.pop_front();
      }
      Frame reply = f;
      std::copy_n(f.begin() + 6, 6, reply.begin());
      std::copy_n(mac_.bytes.begin(), 6, reply.begin() + 6);
      port_->deliver(reply);
      std::lock_guard lock(mutex_);
      ++echoed_;
    }
  }

  net::Hub& hub_;
  hw::MacAddress mac_;
  net::HubPort* port_ = nullptr;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Frame> inbox_;
  bool stopping_ = false;
  std::uint64_t echoed_ = 0;
  std::thread thread_;
};

// The pinger alone on the card, its echo outside the lab: every echo comes
// in through the card, which writes it by DMA into the monitor's ring (its
// window in the IOMMU), and the monitor copies it into the guest's ring.
// Then the same pinger given the card whole (passthrough): its driver
// programs the card with guest-physical addresses, which the IOMMU maps to
// its RAM and nothing else. (QEMU's card's own MAC is default_mac(0), so
// the pinger's peer is default_mac(1) either way.)
TEST(VfioCard, FramesFromTheWireReachTheGuestThroughTheCardsRing) {
  const fs::path dir = test_dir();
  OutsideWire wire;
  EchoStation echo(wire.hub(), default_mac(1));
  ASSERT_EQ(run_lab(dir, wire,
                    vpio_run(dir, "ping", {"rtl8139_ping"}) +
                        vpio_run(dir, "whole", {"rtl8139_ping"}, "passthrough")),
            0);
  echo.stop();
  const std::string whole = read_text(dir / "whole.log");
  EXPECT_EQ(read_text(dir / "whole.status"), "0\n") << whole;
  EXPECT_NE(whole.find("rtl8139_ping: 200 frames echoed"), std::string::npos) << whole;
  EXPECT_GE(echo.echoed(), 400u);
  const std::string log = read_text(dir / "ping.log");
  EXPECT_EQ(read_text(dir / "ping.status"), "0\n") << log;
  EXPECT_NE(log.find("rtl8139_ping: 200 frames echoed"), std::string::npos) << log;
  const auto stats = nlohmann::json::parse(read_text(dir / "ping.json"));
  const auto nic = card_of(stats, 0);
  EXPECT_EQ(nic.at("violations"), 0);
  EXPECT_GE(nic.at("frames_received").get<std::uint64_t>(), 200u) << nic.dump();
  EXPECT_GE(nic.at("card").at("frames_drained").get<std::uint64_t>(), 200u) << nic.dump();
  // The card's interrupt came by VFIO's eventfd, and was unmasked again.
  EXPECT_GT(nic.at("card").at("device_interrupts").get<std::uint64_t>(), 0u) << nic.dump();
  EXPECT_GT(nic.at("card").at("device_unmasks").get<std::uint64_t>(), 0u) << nic.dump();
  expect_card_clean(stats, dir);
  expect_sources(net::read_pcap_frames(dir / "wire.pcap"), {default_mac(0), default_mac(1)});
}

// Each hostile guest (guests/rtl8139_hostile.c) beside the pair mid-exchange,
// one run each in one boot: one machine check for it, none for the pair,
// whose exchange completes; the card never aborts and the IOMMU never
// faults, because the model refused every bad address before the card was
// given it.
TEST(VfioCard, HostileGuestsGetMachineChecksBeforeTheIommuIsNeeded) {
  const std::vector<std::string> hostile = {"tx_outside", "tx_vmm", "tx_past_end", "tx_size",
                                            "ring",       "cplus",  "eeprom"};
  const fs::path dir = test_dir();
  OutsideWire wire;
  std::string script;
  for (const auto& h : hostile)
    script += vpio_run(dir, h, {"rtl8139_ping", "rtl8139_echo", "rtl8139_hostile_" + h});
  ASSERT_EQ(run_lab(dir, wire, script), 0);
  for (const auto& h : hostile) {
    SCOPED_TRACE(h);
    const std::string log = read_text(dir / (h + ".log"));
    EXPECT_EQ(read_text(dir / (h + ".status")), "0\n") << log;
    EXPECT_NE(log.find("rtl8139_ping: 200 frames echoed"), std::string::npos) << log;
    EXPECT_NE(log.find("rtl8139_hostile: machine check as expected"), std::string::npos) << log;
    if (!fs::exists(dir / (h + ".json"))) continue;
    const auto stats = nlohmann::json::parse(read_text(dir / (h + ".json")));
    const auto guests = stats.at("guests");
    EXPECT_EQ(guests.at(0).at("machine_checks_delivered"), 0);
    EXPECT_EQ(guests.at(1).at("machine_checks_delivered"), 0);
    EXPECT_EQ(guests.at(2).at("machine_checks_delivered"), 1);
    EXPECT_EQ(card_of(stats, 2).at("violations"), 1);
    expect_card_clean(stats, dir);
  }
}

// The control for every "no IOMMU fault" above: the same card, programmed
// to transmit from an address its IOMMU does not map (tests/labnic/probe),
// is stopped there, and the lab kernel logs the fault with that address.
TEST(VfioCard, TheIommuStopsACardProgrammedOutsideItsWindows) {
  const fs::path dir = test_dir();
  OutsideWire wire;
  ASSERT_EQ(run_lab(dir, wire,
                    build_path("tests/vfio_dma_probe") + " 0000:00:10.0 > " +
                        in_build(dir / "probe.log") + " 2>&1; "),
            0);
  const std::string log = read_text(dir / "probe.log");
  EXPECT_NE(log.find("transmit from 0x200000"), std::string::npos) << log;
  const auto faults = iommu_faults(read_text(dir / "dmesg.txt"));
  ASSERT_FALSE(faults.empty()) << log;
  bool named = false;
  for (const auto& f : faults) named = named || f.find("fault addr 0x200000") != std::string::npos;
  EXPECT_TRUE(named) << faults.front();
  // QEMU's card does not abort the transmit: it sends what its refused read
  // gave it, 60 zero bytes, and nothing of any memory.
  for (const Frame& f : net::read_pcap_frames(dir / "wire.pcap"))
    EXPECT_TRUE(std::all_of(f.begin(), f.end(), [](std::uint8_t b) { return b == 0; }));
}

// What is wrong with a VFIO card is named: no such device, a device that is
// not bound to vfio-pci, a device of another model than --nic says.
TEST(VfioCard, BadVfioSpecsAreNamed) {
  const fs::path dir = test_dir();
  OutsideWire wire;
  const std::string v = build_path("vpio") + " run --timeout 60 ";
  const std::string hello = " " + image("hello");
  std::string script;
  auto add = [&](const std::string& name, const std::string& nic) {
    script += v + "--nic " + nic + hello + " > " + in_build(dir / (name + ".txt")) +
              " 2>&1; echo $? >> " + in_build(dir / (name + ".txt")) + "; ";
  };
  add("absent", "vpio,model=rtl8139,hw=vfio:0000:00:1e.0");
  add("unbound", "vpio,model=rtl8139,hw=vfio:0000:00:00.0");
  add("model", "vpio,model=ne2000,hw=vfio:0000:00:10.0");
  add("syntax", "vpio,model=rtl8139,hw=vfio:00:10");
  ASSERT_EQ(run_lab(dir, wire, script), 0);
  const auto expect = [&](const std::string& name, const std::string& text) {
    const std::string out = read_text(dir / (name + ".txt"));
    EXPECT_NE(out.find(text), std::string::npos) << name << ": " << out;
    EXPECT_EQ(out.find("terminate"), std::string::npos) << out;
  };
  expect("absent", "no PCI device 0000:00:1e.0 on this host");
  expect("unbound", "PCI device 0000:00:00.0 is bound to");
  expect("unbound", "not vfio-pci");
  expect("model", "is a PCI device 10ec:8139, not the 10ec:8029 of NE2000");
  expect("syntax", "is not a PCI address");
}

}  // namespace
}  // namespace vpio::test

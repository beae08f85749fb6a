// Stock Linux (8139too) on QEMU's RTL8139 through VFIO, in the KVM lab: one
// guest given the card whole (passthrough), then one guest sharing it by
// vpio, in one boot of the lab. Each moves 4 MiB each way over TCP with a
// station on the card's wire: the lab kernel itself, through a second
// card (QEMU's e1000) on the same QEMU hub (lab/kvm-lab --nic rtl8139,peer=...). Prints
// a table: the card's exits per frame (its port accesses and MMIO exits,
// over the frames on the wire to or from the guest, from QEMU's pcap), the
// hooked fraction, TCP throughput each way, and vpio against passthrough.
// Counts are exact; the times are TCG's, so only ratios within the run mean
// anything (docs/lab.md).
//
//   build/benchmarks/bench_rtl8139_linux [--bytes N] [--window BYTES] [--timeout SECONDS]
//                                        [--json FILE]
//
// --window caps the guest's TCP receive window (default 16 KiB, in both
// modes): QEMU 7.2's RTL8139, given whole to 8139too, stops receiving for
// good once the guest falls 64 frames behind with under 1,514 bytes free in
// its 32 KiB ring (docs/rtl8139-vpio.md, "The passthrough receive stall").
// With at most 16 KiB in flight towards the guest the ring cannot fill.
// `--window 0` leaves Linux's default.
//
// vpio runs first, then passthrough; a run still going after --timeout
// (default 600 s) is stopped, and its row says status 124.
//
// It runs on the host (it boots the lab itself) and needs the lab's kernel
// (tests/support/lab_kernel.hpp: the one lab/kvm-lab fetched).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "net/pcap_recorder.hpp"
#include "tests/support/lab_kernel.hpp"

namespace {

namespace fs = std::filesystem;

constexpr const char* kCard = "hw=vfio:0000:00:10.0";
constexpr const char* kPeer = "10.0.15.2";  // guest 0's peer in guests/linux/init
const std::uint8_t kGuestMac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};  // both modes

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// One mode's lines of the lab's script: the peer's listener and sender,
// then the guest; DIR/MODE.* hold what it left.
std::string mode_script(const fs::path& dir, const std::string& mode, const fs::path& vmlinuz,
                        const fs::path& initrd, unsigned long bytes, unsigned long window,
                        unsigned timeout) {
  const std::string d = quoted(dir.string()), m = mode;
  std::ostringstream s;
  s << "sleep 100000 | busybox nc -l -p 5001 > " << d << "/" << m << ".peer-received & L=$!\n"
    << "( s=$(date +%s.%N); until busybox nc 10.0.15.1 5001 < /tmp/peer-sent > /dev/null 2>&1; do "
       "sleep 0.5; s=$(date +%s.%N); done; echo $s $(date +%s.%N) > "
    << d << "/" << m << ".peer-send ) & S=$!\n"
    << VPIO_BUILD_DIR << "/vpio run --ram 256 --timeout " << timeout << " --initrd " << quoted(initrd.string())
    << " --append " << quoted("console=ttyS0 quiet panic=-1 reboot=t vpio_net=endpoint "
                              "vpio_test=tcp vpio_tcp_bytes=" + std::to_string(bytes) +
                              (window != 0 ? " vpio_tcp_window=" + std::to_string(window) : ""))
    << " --nic " << m << ",model=rtl8139," << kCard << " --stats " << d << "/" << m << ".json"
    << " --console-dir " << d << "/" << m << "-consoles " << quoted(vmlinuz.string()) << " > " << d
    << "/" << m << ".log 2>&1; echo $? > " << d << "/" << m << ".status\n"
    << "kill $S $L 2>/dev/null; pkill -f 'sleep 100000' 2>/dev/null; wait 2>/dev/null\n"
    << "sha256sum < " << d << "/" << m << ".peer-received | cut -d' ' -f1 > " << d << "/" << m
    << ".peer-sha\n";
  return s.str();
}

struct Row {
  std::string mode;
  int status = -1;
  std::uint64_t card_accesses = 0, hooked = 0, frames = 0, kvm_exits = 0;
  double out_kib = 0;  // guest to peer, as the guest timed it
  double in_kib = 0;   // peer to guest, as the peer timed it
  bool intact = false;
};

bool mac_is(const std::vector<std::uint8_t>& f, std::size_t at) {
  return f.size() >= at + 6 && std::equal(kGuestMac, kGuestMac + 6, f.begin() + at);
}

Row read_row(const fs::path& dir, const std::string& mode, const std::string& sent_sha,
             unsigned long bytes) {
  Row r;
  r.mode = mode;
  const std::string status = read_text(dir / (mode + ".status"));
  if (!status.empty()) r.status = std::stoi(status);
  if (!fs::exists(dir / (mode + ".json"))) return r;
  const auto stats = nlohmann::json::parse(read_text(dir / (mode + ".json")));
  const auto& guest = stats.at("guests").at(0);
  r.kvm_exits = guest.value("kvm_exits_to_userspace", std::uint64_t{0});
  const auto& nic = guest.at("nics").at(0);
  r.card_accesses = nic.value("port_accesses", std::uint64_t{0});
  r.hooked = nic.value("hooked", std::uint64_t{0});
  if (nic.contains("mmio")) {
    r.card_accesses += nic.at("mmio").value("direct_exits", std::uint64_t{0}) +
                       nic.at("mmio").value("hooked_exits", std::uint64_t{0});
    r.hooked += nic.at("mmio").value("hooked_exits", std::uint64_t{0});
  }
  for (const auto& f : vpio::net::read_pcap_frames(dir / (mode + ".pcap")))
    if (mac_is(f, 0) || mac_is(f, 6)) ++r.frames;
  std::string console;
  for (const auto& entry : fs::directory_iterator(dir / (mode + "-consoles")))
    console += read_text(entry.path());
  std::smatch m;
  static const std::regex sent(R"(tcp sent \d+ bytes to \S+ in ([0-9.]+) s, ([0-9.]+) KiB/s)");
  if (std::regex_search(console, m, sent)) r.out_kib = std::stod(m[2]);
  static const std::regex got(R"(tcp received (\d+) bytes from \S+, sha256 ([0-9a-f]+))");
  const bool in_ok = std::regex_search(console, m, got) && m[1] == std::to_string(bytes) &&
                     m[2] == sent_sha;
  double t0 = 0, t1 = 0;
  std::istringstream times(read_text(dir / (mode + ".peer-send")));
  if (times >> t0 >> t1 && t1 > t0) r.in_kib = static_cast<double>(bytes) / 1024.0 / (t1 - t0);
  std::smatch sha;
  static const std::regex guest_sha(R"(tcp sent \d+ bytes .* sha256 ([0-9a-f]+))");
  const bool out_ok = std::regex_search(console, sha, guest_sha) &&
                      read_text(dir / (mode + ".peer-sha")).starts_with(sha[1].str());
  r.intact = in_ok && out_ok;
  return r;
}

double per(std::uint64_t a, std::uint64_t b) {
  return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b);
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long bytes = 4194304;
  unsigned long window = 16384;  // the guest's TCP receive window, at most
  unsigned timeout = 600;  // per run; vpio's exit 124 when it is reached
  std::string json_out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--bytes" && i + 1 < argc) {
      bytes = std::stoul(argv[++i]);
    } else if (a == "--window" && i + 1 < argc) {
      window = std::stoul(argv[++i]);
    } else if (a == "--timeout" && i + 1 < argc) {
      timeout = static_cast<unsigned>(std::stoul(argv[++i]));
    } else if (a == "--json" && i + 1 < argc) {
      json_out = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--bytes N] [--window BYTES] [--timeout SECONDS] [--json FILE]\n", argv[0]);
      return 2;
    }
  }
  const vpio::test::LabKernel kernel = vpio::test::find_lab_kernel();
  if (kernel.path.empty()) {
    std::fprintf(stderr, "bench_rtl8139_linux: %s\n", kernel.why_absent.c_str());
    return 1;
  }
  const fs::path dir = fs::path(VPIO_BUILD_DIR) / "bench-rtl8139-linux";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(kernel.path, dir / "vmlinuz");
  const std::string make = std::string(VPIO_SOURCE_DIR) + "/guests/linux/make-net-initramfs " +
                           (dir / "initramfs.cpio.gz").string() + " " + VPIO_BUILD_DIR +
                           "/guests/linux/initramfs.cpio.gz " + kernel.module_dir;
  if (std::system(make.c_str()) != 0) {
    std::fprintf(stderr, "bench_rtl8139_linux: %s failed\n", make.c_str());
    return 1;
  }
  // The peer's 4 MiB, the same for both modes: the guest's console names
  // the hash of what it received.
  std::string script = "head -c " + std::to_string(bytes) +
                       " /dev/urandom > /tmp/peer-sent; sha256sum < /tmp/peer-sent | cut -d' ' "
                       "-f1 > " + quoted((dir / "peer-sent.sha").string()) + "\n";
  for (const std::string mode : {"vpio", "passthrough"})
    script += mode_script(dir, mode, dir / "vmlinuz", dir / "initramfs.cpio.gz", bytes, window,
                          timeout) +
              "cp " + quoted((dir / "wire.pcap").string()) + " " +
              quoted((dir / (mode + ".pcap")).string()) + "\n";
  script += "dmesg > " + quoted((dir / "dmesg.txt").string()) + "\n";
  // One wire record for both runs, copied after each: the pcap of the
  // second holds the first's frames too, which read_row's caller subtracts.
  {
    std::ofstream(dir / "lab.sh") << script;
  }
  // From the build tree: the lab shares the current directory writable.
  const std::string lab = std::string("cd ") + VPIO_BUILD_DIR + " && " + VPIO_SOURCE_DIR +
                          "/lab/kvm-lab --timeout 3000 --nic " +
                          "rtl8139,peer=" + kPeer + "/24,pcap=" + (dir / "wire.pcap").string() +
                          " -- bash " + (dir / "lab.sh").string() + " > " +
                          (dir / "lab.log").string() + " 2>&1";
  std::fprintf(stderr, "bench_rtl8139_linux: booting the lab (a few minutes): %s\n", lab.c_str());
  const int lab_status = std::system(lab.c_str());
  if (lab_status != 0)
    std::fprintf(stderr, "bench_rtl8139_linux: the lab exited %d; see %s\n", lab_status,
                 (dir / "lab.log").c_str());
  std::string sent_sha = read_text(dir / "peer-sent.sha");
  while (!sent_sha.empty() && sent_sha.back() == '\n') sent_sha.pop_back();
  Row pass = read_row(dir, "passthrough", sent_sha, bytes);
  Row vpio = read_row(dir, "vpio", sent_sha, bytes);
  pass.frames -= std::min(pass.frames, vpio.frames);  // the first run's frames

  std::printf("Linux 8139too on QEMU's RTL8139 by VFIO, %lu bytes each way over TCP with a "
              "station on the wire, the guest's receive window at most %s (lab: kvm-amd under "
              "TCG)\n\n",
              bytes, window != 0 ? (std::to_string(window) + " bytes").c_str() : "Linux's default");
  std::printf("| mode | status | intact | frames | card exits | card exits/frame | hooked | "
              "guest->peer KiB/s | peer->guest KiB/s |\n|---|---:|---|---:|---:|---:|---:|---:|"
              "---:|\n");
  nlohmann::json out = nlohmann::json::array();
  for (const Row& r : {pass, vpio}) {
    std::printf("| %s | %d | %s | %llu | %llu | %.2f | %.1f%% | %.1f | %.1f |\n", r.mode.c_str(),
                r.status, r.intact ? "yes" : "NO", static_cast<unsigned long long>(r.frames),
                static_cast<unsigned long long>(r.card_accesses), per(r.card_accesses, r.frames),
                100.0 * per(r.hooked, r.card_accesses), r.out_kib, r.in_kib);
    out.push_back({{"mode", r.mode},
                   {"status", r.status},
                   {"intact", r.intact},
                   {"frames", r.frames},
                   {"card_exits", r.card_accesses},
                   {"card_exits_per_frame", per(r.card_accesses, r.frames)},
                   {"hooked_fraction", per(r.hooked, r.card_accesses)},
                   {"kvm_exits", r.kvm_exits},
                   {"guest_to_peer_kib_per_second", r.out_kib},
                   {"peer_to_guest_kib_per_second", r.in_kib}});
  }
  const double out_ratio = pass.out_kib > 0 ? vpio.out_kib / pass.out_kib : 0;
  const double in_ratio = pass.in_kib > 0 ? vpio.in_kib / pass.in_kib : 0;
  std::printf("\nvpio / passthrough throughput: guest->peer %.2f, peer->guest %.2f\n", out_ratio,
              in_ratio);
  if (!json_out.empty())
    std::ofstream(json_out) << nlohmann::json{{"rows", out},
                                              {"ratio_guest_to_peer", out_ratio},
                                              {"ratio_peer_to_guest", in_ratio}}
                                   .dump(2)
                            << "\n";
  return pass.intact && vpio.intact && pass.status == 0 && vpio.status == 0 ? 0 : 1;
}

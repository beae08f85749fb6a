// The three NIC modes side by side on real KVM: emulate, passthrough and vpio,
// under transmit-heavy (1514- and 64-byte frames), receive-heavy and mixed
// workloads, every guest booted in-process. Prints one markdown table from one
// run: port accesses, KVM exits, hooked accesses and the hooked fraction, and
// for vpio the monitor's context switches per second and the cost of one.
//
// Run it on KVM: lab/on-kvm build/benchmarks/bench_nic_modes
// In the lab (KVM under TCG) the times are inflated; the counts are exact,
// though the ISR polls of a guest waiting for a frame depend on timing.
//
// With --real-card port:0x300 it adds rows on a real NE2000 at that host I/O
// base (the card column); in the lab, QEMU's ne2k_isa, given to the lab VM by
// VPIO_LAB_NIC=ne2k-isa,iobase=0x300 for lab/on-kvm (see docs/real-hardware.md).
// Its wire is QEMU's, out of the benchmark's reach, so only workloads that
// need no station on the wire run there: transmit, and a pair of guests
// exchanging through the shared card. --real-card-only leaves the chip rows
// out but the pair's, for a quicker comparison.
//
// Each row runs twice, one after the other: with every data-port write exiting
// (PIO "exits") and with those writes posted through KVM's coalesced ring
// (PIO "posted", where the KVM offers KVM_CAP_COALESCED_PIO): exits and time
// per frame before and after, from one run. --pio posted|exits keeps one.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "app/launcher.hpp"
#include "app/nic.hpp"
#include "app/progress.hpp"
#include "devices/ne2000/ne2000.hpp"
#include "devices/ne2000/port_io_card.hpp"
#include "net/frame_queue.hpp"
#include "tests/kvm/net_endpoint.hpp"

namespace {

using namespace vpio;
using Clock = std::chrono::steady_clock;

// The receive workload's protocol, as guests/net_sink.c defines it.
namespace sink {
constexpr std::uint8_t kEthertypeHigh = 0x88, kEthertypeLow = 0xb7;
constexpr std::size_t kSourceAt = 6, kEthertypeAt = 12, kTypeAt = 14, kValueAt = 16,
                      kHeaderBytes = 20;
constexpr std::uint8_t kReady = 1, kData = 2, kAck = 3;
constexpr std::uint32_t kPatternStep = 31;
constexpr std::uint32_t kFrames = 1000;  // SINK_FRAMES
constexpr std::uint32_t kWindow = 8;     // SINK_WINDOW
constexpr std::size_t kFrameBytes = hw::kMaxFrameBytes;
}  // namespace sink

const hw::MacAddress kFeederMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
const hw::MacAddress kEndpointMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0xee}};
constexpr std::size_t kTxSinkCapacity = 1u << 16;
constexpr auto kRunDeadline = std::chrono::minutes(20);
// Every guest ends with one write to the exit port.
constexpr std::uint64_t kExitPortAccesses = 1;
// Each DATA of net_sender comes back as one ECHO.
constexpr std::uint64_t kFramesPerExchange = 2;

hw::MacAddress mac_at(std::span<const std::uint8_t> frame, std::size_t offset) {
  hw::MacAddress mac;
  std::copy_n(frame.begin() + static_cast<std::ptrdiff_t>(offset), mac.bytes.size(),
              mac.bytes.begin());
  return mac;
}

std::uint32_t u32_at(std::span<const std::uint8_t> frame, std::size_t offset) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i)
    value |= static_cast<std::uint32_t>(frame[offset + i]) << (8 * i);
  return value;
}

// The host side of net_sink: waits for the sink's READY, then sends DATA in
// windows and waits for each window's ACK, sending the window again when the
// ACK is late. deliver() only records what came; frames go out on the
// feeder's own thread (a frame sent from inside the hub's fan-out is dropped).
class SinkFeeder final : public hw::FrameSink {
 public:
  static constexpr std::chrono::seconds kAckTimeout{2};
  static constexpr unsigned kMaxResendsPerWindow = 15;

  struct Counters {
    std::uint32_t acknowledged = 0;  // the sink's count, from its latest ACK
    std::uint64_t data_sent = 0;     // DATA frames sent, resends included
    std::uint64_t resends = 0;       // windows sent again after a missing ACK
    bool ready_seen = false;
    bool gave_up = false;  // one window went unacknowledged kMaxResendsPerWindow times
  };

  explicit SinkFeeder(net::Hub& hub) : hub_(hub) {
    port_ = &hub_.attach(*this, "sink-feeder");
    thread_ = std::thread([this] { run(); });
  }
  SinkFeeder(const SinkFeeder&) = delete;
  SinkFeeder& operator=(const SinkFeeder&) = delete;
  ~SinkFeeder() override { stop(); }

  // Joins the thread and leaves the hub; counters stay readable.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (port_ != nullptr) hub_.detach(*port_);
    port_ = nullptr;
  }

  Counters counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
  }

  void deliver(std::span<const std::uint8_t> frame) override {
    if (frame.size() < sink::kHeaderBytes || frame[sink::kEthertypeAt] != sink::kEthertypeHigh ||
        frame[sink::kEthertypeAt + 1] != sink::kEthertypeLow)
      return;
    const hw::MacAddress dst = mac_at(frame, 0), src = mac_at(frame, sink::kSourceAt);
    {
      std::lock_guard lock(mutex_);
      if (frame[sink::kTypeAt] == sink::kReady && !sink_mac_) {
        sink_mac_ = src;
        counters_.ready_seen = true;
      } else if (frame[sink::kTypeAt] == sink::kAck && dst == kFeederMac && sink_mac_ &&
                 src == *sink_mac_) {
        counters_.acknowledged = std::max(counters_.acknowledged, u32_at(frame, sink::kValueAt));
      } else {
        return;
      }
    }
    changed_.notify_all();
  }

 private:
  static void build_data(std::vector<std::uint8_t>& frame, const hw::MacAddress& to,
                         std::uint32_t sequence) {
    frame.assign(sink::kFrameBytes, 0);
    std::copy(to.bytes.begin(), to.bytes.end(), frame.begin());
    std::copy(kFeederMac.bytes.begin(), kFeederMac.bytes.end(), frame.begin() + sink::kSourceAt);
    frame[sink::kEthertypeAt] = sink::kEthertypeHigh;
    frame[sink::kEthertypeAt + 1] = sink::kEthertypeLow;
    frame[sink::kTypeAt] = sink::kData;
    for (std::size_t i = 0; i < 4; ++i)
      frame[sink::kValueAt + i] = static_cast<std::uint8_t>(sequence >> (8 * i));
    for (std::size_t k = sink::kHeaderBytes; k < frame.size(); ++k)
      frame[k] = static_cast<std::uint8_t>(sequence * sink::kPatternStep + k);
  }

  void run() {
    std::vector<std::uint8_t> frame;
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return stopping_ || sink_mac_.has_value(); });
    unsigned resends_in_a_row = 0;
    while (!stopping_ && counters_.acknowledged < sink::kFrames) {
      const std::uint32_t first = counters_.acknowledged;
      const std::uint32_t end = std::min(first + sink::kWindow, sink::kFrames);
      const hw::MacAddress to = *sink_mac_;
      counters_.data_sent += end - first;
      lock.unlock();
      for (std::uint32_t sequence = first; sequence < end; ++sequence) {
        build_data(frame, to, sequence);
        port_->deliver(frame);
      }
      lock.lock();
      if (changed_.wait_for(lock, kAckTimeout,
                            [&] { return stopping_ || counters_.acknowledged >= end; })) {
        resends_in_a_row = 0;
        continue;
      }
      ++counters_.resends;
      if (++resends_in_a_row > kMaxResendsPerWindow) {
        counters_.gave_up = true;
        break;
      }
    }
  }

  net::Hub& hub_;
  net::HubPort* port_ = nullptr;
  mutable std::mutex mutex_;  // guards everything below but the thread
  std::condition_variable changed_;
  std::optional<hw::MacAddress> sink_mac_;
  Counters counters_;
  bool stopping_ = false;
  std::thread thread_;
};

// pair: the first guest exchanges with a second guest of another image on
// the same card (vpio loops their frames round).
enum class Traffic { transmit, receive, echo, pair };

struct Workload {
  const char* name;
  const char* image;
  Traffic traffic;
  unsigned guests;
  const char* partner = nullptr;  // pair: the second guest's image
};

struct Measurement {
  std::string workload;
  std::string card = "chip";
  NicMode mode = NicMode::emulate;
  bool posted = false;  // data-port writes went through the coalesced ring
  unsigned guests = 0;
  std::uint64_t frames = 0;
  std::uint64_t port_accesses = 0;  // all of the guests' port accesses
  std::uint64_t nic_accesses = 0;   // of which to the NE2000 window
  std::uint64_t exits = 0;          // KVM exits to userspace
  std::uint64_t hooked = 0;
  std::uint64_t coalesced = 0;  // port accesses posted without an exit
  std::optional<dmm::Report> monitor;  // the card's counts (vpio)
  double seconds = 0;
};

const char* mode_name(NicMode mode) {
  switch (mode) {
    case NicMode::emulate: return "emulate";
    case NicMode::passthrough: return "passthrough";
    case NicMode::vpio: return "vpio";
  }
  return "?";
}

// Boots `w.guests` guests of `w.image`, each with a card in `mode` (vpio:
// all sharing one), with the workload's other end on the hub. Returns
// nullopt, after printing why and the guests' consoles, when a guest fails.
// Warnings (resends, counts that disagree) go to `notes`.
// A number the guest printed after `marker` (its own count), or 0.
std::uint64_t printed_count(const std::string& console, const std::string& marker) {
  const std::size_t at = console.find(marker);
  return at == std::string::npos ? 0 : std::stoull(console.substr(at + marker.size()));
}

// A row of the table: one workload in one mode on one card.
struct Row {
  Workload workload;
  NicMode mode;
  std::string card;
  bool coalesced_pio;
  std::string label() const {
    return std::string(workload.name) + " / " + mode_name(mode) + " / " + card +
           (coalesced_pio ? " / posted" : " / exits");
  }
};

std::optional<Measurement> measure(const Kvm& kvm, const Row& row, RowProgress& progress,
                                   std::vector<std::string>& notes) {
  const Workload& w = row.workload;
  const NicMode mode = row.mode;
  const std::string& card = row.card;
  const bool coalesced_pio = row.coalesced_pio;
  const std::string label = row.label();
  std::ostringstream console_text;
  ConsoleSink console(console_text, w.guests > 1);
  net::FrameQueue tx_sink(kTxSinkCapacity);  // declared first: outlives the hub it joins
  Network network;
  std::vector<std::unique_ptr<Machine>> machines;
  std::vector<hw::MacAddress> macs;
  std::vector<const PortCounters*> windows;  // passthrough and vpio
  dmm::Monitor* monitor = nullptr;
  for (unsigned i = 0; i < w.guests; ++i) {
    MachineConfig config;
    const char* image = i == 1 && w.partner != nullptr ? w.partner : w.image;
    config.name = std::string(image) + "#" + std::to_string(i);
    config.image =
        read_image(std::string(VPIO_BUILD_DIR) + "/guests/" + image + ".img", kDefaultRamBytes);
    config.coalesced_pio = coalesced_pio;
    machines.push_back(std::make_unique<Machine>(kvm, std::move(config), &console));
    Machine& machine = *machines.back();
    macs.push_back(default_mac(i));
    NicSpec spec;
    spec.mode = mode;
    spec.hw = card;
    switch (mode) {
      case NicMode::emulate: network.attach_emulated(machine, spec, macs.back()); break;
      case NicMode::passthrough:
        windows.push_back(
            &network.attach_passthrough(machine, spec, macs.back()).window().counters());
        break;
      case NicMode::vpio: {
        VpioNic& nic = network.attach_vpio(machine, spec, macs.back(), w.guests);
        windows.push_back(&nic.share->window().counters());
        monitor = nic.monitor;
        break;
      }
    }
  }
  std::unique_ptr<SinkFeeder> feeder;
  std::unique_ptr<test::NetEchoEndpoint> endpoint;
  switch (w.traffic) {
    case Traffic::transmit: network.hub().attach(tx_sink, "tx-sink"); break;
    case Traffic::receive: feeder = std::make_unique<SinkFeeder>(network.hub()); break;
    case Traffic::echo:
      endpoint = std::make_unique<test::NetEchoEndpoint>(network.hub(), kEndpointMac, macs);
      break;
    case Traffic::pair: break;
  }

  const auto start = Clock::now();
  const auto outcomes = run_concurrently(machines, kRunDeadline);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  // The order of tests/kvm/test_vpio.cpp: the traffic's other end, then the
  // monitors' threads, then the counters; everything goes at scope exit.
  if (feeder) feeder->stop();
  if (endpoint) endpoint->stop();
  network.stop_monitors();

  bool ok = true;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes[i].ok()) continue;
    ok = false;
    progress.erase();
    std::fprintf(stderr, "%s: %s: %s\n%s\n", label.c_str(), machines[i]->name().c_str(),
                 outcomes[i].detail.c_str(), machines[i]->console_transcript().c_str());
  }
  if (!ok) return std::nullopt;

  Measurement m;
  m.workload = w.name;
  m.card = card == "chip" ? "chip" : "QEMU ne2k";
  m.mode = mode;
  m.guests = w.guests;
  m.seconds = seconds;
  m.posted = coalesced_pio && machines.front()->posts_writes();
  switch (w.traffic) {
    case Traffic::transmit:
      // A real card's wire is not the hub: count what the guest saw sent.
      m.frames = card == "chip" ? tx_sink.accepted()
                                : printed_count(machines[0]->console_transcript(), "blast: sent ");
      break;
    case Traffic::pair:
      m.frames = kFramesPerExchange * printed_count(machines[0]->console_transcript(), "echoed ");
      break;
    case Traffic::receive: {
      const SinkFeeder::Counters fed = feeder->counters();
      m.frames = fed.acknowledged;
      notes.push_back(label + ": the feeder sent " + std::to_string(fed.resends) +
                      " windows again (" + std::to_string(fed.data_sent) + " DATA sent for " +
                      std::to_string(fed.acknowledged) + " acknowledged)");
      break;
    }
    case Traffic::echo: {
      const test::EndpointCounters echoed = endpoint->counters();
      for (const hw::MacAddress& mac : macs)
        m.frames += kFramesPerExchange * echoed.peer(mac).data_intact;
      break;
    }
  }
  for (std::size_t i = 0; i < machines.size(); ++i) {
    const Machine& machine = *machines[i];
    const ExitCounters& c = machine.counters();
    const std::uint64_t ports = c.port_accesses.load();
    const std::uint64_t not_nic = machine.console_transcript().size() + kExitPortAccesses;
    const std::uint64_t nic = ports > not_nic ? ports - not_nic : 0;
    m.port_accesses += ports;
    m.exits += c.userspace_exits.load();
    m.coalesced += c.coalesced_accesses.load();
    m.nic_accesses += nic;
    if (c.unclaimed_accesses.load() != 0)
      notes.push_back("warning: " + label + ": " + machine.name() + " made " +
                      std::to_string(c.unclaimed_accesses.load()) +
                      " accesses to ports nothing serves (counted as NIC accesses)");
    if (i < windows.size()) {
      m.hooked += windows[i]->total(IoPath::hooked);
      if (windows[i]->total() != nic)
        notes.push_back("warning: " + label + ": " + machine.name() + ": the NIC window counted " +
                        std::to_string(windows[i]->total()) + " accesses, port accesses less " +
                        "console and exit give " + std::to_string(nic));
    }
  }
  if (monitor != nullptr) m.monitor = monitor->report();
  return m;
}

std::string hooked_fraction(const Measurement& m) {
  char text[64];
  if (m.mode == NicMode::emulate) return "0 (all emulated)";
  if (m.hooked == 0 || m.nic_accesses == 0) return "0 (0%)";
  const double share = static_cast<double>(m.hooked) / static_cast<double>(m.nic_accesses);
  std::snprintf(text, sizeof text, "1 in %.1f (%.1f%%)", 1 / share, 100 * share);
  return text;
}

void print_row(const Measurement& m) {
  const double frames = static_cast<double>(m.frames);
  char switches[32] = "-", per_second[32] = "-", ns_each[32] = "-";
  if (m.monitor) {
    const std::uint64_t n = m.monitor->count("context_switches");
    std::snprintf(switches, sizeof switches, "%llu", static_cast<unsigned long long>(n));
    std::snprintf(per_second, sizeof per_second, "%.1f", static_cast<double>(n) / m.seconds);
    if (n != 0)
      std::snprintf(
          ns_each, sizeof ns_each, "%.0f",
          static_cast<double>(m.monitor->count("switch_nanoseconds")) / static_cast<double>(n));
  }
  std::printf(
      "| %-9s | %-9s | %-11s | %-6s | %6u | %6llu | %13llu | %12llu | %9llu | %9llu | %9llu | "
      "%-20s | %11.1f | %9.3f | %8s | %10s | %9s | %7.2f |\n",
      m.workload.c_str(), m.card.c_str(), mode_name(m.mode), m.posted ? "posted" : "exits",
      m.guests, static_cast<unsigned long long>(m.frames),
      static_cast<unsigned long long>(m.port_accesses),
      static_cast<unsigned long long>(m.nic_accesses), static_cast<unsigned long long>(m.exits),
      static_cast<unsigned long long>(m.coalesced), static_cast<unsigned long long>(m.hooked),
      hooked_fraction(m).c_str(), frames > 0 ? static_cast<double>(m.exits) / frames : 0.0,
      frames > 0 ? 1000 * m.seconds / frames : 0.0, switches, per_second, ns_each, m.seconds);
}

// The real card is checked before any row runs: the chip rows alone take
// minutes, and a card out of reach would otherwise fail only after them.
void check_real_card(const std::string& hw_name, std::uint16_t base) {
  char hint[256];
  std::snprintf(hint, sizeof hint,
                "; for QEMU's NE2000 in the KVM lab run VPIO_LAB_NIC=ne2k-isa,iobase=0x%x "
                "lab/on-kvm build/benchmarks/bench_nic_modes --real-card %s",
                unsigned{base}, hw_name.c_str());
  if (const auto error = host_card_access_error(base, devices::Ne2000::kWindowPorts))
    throw std::invalid_argument("--real-card " + hw_name +
                                ": this process cannot reach the host's ports: " + *error + hint);
  try {
    hw::SystemPorts ports;
    devices::PortIoCard card(ports, base);  // probes it: answers, resets, has an NE2000 PROM
  } catch (const std::exception& e) {
    throw std::invalid_argument("--real-card " + hw_name + ": " + e.what() + hint);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string real_card;
  bool real_card_only = false;
  std::string pio = "both";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--pio" && i + 1 < argc && (std::string(argv[i + 1]) == "posted" ||
                                           std::string(argv[i + 1]) == "exits")) {
      pio = argv[++i];
    } else if (arg == "--real-card" && i + 1 < argc) {
      real_card = argv[++i];
    } else if (arg == "--real-card-only") {
      real_card_only = true;
    } else {
      std::fprintf(stderr,
                   "usage: bench_nic_modes [--pio posted|exits] [--real-card port:BASE "
                   "[--real-card-only]]\n");
      return 2;
    }
  }
  try {
    if (!real_card.empty()) {
      const NicSpec spec = parse_nic_spec("vpio,hw=" + real_card);
      const auto base = host_card_base(spec);
      if (!base)
        throw std::invalid_argument("--real-card wants port:BASE, not '" + real_card + "'");
      real_card = spec.hw;
      check_real_card(real_card, *base);
    } else if (real_card_only) {
      throw std::invalid_argument("--real-card-only needs --real-card port:BASE");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_nic_modes: %s\n", e.what());
    return 2;
  }
  try {
    Kvm kvm;
    constexpr NicMode kAllModes[] = {NicMode::emulate, NicMode::passthrough, NicMode::vpio};
    constexpr NicMode kSharingModes[] = {NicMode::emulate, NicMode::vpio};
    const Workload single[] = {
        {"tx 1514", "net_blast_1514", Traffic::transmit, 1},
        {"tx 64", "net_blast_64", Traffic::transmit, 1},
        {"rx 1514", "net_sink", Traffic::receive, 1},
        {"mixed", "net_sender", Traffic::echo, 1},
    };
    // Passthrough gives a card to one guest only: two guests, two cards in
    // emulate mode, one shared card in vpio mode.
    const Workload shared{"mixed x2", "net_sender", Traffic::echo, 2};
    // Two guests exchanging through one shared card: no station on the wire.
    const Workload pair{"pair", "net_sender_500", Traffic::pair, 2, "net_echo"};

    // Every row is planned first, so each can say which of how many it is.
    std::vector<Row> plan;
    auto run = [&](const Workload& w, NicMode mode, const std::string& card = "chip") {
      for (const bool coalesced_pio : {false, true}) {
        if ((coalesced_pio && pio == "exits") || (!coalesced_pio && pio == "posted")) continue;
        plan.push_back({w, mode, card, coalesced_pio});
      }
    };
    if (!real_card_only) {
      for (const Workload& w : single)
        for (NicMode mode : kAllModes) run(w, mode);
      for (NicMode mode : kSharingModes) run(shared, mode);
    }
    run(pair, NicMode::vpio);
    if (!real_card.empty()) {
      for (const Workload& w : {single[0], single[1]})
        for (NicMode mode : {NicMode::passthrough, NicMode::vpio}) run(w, mode, real_card);
      run(pair, NicMode::vpio, real_card);
    }
    std::vector<Measurement> rows;
    std::vector<std::string> notes;
    int failed = 0;
    for (std::size_t i = 0; i < plan.size(); ++i) {
      RowProgress progress("bench_nic_modes", static_cast<unsigned>(i + 1),
                           static_cast<unsigned>(plan.size()), plan[i].label());
      if (auto m = measure(kvm, plan[i], progress, notes))
        rows.push_back(std::move(*m));
      else
        ++failed;
    }

    std::printf("NE2000 in three modes: one run, whole guest runs incl. probe and init\n\n");
    std::printf(
        "| workload  | card      | mode        | PIO    | guests | frames | port accesses | "
        "NIC accesses | KVM exits | coalesced |    hooked | hooked fraction      | exits/frame | "
        "ms/frame | switches | switches/s | ns/switch | seconds |\n");
    std::printf(
        "|-----------|-----------|-------------|--------|-------:|-------:|--------------:|"
        "-------------:|----------:|----------:|----------:|----------------------|------------:|"
        "---------:|---------:|-----------:|----------:|--------:|\n");
    for (const Measurement& m : rows) print_row(m);
    std::printf(
        "\n- frames: tx, frames the sink on the wire took (on the real card, frames the guest "
        "saw sent: QEMU's wire is outside the benchmark); rx, frames net_sink acknowledged; "
        "mixed and pair, DATA + ECHO (2 per exchange, per sender).\n"
        "- card: chip is vpio's own chip on an in-process hub; QEMU ne2k is QEMU's NE2000 in "
        "the lab reached by port I/O (hw=port), its interrupt polled.\n"
        "- port accesses: every port access of the guests (each element of a string op), "
        "console bytes (port 0xE9) and the exit-port write included; NIC accesses leave those "
        "out (port accesses - console bytes - 1 per guest), checked against the card window's "
        "own counters in passthrough and vpio.\n"
        "- hooked fraction: hooked / NIC accesses. emulate hooks nothing because it emulates "
        "everything: every NIC access is trapped into the VMM's chip model (hooked 0, emulated = "
        "NIC accesses). passthrough: every NIC access direct. Direct accesses still exit to the "
        "VMM (KVM traps every port) but reach the card without model code.\n"
        "- switches: the vpio monitor's context switches of the card between guests (the first "
        "load of a guest's context counts); ns/switch is the time spent writing a context to "
        "the card.\n"
        "- PIO: exits, every data-port write exits to the VMM; posted, the data port's writes "
        "go to KVM's coalesced ring while they need no answer (always for the emulated card, "
        "while the model leaves the port direct in passthrough and vpio) and reach the card, in "
        "order, before the guest's next exit is handled. coalesced: port accesses that made no "
        "exit of their own. ms/frame: seconds / frames, whole run.\n");
    for (const std::string& note : notes) std::printf("- %s\n", note.c_str());
    if (failed != 0) std::printf("- %d runs failed (see stderr): their rows are missing\n", failed);
    return failed == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_nic_modes: %s\n", e.what());
    return 1;
  }
}

// What `vpio profile` costs a whole run on real KVM: the same guest (an
// emulated NE2000 transmitting 64-byte frames, nearly all of its time in port
// I/O exits) run alternately without and with MachineConfig::profile. Prints
// exits, seconds and nanoseconds per exit for each run and the ratio of the
// medians. The exit counts are exact and equal in both columns; the times are
// the lab's (inflated) but measured in one run, so their ratio holds.
//   lab/on-kvm build/benchmarks/bench_profile_overhead [runs]
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "app/launcher.hpp"
#include "app/nic.hpp"
#include "app/progress.hpp"
#include "net/frame_queue.hpp"
#include "profile/exit_profiler.hpp"

namespace {

using namespace vpio;

struct Sample {
  std::uint64_t exits = 0;
  double seconds = 0;
  double ns_per_exit() const { return seconds * 1e9 / static_cast<double>(exits); }
};

Sample run_once(const Kvm& kvm, bool profile) {
  std::ostringstream console_text;
  ConsoleSink console(console_text, false);
  MachineConfig config;
  config.name = "blast";
  if (profile) config.observer = std::make_shared<ExitProfiler>();
  config.image =
      read_image(std::string(VPIO_BUILD_DIR) + "/guests/net_blast_64.img", kDefaultRamBytes);
  Network network;
  net::FrameQueue sink(1u << 16);
  network.hub().attach(sink, "sink");
  Machine machine(kvm, std::move(config), &console);
  network.attach_emulated(machine, NicSpec{}, default_mac(0));
  const auto start = std::chrono::steady_clock::now();
  const auto outcome = run_concurrently(std::vector<Machine*>{&machine}, std::chrono::minutes(20));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!outcome.front().ok())
    throw std::runtime_error("net_blast_64: " + outcome.front().detail + "\n" + console_text.str());
  return {machine.counters().userspace_exits.load(), seconds};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// RUNS as a whole number in 1..100, or nullopt.
std::optional<int> parse_runs(const char* text) {
  int runs = 0;
  const char* end = text + std::strlen(text);
  const auto [ptr, error] = std::from_chars(text, end, runs);
  if (error != std::errc() || ptr != end || runs < 1 || runs > 100) return std::nullopt;
  return runs;
}

}  // namespace

int main(int argc, char** argv) {
  // Checked before the first run: each costs seconds on KVM, minutes in the lab.
  int runs = 3;
  if (argc > 1) {
    const auto parsed = argc == 2 ? parse_runs(argv[1]) : std::nullopt;
    if (!parsed) {
      std::fprintf(stderr,
                   "bench_profile_overhead: bad arguments (usage: bench_profile_overhead [RUNS], "
                   "RUNS a whole number 1..100, default 3)\n");
      return 2;
    }
    runs = *parsed;
  }
  try {
    Kvm kvm;
    std::printf("net_blast_64 on an emulated NE2000, %d runs each, alternating\n", runs);
    std::printf("| run | profile | exits | seconds | ns/exit |\n");
    std::printf("|----:|:-------:|------:|--------:|--------:|\n");
    std::vector<double> plain, profiled;
    for (int i = 0; i < runs; ++i)
      for (bool profile : {false, true}) {
        Sample s;
        {
          const unsigned row = static_cast<unsigned>(2 * i + (profile ? 2 : 1));
          const RowProgress progress("bench_profile_overhead", row, static_cast<unsigned>(2 * runs),
                                     std::string("run ") + std::to_string(i + 1) + ", profile " +
                                         (profile ? "on" : "off"));
          s = run_once(kvm, profile);
        }
        (profile ? profiled : plain).push_back(s.ns_per_exit());
        std::printf("| %d | %s | %" PRIu64 " | %.2f | %.0f |\n", i + 1, profile ? "on" : "off",
                    s.exits, s.seconds, s.ns_per_exit());
        std::fflush(stdout);
      }
    const double off = median(plain), on = median(profiled);
    std::printf("median ns/exit: off %.0f, on %.0f; profile adds %.0f ns per exit (%.1f%%)\n", off,
                on, on - off, 100.0 * (on - off) / off);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_profile_overhead: %s\n", e.what());
    return 1;
  }
}

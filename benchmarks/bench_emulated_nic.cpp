// Emulated NE2000 transmit cost on real KVM: a guest sends frames through its
// own emulated card to a sink on the hub. Prints one table: frames per second,
// KVM exits, I/O exits and port accesses per frame, for 64- and 1514-byte
// frames. Run it on KVM: lab/on-kvm build/benchmarks/bench_emulated_nic
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>

#include "app/launcher.hpp"
#include "app/nic.hpp"
#include "app/progress.hpp"
#include "net/frame_queue.hpp"

namespace {

using namespace vpio;

struct Workload {
  const char* image;
  unsigned frame_bytes;
};

// The table line of one workload, or nullopt after saying on stderr why not.
std::optional<std::string> run_workload(const Kvm& kvm, const Workload& w, RowProgress& progress) {
  std::ostringstream console_text;
  ConsoleSink console(console_text, false);
  MachineConfig config;
  config.name = "blast";
  config.image = read_image(std::string(VPIO_BUILD_DIR) + "/guests/" + w.image, kDefaultRamBytes);
  Network network;
  net::FrameQueue sink(1u << 16);
  network.hub().attach(sink, "sink");
  Machine machine(kvm, std::move(config), &console);
  network.attach_emulated(machine, NicSpec{}, default_mac(0));

  auto start = std::chrono::steady_clock::now();
  auto outcome = run_concurrently(std::vector<Machine*>{&machine}, std::chrono::minutes(20));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!outcome.front().ok()) {
    progress.erase();
    std::fprintf(stderr, "%s: %s\n%s", w.image, outcome.front().detail.c_str(),
                 console_text.str().c_str());
    return std::nullopt;
  }
  const auto& c = machine.counters();
  const double frames = static_cast<double>(sink.accepted());
  char row[160];
  std::snprintf(row, sizeof row, "| %5u | %6.0f | %8.1f | %9.1f | %8.2f | %8.2f | %9.2f |\n",
                w.frame_bytes, frames, seconds, frames / seconds,
                static_cast<double>(c.userspace_exits) / frames,
                static_cast<double>(c.by_reason[KVM_EXIT_IO]) / frames,
                static_cast<double>(c.port_accesses) / frames);
  return row;
}

}  // namespace

int main(int argc, char**) {
  if (argc > 1) {
    std::fprintf(stderr, "bench_emulated_nic: takes no arguments\n");
    return 2;
  }
  try {
    Kvm kvm;
    std::printf("Emulated NE2000, transmit only (whole guest run incl. probe and init)\n");
    std::printf("| bytes | frames | seconds | frames/s | exits/fr | io-ex/fr | ports/fr |\n");
    std::printf("|------:|-------:|--------:|---------:|---------:|---------:|---------:|\n");
    int status = 0;
    const Workload workloads[] = {{"net_blast_64.img", 64}, {"net_blast_1514.img", 1514}};
    for (std::size_t i = 0; i < std::size(workloads); ++i) {
      std::optional<std::string> row;
      {
        RowProgress progress("bench_emulated_nic", static_cast<unsigned>(i + 1),
                             static_cast<unsigned>(std::size(workloads)), workloads[i].image);
        row = run_workload(kvm, workloads[i], progress);
      }
      if (row)
        std::fputs(row->c_str(), stdout);
      else
        status = 1;
      std::fflush(stdout);
    }
    return status;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_emulated_nic: %s\n", e.what());
    return 1;
  }
}

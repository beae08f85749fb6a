// The cost of counting one exit, host-side: the cheap ExitCounters every run
// keeps, against ExitProfile::record (what `vpio profile` adds) on an NE2000
// driver's pattern of ports and sites, with and without the two clock reads
// that time each exit. Time per iteration is nanoseconds per counted exit.
//   build/benchmarks/bench_exit_profile
#include <benchmark/benchmark.h>
#include <linux/kvm.h>

#include <chrono>
#include <vector>

#include "profile/exit_profile.hpp"
#include "vmm/machine.hpp"

namespace {

using namespace vpio;

// A transmit loop's exits: 16 sites over the NE2000 window, mostly direct,
// the command and interrupt registers hooked, and the data port by rep outsw.
std::vector<ExitEvent> ne2000_pattern() {
  std::vector<ExitEvent> events;
  for (unsigned i = 0; i < 16; ++i) {
    ExitEvent e;
    e.reason = KVM_EXIT_IO;
    e.rip = 0x100400 + i * 7;
    e.address = 0x300 + (i == 15 ? 0x10 : i);
    e.write = i % 3 != 0;
    e.path = i == 0 || i == 7 ? ExitPath::hooked : ExitPath::direct;
    e.amount = 1;
    e.ns = 400 + i * 90;
    events.push_back(e);
  }
  return events;
}

void BM_ExitCounters(benchmark::State& state) {
  ExitCounters counters;
  const auto events = ne2000_pattern();
  std::size_t i = 0;
  for (auto _ : state) {
    const ExitEvent& e = events[i++ % events.size()];
    counters.userspace_exits.fetch_add(1, std::memory_order_relaxed);
    counters.by_reason[e.reason % ExitCounters::kReasons].fetch_add(1, std::memory_order_relaxed);
    counters.port_accesses.fetch_add(e.amount, std::memory_order_relaxed);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ExitCounters);

void BM_ExitProfileRecord(benchmark::State& state) {
  ExitProfile profile;
  const auto events = ne2000_pattern();
  std::size_t i = 0;
  for (auto _ : state) {
    SiteTotals* site = profile.record(events[i++ % events.size()]);
    benchmark::DoNotOptimize(site);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ExitProfileRecord);

// What the exit loop adds per exit when profiling: the clock at KVM_RUN's
// return and after handling, and the record.
void BM_ExitProfileTimedRecord(benchmark::State& state) {
  ExitProfile profile;
  auto events = ne2000_pattern();
  std::size_t i = 0;
  for (auto _ : state) {
    const auto exited_at = std::chrono::steady_clock::now();
    ExitEvent& e = events[i++ % events.size()];
    e.ns = static_cast<std::uint64_t>((std::chrono::steady_clock::now() - exited_at).count());
    SiteTotals* site = profile.record(e);
    benchmark::DoNotOptimize(site);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ExitProfileTimedRecord);

// A guest that spreads its exits over many sites and ports (a worst case for
// the hash tables): 4096 sites over 256 ports.
void BM_ExitProfileRecordManySites(benchmark::State& state) {
  ExitProfile profile;
  std::vector<ExitEvent> events(4096);
  for (unsigned i = 0; i < events.size(); ++i) {
    events[i].reason = KVM_EXIT_IO;
    events[i].rip = 0x100000 + i * 13;
    events[i].address = 0x300 + i % 256;
    events[i].path = static_cast<ExitPath>(i % kExitPaths);
    events[i].amount = 1;
    events[i].ns = 100 + i;
  }
  std::size_t i = 0;
  for (auto _ : state) {
    SiteTotals* site = profile.record(events[i++ % events.size()]);
    benchmark::DoNotOptimize(site);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ExitProfileRecordManySites);

}  // namespace

BENCHMARK_MAIN();

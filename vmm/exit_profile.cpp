// Counting one exit into the profile: a few array adds and up to three hash
// lookups (benchmarks/bench_exit_profile.cpp measures it).
#include "vmm/exit_profile.hpp"

#include <linux/kvm.h>

namespace vpio {

const char* exit_path_name(ExitPath path) noexcept {
  switch (path) {
    case ExitPath::direct: return "direct";
    case ExitPath::hooked: return "hooked";
    case ExitPath::emulated: return "emulated";
    case ExitPath::unclaimed: return "unclaimed";
  }
  return "unknown";
}

ExitProfile::ExitProfile() {
  // Typical guests touch a few dozen ports and sites: no rehash on the way.
  ports_.reserve(256);
  sites_.reserve(256);
}

SiteTotals* ExitProfile::record(const ExitEvent& event) noexcept {
  ++exits_;
  handling_ns_ += event.ns;
  const bool io = event.reason == KVM_EXIT_IO, mmio = event.reason == KVM_EXIT_MMIO;
  by_reason_[event.reason % kReasons].add(io || mmio ? event.amount : 0, event.ns);
  if (io || mmio) {
    const auto path = static_cast<unsigned>(event.path) % kExitPaths;
    by_path_[path].add(event.amount, event.ns);
    histograms_[path].add(event.ns);
  }
  if (!io && !mmio && event.reason != KVM_EXIT_HLT) return nullptr;
  try {
    if (io || mmio)
      (io ? ports_ : mmio_)[key(event.address, event.write, event.path)].add(event.amount,
                                                                             event.ns);
    auto [it, fresh] = sites_.try_emplace(event.rip);
    SiteTotals& site = it->second;
    if (fresh) site.reason = event.reason;
    site.totals.add(io || mmio ? event.amount : 0, event.ns);
    if (io || mmio) ++site.exits_by_path[static_cast<unsigned>(event.path) % kExitPaths];
    return &site;
  } catch (...) {
    ++lost_rows_;
    return nullptr;
  }
}

}  // namespace vpio

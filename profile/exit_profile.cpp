// Counting one exit into the profile: a few array adds and up to three hash
// lookups (benchmarks/bench_exit_profile.cpp measures it).
#include "profile/exit_profile.hpp"

#include <linux/kvm.h>

namespace vpio {

const char* exit_path_name(ExitPath path) noexcept {
  switch (path) {
    case ExitPath::direct: return "direct";
    case ExitPath::hooked: return "hooked";
    case ExitPath::emulated: return "emulated";
    case ExitPath::unclaimed: return "unclaimed";
    case ExitPath::coalesced: return "coalesced";
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
  bool lost = false;
  try {
    if (io || mmio) {
      auto& table = io ? ports_ : mmio_;
      const std::uint64_t k = key(event.address, event.write, event.path);
      auto row = table.find(k);
      if (row == table.end() && table.size() < kMaxRows) row = table.emplace(k, Totals{}).first;
      if (row != table.end())
        row->second.add(event.amount, event.ns);
      else
        lost = true;
    }
    const SiteKey site_key{event.rip, event.reason, event.write};
    auto it = sites_.find(site_key);
    if (it == sites_.end()) {
      if (sites_.size() >= kMaxRows) {
        ++lost_rows_;
        return nullptr;
      }
      it = sites_.try_emplace(site_key).first;
      it->second.reason = event.reason;
    }
    SiteTotals& site = it->second;
    site.totals.add(io || mmio ? event.amount : 0, event.ns);
    if (io || mmio) ++site.exits_by_path[static_cast<unsigned>(event.path) % kExitPaths];
    if (lost) ++lost_rows_;
    return &site;
  } catch (...) {
    ++lost_rows_;
    return nullptr;
  }
}

void ExitProfile::record_posted(std::uint16_t port, ExitPath path,
                                std::uint64_t accesses) noexcept {
  posted_accesses_ += accesses;
  by_path_[static_cast<unsigned>(path) % kExitPaths].amount += accesses;
  try {
    const std::uint64_t k = key(port, true, path);
    auto row = ports_.find(k);
    if (row == ports_.end() && ports_.size() < kMaxRows) row = ports_.emplace(k, Totals{}).first;
    if (row != ports_.end())
      row->second.amount += accesses;
    else
      ++lost_rows_;
  } catch (...) {
    ++lost_rows_;
  }
}

}  // namespace vpio

// Turning ExitProfiles into the profile document, and setting vpio's counts
// beside KVM's with the flavours each rule was measured on.
#include "app/profile_json.hpp"

#include <linux/kvm.h>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdio>
#include <functional>
#include <map>
#include <span>
#include <string_view>
#include <tuple>

#include "app/run_stats.hpp"
#include "profile/disassembler.hpp"
#include "profile/io_site.hpp"

namespace vpio {
namespace {

using nlohmann::json;

std::string reason_name(unsigned reason) {
  std::string name = exit_reason_name(reason);
  return name == "other" ? name + "_" + std::to_string(reason) : name;
}

std::string with_count(std::uint64_t n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

// The rep string I/O sites (rep ins/outs), which KVM emulates. Measured on
// Linux 6.1 (tests/kvm/test_profile.cpp): every exit they make to vpio is one
// intercept, and each time one runs KVM intercepts it once more after its last
// element, finds the count done and steps past it without exiting to vpio.
struct StringIo {
  std::uint64_t sites = 0;
  std::uint64_t exits = 0;
  std::uint64_t runs = 0;  // that vpio saw end
};

// Where a comparison rule was measured: the vendor module it holds for, and
// how docs and rows name the measurement.
struct Measurement {
  std::string_view module;
  std::string_view where;
};
constexpr Measurement kSvmInTheLab{"kvm_amd", "kvm_amd 6.1 (lab)"};
// Every rule below was measured on kvm-amd 6.1 in the lab (tests/kvm); none
// yet on another flavour (docs/kvm-notes.md).
constexpr std::array<Measurement, 1> kMeasuredInTheLab = {kSvmInTheLab};

// One rule applied to one run: whether KVM's value is what the rule says, and
// the text for either case.
struct Verdict {
  bool holds = false;
  std::string why;   // what the rule says, and for a difference that holds, why
  std::string rule;  // the rule as stated when it does not hold
};

// The row for one KVM counter. A counter absent from the descriptors is not
// offered; one that stayed 0 while vpio saw such exits is not kept (PVM keeps
// no io_exits): neither is a mismatch, nor an agreement. A difference the
// rule does not explain is judged only on a flavour the rule was measured on.
json compared_row(const KvmStatsRecord& kvm, const KvmIdentity* identity, const char* kvm_name,
                  const std::string& vpio_name, std::uint64_t vpio_value,
                  const std::function<Verdict(std::uint64_t)>& rule,
                  std::span<const Measurement> measured_on = kMeasuredInTheLab) {
  json where = json::array();
  bool measured_here = false;
  for (const Measurement& m : measured_on) {
    where.push_back(std::string(m.where));
    measured_here = measured_here || (identity != nullptr && identity->module == m.module);
  }
  json row = {{"kvm", kvm_name},
              {"vpio", vpio_name},
              {"vpio_value", vpio_value},
              {"measured_on", where},
              {"measured_here", measured_here}};
  const auto it = kvm.counters.find(kvm_name);
  if (it == kvm.counters.end()) {
    row["status"] = kCompareNotOffered;
    row["explanation"] = std::string("This KVM's binary statistics have no cumulative counter ") +
                         kvm_name + ": not offered by this KVM, nothing to compare.";
    return row;
  }
  const std::uint64_t kvm_value = it->second;
  row["kvm_value"] = kvm_value;
  row["difference"] = static_cast<std::int64_t>(vpio_value - kvm_value);
  if (kvm_value == 0 && vpio_value > 0) {
    row["status"] = kCompareNotKept;
    row["explanation"] = std::string("KVM's ") + kvm_name + " stayed 0 while vpio counted " +
                         std::to_string(vpio_value) + " " + vpio_name +
                         ": not kept by this KVM, nothing to compare.";
    return row;
  }
  Verdict verdict = rule(kvm_value);
  if (verdict.holds) {
    row["status"] = kvm_value == vpio_value ? kCompareAgrees : kCompareExplained;
    row["explanation"] = std::move(verdict.why);
  } else if (measured_here) {
    row["status"] = kCompareUnexplained;
    row["explanation"] = std::move(verdict.rule) + ": not explained.";
  } else {
    std::string flavours;
    for (const json& w : where) flavours += (flavours.empty() ? "" : ", ") + w.get<std::string>();
    row["status"] = kCompareUnmeasured;
    row["explanation"] = "Differs; rule not measured on this KVM (" +
                         (identity != nullptr ? identity->flavour() : std::string("unknown")) +
                         "), only on " + flavours + ". " + std::move(verdict.rule) + ".";
  }
  return row;
}

// The rule of counters that must equal vpio's.
std::function<Verdict(std::uint64_t)> equal_to(std::uint64_t vpio_value, std::string why_equal) {
  return [vpio_value, why_equal = std::move(why_equal)](std::uint64_t kvm_value) {
    return Verdict{kvm_value == vpio_value, why_equal, "These should be equal (" + why_equal + ")"};
  };
}

json compare_with_kvm(const ExitProfile& profile, const StringIo& string_io,
                      const KvmIdentity* identity) {
  const KvmStatsRecord& kvm = profile.kvm_stats();
  json rows = json::array();
  const auto& reason = profile.by_reason();
  const std::uint64_t exits = profile.exits();
  rows.push_back(
      compared_row(kvm, identity, "exits", "exits to userspace", exits, [exits](std::uint64_t k) {
        return Verdict{k >= exits,
                       "KVM counts every exit from the guest, also the " +
                           std::to_string(k >= exits ? k - exits : 0) +
                           " it handled itself and never passed to vpio (nested "
                           "page faults, MSR and CPUID intercepts, host interrupts, "
                           "the last intercept of each rep string I/O run).",
                       "KVM should count at least every exit that reached vpio"};
      }));
  const std::uint64_t io = reason[KVM_EXIT_IO].exits;
  const std::uint64_t posted = profile.posted_accesses();
  if (posted > 0) {
    // Measured on kvm_amd 6.1 in the lab (tests/kvm/test_profile_cli.cpp):
    // KVM intercepts a posted `out`, and each rep run, then hands the
    // elements to its ring without an exit; a run whose last element went to
    // the ring ends where vpio cannot see it. So only bounds hold.
    const std::uint64_t lower = io + string_io.runs, upper = lower + posted;
    const std::string how =
        "With " + with_count(posted, "port write") +
        " posted to KVM's coalesced ring, KVM also intercepts each posted `out` and each rep "
        "string run, and a run whose last element was posted ends without an exit to vpio, "
        "which therefore sees only " +
        with_count(string_io.runs, "run") + " end. So KVM's count lies between io exits + " +
        "those runs (" + std::to_string(lower) + ") and that plus the posted writes (" +
        std::to_string(upper) + ")";
    rows.push_back(compared_row(kvm, identity, "io_exits", "io exits", io, [&](std::uint64_t k) {
      return Verdict{k >= lower && k <= upper, how + ": it does.",
                     how + ", but it is " + std::to_string(k)};
    }));
  } else if (string_io.sites == 0) {
    rows.push_back(
        compared_row(kvm, identity, "io_exits", "io exits", io,
                     equal_to(io, "every port access exits to vpio: no device is in the kernel")));
  } else {
    const std::string how =
        "KVM intercepts a rep string I/O instruction once more after its last element, finds "
        "its count done and steps past it without an exit to vpio: one intercept per run. " +
        with_count(string_io.sites, "rep string I/O site") + " made " +
        with_count(string_io.exits, "exit") + " in " + with_count(string_io.runs, "run") + " here";
    rows.push_back(compared_row(kvm, identity, "io_exits", "io exits", io, [&](std::uint64_t k) {
      return Verdict{k == io + string_io.runs, how + ", exactly KVM's excess.",
                     how + ", but KVM's count exceeds vpio's by " +
                         std::to_string(static_cast<std::int64_t>(k - io))};
    }));
  }
  rows.push_back(compared_row(kvm, identity, "halt_exits", "hlt exits", reason[KVM_EXIT_HLT].exits,
                              equal_to(reason[KVM_EXIT_HLT].exits,
                                       "without an in-kernel local APIC every hlt exits to vpio")));
  rows.push_back(
      compared_row(kvm, identity, "mmio_exits", "mmio exits", reason[KVM_EXIT_MMIO].exits,
                   equal_to(reason[KVM_EXIT_MMIO].exits,
                            "KVM passes every access to an address that is not RAM to vpio")));
  rows.push_back(
      compared_row(kvm, identity, "request_irq_exits", "irq_window_open exits",
                   reason[KVM_EXIT_IRQ_WINDOW_OPEN].exits,
                   equal_to(reason[KVM_EXIT_IRQ_WINDOW_OPEN].exits,
                            "KVM counts each interrupt window it reports to userspace")));
  rows.push_back(compared_row(
      kvm, identity, "signal_exits", "interrupted runs", profile.interrupted_runs(),
      equal_to(profile.interrupted_runs(), "each kick signal ends one KVM_RUN with EINTR")));
  return rows;
}

}  // namespace

json guest_profile_json(const GuestProfileSource& guest) {
  const ExitProfile& profile = *guest.profile;

  json by_reason = json::array();
  std::vector<unsigned> reasons;
  for (unsigned r = 0; r < ExitProfile::kReasons; ++r)
    if (profile.by_reason()[r].exits > 0) reasons.push_back(r);
  std::stable_sort(reasons.begin(), reasons.end(), [&](unsigned a, unsigned b) {
    return profile.by_reason()[a].exits > profile.by_reason()[b].exits;
  });
  for (unsigned r : reasons)
    by_reason.push_back({{"reason", reason_name(r)},
                         {"code", r},
                         {"exits", profile.by_reason()[r].exits},
                         {"ns", profile.by_reason()[r].ns}});

  // Rows sorted by address, then in/read before out/write, then path: the
  // key's own order.
  auto sorted = [](const std::unordered_map<std::uint64_t, Totals>& table) {
    std::vector<std::pair<std::uint64_t, Totals>> rows(table.begin(), table.end());
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return rows;
  };
  json ports = json::array();
  for (const auto& [key, t] : sorted(profile.ports())) {
    const auto port = static_cast<std::uint16_t>(ExitProfile::key_address(key));
    const PortRange* range = guest.ports != nullptr ? guest.ports->find(port) : nullptr;
    ports.push_back({{"port", port},
                     {"device", range != nullptr ? range->name : ""},
                     {"offset", range != nullptr ? port - range->base : 0},
                     {"direction", ExitProfile::key_write(key) ? "out" : "in"},
                     {"path", exit_path_name(ExitProfile::key_path(key))},
                     {"exits", t.exits},
                     {"accesses", t.amount},
                     {"ns", t.ns}});
  }
  json mmio = json::array();
  for (const auto& [key, t] : sorted(profile.mmio())) {
    const std::uint64_t address = ExitProfile::key_address(key);
    const MmioRange* range = guest.mmio != nullptr ? guest.mmio->find(address) : nullptr;
    mmio.push_back({{"address", address},
                    {"device", range != nullptr ? range->name : ""},
                    {"offset", range != nullptr ? address - range->base : 0},
                    {"direction", ExitProfile::key_write(key) ? "write" : "read"},
                    {"path", exit_path_name(ExitProfile::key_path(key))},
                    {"exits", t.exits},
                    {"bytes", t.amount},
                    {"ns", t.ns}});
  }

  json paths = json::array();
  for (unsigned p = 0; p < kExitPaths; ++p) {
    const Totals& t = profile.by_path()[p];
    // Posted writes make no exits: their row says how many accesses.
    if (t.exits == 0 && !(p == static_cast<unsigned>(ExitPath::coalesced) && t.amount > 0))
      continue;
    json histogram = json::array();
    const LatencyHistogram& h = profile.histograms()[p];
    for (unsigned k = 0; k < LatencyHistogram::kBuckets; ++k)
      if (h.exits[k] > 0)
        histogram.push_back({{"from_ns", LatencyHistogram::bucket_from(k)},
                             {"to_ns", LatencyHistogram::bucket_to(k)},
                             {"exits", h.exits[k]}});
    paths.push_back({{"path", exit_path_name(static_cast<ExitPath>(p))},
                     {"exits", t.exits},
                     {"accesses", t.amount},
                     {"ns", t.ns},
                     {"histogram", histogram}});
  }

  // One row per instruction: the rows of one rip (a read-modify-write's two
  // directions; a rep ins/outs whose last exit left rip past it) merge. A
  // store or an I/O exit vpio could not place stays apart.
  struct SiteRow {
    const SiteTotals* first = nullptr;
    Totals totals;
    std::array<std::uint64_t, kExitPaths> exits_by_path{};
    std::uint64_t rep_runs = 0;
    bool rep = false;
    std::array<bool, 2> io_rip{};  // exits seen with rip on / past the instruction
  };
  std::map<std::pair<std::uint64_t, bool>, SiteRow> merged;
  for (const auto& [key, site] : profile.sites()) {
    const std::uint64_t rip = site.bytes_read ? site.instruction_rip : key.rip;
    SiteRow& row = merged[{rip, site.store_unplaced || site.io_unplaced}];
    if (row.first == nullptr) row.first = &site;
    row.totals.exits += site.totals.exits;
    row.totals.amount += site.totals.amount;
    row.totals.ns += site.totals.ns;
    for (unsigned p = 0; p < kExitPaths; ++p) row.exits_by_path[p] += site.exits_by_path[p];
    row.rep_runs += site.rep_runs;
    row.rep = row.rep || site.rep_count_bytes != 0;
    if (site.reason == KVM_EXIT_IO && site.bytes_read && !site.io_unplaced)
      row.io_rip[static_cast<unsigned>(site.io_rip)] = true;
  }
  std::vector<std::pair<std::uint64_t, const SiteRow*>> site_rows;
  for (const auto& [where, row] : merged) site_rows.emplace_back(where.first, &row);
  std::stable_sort(site_rows.begin(), site_rows.end(), [](const auto& a, const auto& b) {
    return a.second->totals.exits > b.second->totals.exits;
  });

  const X86Disassembler disassembler;
  StringIo string_io;
  json sites = json::array();
  for (const auto& [rip, row] : site_rows) {
    const SiteTotals& site = *row->first;
    const std::span<const std::uint8_t> bytes(site.bytes.data(), site.length);
    std::string text = "(unreadable)";
    std::string shown;
    std::string overridden;  // capstone's text, where it misread a port I/O instruction
    if (!bytes.empty()) {
      const DecodedInstruction decoded = disassembler.decode(bytes, rip);
      text = decoded.text;
      shown = hex_bytes(bytes.first(decoded.valid ? decoded.length : bytes.size()));
      // A placed I/O site holds exactly one port I/O instruction, which
      // decode_port_io reads exactly; show capstone's text only where it
      // says the same.
      if (site.reason == KVM_EXIT_IO && !site.io_unplaced) {
        if (const auto insn = decode_port_io(bytes); insn && !disassembler_agrees(decoded, *insn)) {
          overridden = decoded.text;
          text = insn->text();
          shown = hex_bytes(bytes.first(insn->length));
        }
      }
    }
    // The exit loop decoded the site and marked a rep ins/outs.
    if (row->rep) {
      ++string_io.sites;
      string_io.exits += row->totals.exits;
      string_io.runs += row->rep_runs;
    }
    if (site.store_unplaced) text = "(after an MMIO store not found) " + text;
    if (site.io_unplaced) text = "(no instruction at or ending at rip makes this access) " + text;
    json by_path = json::object();
    for (unsigned p = 0; p < kExitPaths; ++p)
      if (row->exits_by_path[p] > 0)
        by_path[exit_path_name(static_cast<ExitPath>(p))] = row->exits_by_path[p];
    json entry = {{"rip", rip},
                  {"instruction", text},
                  {"bytes", shown},
                  {"reason", reason_name(site.reason)},
                  {"exits", row->totals.exits},
                  {"accesses", row->totals.amount},
                  {"ns", row->totals.ns},
                  {"paths", by_path}};
    if (row->rep) entry["rep_runs"] = row->rep_runs;
    if (site.reason == KVM_EXIT_IO) {
      const bool on = row->io_rip[static_cast<unsigned>(IoRip::on)];
      const bool past = row->io_rip[static_cast<unsigned>(IoRip::past)];
      entry["rip_at_exit"] = on && past ? "on and past" : past ? "past" : on ? "on" : "unplaced";
    }
    if (!overridden.empty()) entry["capstone_decode"] = overridden;
    sites.push_back(std::move(entry));
  }

  const KvmStatsRecord& kvm = profile.kvm_stats();
  json kvm_stats = {{"available", kvm.available}, {"error", kvm.error}};
  if (kvm.available) {
    kvm_stats["compared"] = compare_with_kvm(profile, string_io, guest.kvm);
    json counters = json::object();
    for (const auto& [name, value] : kvm.counters)
      if (value != 0) counters[name] = value;
    kvm_stats["kvm_counters"] = counters;
  }

  json out = {{"name", guest.name},
              {"outcome", outcome_name(guest.outcome.kind)},
              {"status", guest.outcome.status},
              {"run_ns", profile.run_ns()},
              {"exits", profile.exits()},
              {"handling_ns", profile.handling_ns()},
              {"interrupted_runs", profile.interrupted_runs()},
              {"by_reason", by_reason},
              {"ports", ports},
              {"mmio", mmio},
              {"paths", paths},
              {"sites", sites},
              {"kvm_stats", kvm_stats}};
  if (profile.lost_rows() > 0) out["lost_rows"] = profile.lost_rows();
  return out;
}

json profile_json(const std::vector<std::unique_ptr<Machine>>& machines,
                  const std::vector<std::shared_ptr<const ExitProfiler>>& profilers,
                  const std::vector<GuestOutcome>& outcomes) {
  json guests = json::array();
  for (std::size_t i = 0; i < machines.size() && i < profilers.size(); ++i) {
    const Machine& m = *machines[i];
    if (profilers[i] == nullptr) continue;
    guests.push_back(guest_profile_json({m.name(), outcomes.at(i), &profilers[i]->profile(),
                                         &m.ports(), &m.mmio(), &m.kvm_identity()}));
  }
  json out = {{"schema", kProfileSchema}};
  // One KVM serves every guest of a run.
  if (!machines.empty()) out["kvm"] = kvm_identity_json(machines.front()->kvm_identity());
  out["guests"] = guests;
  return out;
}

}  // namespace vpio

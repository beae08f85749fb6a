// The exit profile of one guest (`vpio profile`): every exit to userspace by
// reason, by port or MMIO address, direction and path, by guest instruction,
// with the time vpio spent on it. Filled by the guest's vCPU thread only when
// profiling; the default run keeps just the Machine's ExitCounters.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>

#include "hooks/port_bus.hpp"
#include "profile/io_site.hpp"

namespace vpio {

// How an I/O or MMIO exit was served. `unclaimed`: no device at the address.
// `coalesced`: port writes KVM posted to its coalesced ring, which reached
// their device with no exit of their own (rows of them count accesses, and 0
// exits).
enum class ExitPath : std::uint8_t { direct, hooked, emulated, unclaimed, coalesced };
inline constexpr unsigned kExitPaths = 5;
const char* exit_path_name(ExitPath path) noexcept;
constexpr ExitPath exit_path_of(IoPath path) noexcept {
  return path == IoPath::direct      ? ExitPath::direct
         : path == IoPath::hooked    ? ExitPath::hooked
         : path == IoPath::coalesced ? ExitPath::coalesced
                                     : ExitPath::emulated;
}

// Exits by the log2 of their handling time: bucket k holds [2^k, 2^(k+1)) ns
// (bucket 0 also holds 0 ns).
struct LatencyHistogram {
  static constexpr unsigned kBuckets = 64;
  std::array<std::uint64_t, kBuckets> exits{};

  static constexpr unsigned bucket_of(std::uint64_t ns) noexcept {
    return ns < 2 ? 0u : 63u - static_cast<unsigned>(__builtin_clzll(ns));
  }
  static constexpr std::uint64_t bucket_from(unsigned k) noexcept { return k == 0 ? 0 : 1ULL << k; }
  // The bucket's exclusive upper bound; the last bucket's is 2^64 - 1.
  static constexpr std::uint64_t bucket_to(unsigned k) noexcept {
    return k >= 63 ? ~0ULL : 1ULL << (k + 1);
  }
  void add(std::uint64_t ns) noexcept { ++exits[bucket_of(ns)]; }
};

// One exit as the exit loop saw it.
struct ExitEvent {
  std::uint32_t reason = 0;  // KVM_EXIT_*
  std::uint64_t rip = 0;     // the instruction that caused it (for hlt: the hlt itself)
  std::uint64_t ns = 0;      // from KVM_RUN's return to the exit handled
  // KVM_EXIT_IO and KVM_EXIT_MMIO only:
  ExitPath path = ExitPath::emulated;
  bool write = false;
  std::uint64_t address = 0;  // the port, or the MMIO guest-physical address
  std::uint32_t amount = 0;   // I/O: elements (port accesses); MMIO: bytes
};

struct Totals {
  std::uint64_t exits = 0;
  std::uint64_t amount = 0;  // accesses or bytes, where the row has them
  std::uint64_t ns = 0;
  void add(std::uint64_t amount_, std::uint64_t ns_) noexcept {
    ++exits;
    amount += amount_;
    ns += ns_;
  }
};

// An exit site: one guest instruction that exits.
struct SiteTotals {
  static constexpr unsigned kMaxInstructionBytes = 15;
  std::uint32_t reason = 0;  // of its first exit
  Totals totals;
  std::array<std::uint64_t, kExitPaths> exits_by_path{};
  // Read from guest memory when the site is first seen, by the exit loop.
  // For an MMIO write KVM has already stepped past the instruction: the site
  // is keyed by the address after it, and instruction_rip is the store's own.
  bool bytes_read = false;
  std::uint64_t instruction_rip = 0;
  std::uint8_t length = 0;  // 0: the address did not translate to RAM
  std::array<std::uint8_t, kMaxInstructionBytes> bytes{};
  // For a rep ins/outs: the bytes of its count register (rcx 8, ecx 4), and
  // the runs of it that ended (the exit that left no element to do), each of
  // which KVM intercepts once more without an exit to userspace.
  std::uint8_t rep_count_bytes = 0;
  std::uint64_t rep_runs = 0;
  // An MMIO write whose store could not be found before rip (one that moved
  // its own address register: stos, movs, push): the bytes are rip's.
  bool store_unplaced = false;
  // An I/O exit: whether its instruction was found at rip or ending at rip
  // (KVMs differ: docs/kvm-notes.md, fact 8), or neither made this access
  // (io_unplaced: the bytes are rip's).
  IoRip io_rip = IoRip::on;
  bool io_unplaced = false;
};

// Sites are the exits of one rip for one reason and direction: an MMIO write
// is keyed by the address after the store, where the next instruction may
// exit too, and a read-modify-write exits once each way.
struct SiteKey {
  std::uint64_t rip = 0;
  std::uint32_t reason = 0;
  bool write = false;
  bool operator==(const SiteKey&) const = default;
};
struct SiteKeyHash {
  std::size_t operator()(const SiteKey& k) const noexcept {
    return std::hash<std::uint64_t>{}(k.rip ^ (std::uint64_t{k.reason} << 57) ^
                                      (k.write ? 1ULL << 56 : 0));
  }
};

// KVM's own counters (KVM_GET_STATS_FD) over the run.
struct KvmStatsRecord {
  bool available = false;
  std::string error;                              // why not, when not
  std::map<std::string, std::uint64_t> counters;  // change of each cumulative counter
};

class ExitProfile {
 public:
  static constexpr unsigned kReasons = 64;
  // Keys of the port and MMIO tables.
  static constexpr std::uint64_t key(std::uint64_t address, bool write, ExitPath path) noexcept {
    return address << 4 | (write ? 8u : 0u) | static_cast<unsigned>(path);
  }
  static constexpr std::uint64_t key_address(std::uint64_t k) noexcept { return k >> 4; }
  static constexpr bool key_write(std::uint64_t k) noexcept { return (k & 8) != 0; }
  static constexpr ExitPath key_path(std::uint64_t k) noexcept {
    return static_cast<ExitPath>(k & 7);
  }

  // Rows kept per table; past them a hostile guest's exits still count by
  // reason and path, and in lost_rows().
  static constexpr std::size_t kMaxRows = 65536;

  ExitProfile();

  // Counts one exit. Returns its site when the reason has one (io, mmio, hlt)
  // so the caller can read the instruction the first time (bytes_read false);
  // nullptr otherwise, or when a new row could not be kept (then the exit is
  // still counted by reason and path, and in lost_rows()).
  SiteTotals* record(const ExitEvent& event) noexcept;
  void record_interrupted_run() noexcept { ++interrupted_runs_; }
  // Port writes that KVM posted and the machine handed on at an exit: counted
  // by port and path as accesses, with no exit. `path` is coalesced, or
  // hooked when the port was hooked again by the time they were handed on.
  void record_posted(std::uint16_t port, ExitPath path, std::uint64_t accesses) noexcept;
  void set_run_ns(std::uint64_t ns) noexcept { run_ns_ = ns; }
  KvmStatsRecord& kvm_stats() noexcept { return kvm_stats_; }

  std::uint64_t exits() const noexcept { return exits_; }
  std::uint64_t handling_ns() const noexcept { return handling_ns_; }
  std::uint64_t run_ns() const noexcept { return run_ns_; }
  std::uint64_t interrupted_runs() const noexcept { return interrupted_runs_; }
  // Port writes KVM posted without an exit (record_posted), whatever path.
  std::uint64_t posted_accesses() const noexcept { return posted_accesses_; }
  // Exits some row of which (port, MMIO or site) was not kept.
  std::uint64_t lost_rows() const noexcept { return lost_rows_; }
  const std::array<Totals, kReasons>& by_reason() const noexcept { return by_reason_; }
  const std::unordered_map<std::uint64_t, Totals>& ports() const noexcept { return ports_; }
  const std::unordered_map<std::uint64_t, Totals>& mmio() const noexcept { return mmio_; }
  const std::array<Totals, kExitPaths>& by_path() const noexcept { return by_path_; }
  const std::array<LatencyHistogram, kExitPaths>& histograms() const noexcept {
    return histograms_;
  }
  using Sites = std::unordered_map<SiteKey, SiteTotals, SiteKeyHash>;
  const Sites& sites() const noexcept { return sites_; }
  SiteTotals& site(const SiteKey& key) { return sites_.at(key); }
  const KvmStatsRecord& kvm_stats() const noexcept { return kvm_stats_; }

 private:
  std::uint64_t exits_ = 0, handling_ns_ = 0, run_ns_ = 0;
  std::uint64_t interrupted_runs_ = 0, lost_rows_ = 0, posted_accesses_ = 0;
  std::array<Totals, kReasons> by_reason_{};
  std::unordered_map<std::uint64_t, Totals> ports_;
  std::unordered_map<std::uint64_t, Totals> mmio_;
  std::array<Totals, kExitPaths> by_path_{};
  std::array<LatencyHistogram, kExitPaths> histograms_{};
  Sites sites_;
  KvmStatsRecord kvm_stats_;
};

}  // namespace vpio

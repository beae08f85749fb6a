// The exit profiler: an ExitObserver that fills one guest's ExitProfile.
// Each exit is counted by reason, address, path and site, with the time vpio
// spent on it; a new site's instruction is read from guest memory and placed
// (docs/profile.md); KVM's own counters are read around the run.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "kvm/kvm_stats.hpp"
#include "profile/disassembler.hpp"
#include "profile/exit_profile.hpp"
#include "profile/io_site.hpp"
#include "vmm/exit_observer.hpp"

namespace vpio {

class ExitProfiler final : public ExitObserver {
 public:
  // Throws when capstone cannot be opened.
  ExitProfiler();

  // Read it once the machine's run has returned.
  const ExitProfile& profile() const noexcept { return profile_; }

  void on_run_start(ObservedGuest& guest) noexcept override;
  void on_interrupted_run() noexcept override { profile_.record_interrupted_run(); }
  void on_exit(ObservedGuest& guest, std::uint64_t exited_at_ns, ServedPath path) noexcept override;
  void on_posted(std::uint16_t port, ServedPath path, std::uint64_t accesses) noexcept override;
  void on_run_end(ObservedGuest& guest) noexcept override;

 private:
  void read_site(ObservedGuest& guest, SiteTotals& site, const ExitEvent& event,
                 const kvm_regs& regs) noexcept;
  void place_io(ObservedGuest& guest, SiteTotals& site, const ExitEvent& event,
                const kvm_regs& regs) noexcept;
  bool place_store(ObservedGuest& guest, SiteTotals& site, const ExitEvent& event,
                   const kvm_regs& regs);
  void set_kvm_stats_error(const char* what) noexcept;

  ExitProfile profile_;
  X86Disassembler disassembler_;
  IoSitePlacer io_sites_;
  std::optional<KvmStatsFile> kvm_stats_;
  KvmStatsSnapshot kvm_stats_before_;
  std::uint64_t started_at_ns_ = 0;
};

// Guest bytes at a linear address, page by page through the guest's own page
// tables; stops at the first byte that is not RAM. Returns the bytes read.
unsigned read_guest_code(ObservedGuest& guest, std::uint64_t linear,
                         std::span<std::uint8_t> out) noexcept;

}  // namespace vpio

// The exit report `vpio run` prints when its guests have ended: one row per
// guest, every column documented in docs/run-stats.md. Formatted apart from
// the run, from plain rows, so that its layout can be tested.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "app/nic.hpp"
#include "vmm/machine.hpp"

namespace vpio {

struct ExitReportRow {
  std::string guest;    // the name the guest has in --stats and the console prefix
  std::string outcome;  // exited | halted | crashed | stopped
  std::uint32_t status = 0;
  std::uint64_t kvm_exits = 0;  // vpio's count of KVM_RUN returns with an exit
  std::uint64_t port_accesses = 0, coalesced = 0, io_exits = 0, hlt_exits = 0;
  std::uint64_t interrupts = 0, machine_checks = 0;
  std::uint64_t frames_sent = 0, frames_received = 0;
  std::uint64_t direct = 0, hooked = 0, context_switches = 0, violations = 0;
};

// Names longer than this many columns are cut, ending in an ellipsis, so one
// long image name cannot push every row past the terminal's edge. --stats
// and the console keep the whole name.
inline constexpr std::size_t kMaxGuestNameColumns = 32;

// The table, a header and a line per row, each line starting "vpio: ". Each
// column is as wide as its widest cell (header included), so long names and
// large counts keep the columns in line.
std::string exit_report_text(const std::vector<ExitReportRow>& rows);

// The rows of a finished run, in guest order.
std::vector<ExitReportRow> exit_report_rows(const std::vector<std::unique_ptr<Machine>>& machines,
                                            const std::vector<GuestOutcome>& outcomes,
                                            const std::vector<GuestNics>& nics_of);

// The columns `text` takes on a terminal: one per UTF-8 code point (bytes
// that are not valid UTF-8 count one each; wide characters count one too).
std::size_t text_columns(std::string_view text) noexcept;
// `text` cut to at most `columns` columns, ending in "…" when it was cut;
// never splits a UTF-8 sequence.
std::string cut_to_columns(std::string_view text, std::size_t columns);

}  // namespace vpio

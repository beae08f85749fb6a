// The exit report's table.
#include "app/exit_report.hpp"

#include <algorithm>
#include <array>

#include "app/run_stats.hpp"

namespace vpio {
namespace {

// The bytes of the UTF-8 sequence at the start of `text`: its length when it
// is a whole, valid one, else 1 (a byte a terminal shows as one replacement).
std::size_t sequence_bytes(std::string_view text) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  std::size_t length = 1;
  if (lead >= 0xc2 && lead <= 0xdf)
    length = 2;
  else if (lead >= 0xe0 && lead <= 0xef)
    length = 3;
  else if (lead >= 0xf0 && lead <= 0xf4)
    length = 4;
  if (length > text.size()) return 1;
  for (std::size_t i = 1; i < length; ++i)
    if ((byte(i) & 0xc0) != 0x80) return 1;
  return length;
}

constexpr std::string_view kEllipsis = "\u2026";

struct Column {
  std::string_view header;
  bool left_aligned;
};

constexpr std::array<Column, 16> kColumns = {{
    {"guest", true},
    {"outcome", true},
    {"status", false},
    {"kvm-exits", false},
    {"port-acc", false},
    {"coalesced", false},
    {"io-exits", false},
    {"hlt", false},
    {"irqs", false},
    {"mce", false},
    {"nic-tx", false},
    {"nic-rx", false},
    {"direct", false},
    {"hooked", false},
    {"ctx-sw", false},
    {"viol", false},
}};

std::array<std::string, kColumns.size()> cells_of(const ExitReportRow& row) {
  const auto n = [](std::uint64_t value) { return std::to_string(value); };
  return {cut_to_columns(row.guest, kMaxGuestNameColumns),
          row.outcome,
          n(row.status),
          n(row.kvm_exits),
          n(row.port_accesses),
          n(row.coalesced),
          n(row.io_exits),
          n(row.hlt_exits),
          n(row.interrupts),
          n(row.machine_checks),
          n(row.frames_sent),
          n(row.frames_received),
          n(row.direct),
          n(row.hooked),
          n(row.context_switches),
          n(row.violations)};
}

}  // namespace

std::size_t text_columns(std::string_view text) noexcept {
  std::size_t columns = 0;
  while (!text.empty()) {
    text.remove_prefix(sequence_bytes(text));
    ++columns;
  }
  return columns;
}

std::string cut_to_columns(std::string_view text, std::size_t columns) {
  if (text_columns(text) <= columns) return std::string(text);
  if (columns == 0) return {};
  std::size_t kept = 0;
  for (std::size_t i = 0; i + 1 < columns; ++i) kept += sequence_bytes(text.substr(kept));
  return std::string(text.substr(0, kept)) + std::string(kEllipsis);
}

std::string exit_report_text(const std::vector<ExitReportRow>& rows) {
  std::vector<std::array<std::string, kColumns.size()>> table;
  std::array<std::string, kColumns.size()> header;
  for (std::size_t c = 0; c < kColumns.size(); ++c) header[c] = kColumns[c].header;
  table.push_back(header);
  for (const ExitReportRow& row : rows) table.push_back(cells_of(row));
  std::array<std::size_t, kColumns.size()> width{};
  for (const auto& line : table)
    for (std::size_t c = 0; c < kColumns.size(); ++c)
      width[c] = std::max(width[c], text_columns(line[c]));
  std::string text;
  for (const auto& line : table) {
    text += "vpio:";
    for (std::size_t c = 0; c < kColumns.size(); ++c) {
      const std::string padding(width[c] - text_columns(line[c]), ' ');
      text += ' ';
      text += kColumns[c].left_aligned ? line[c] + padding : padding + line[c];
    }
    // A left-aligned last column would leave trailing blanks; none is.
    text += '\n';
  }
  return text;
}

std::vector<ExitReportRow> exit_report_rows(const std::vector<std::unique_ptr<Machine>>& machines,
                                            const std::vector<GuestOutcome>& outcomes,
                                            const std::vector<GuestNics>& nics_of) {
  std::vector<ExitReportRow> rows;
  for (std::size_t i = 0; i < machines.size(); ++i) {
    const ExitCounters& c = machines[i]->counters();
    const NicTotals t = nic_totals(nics_of[i]);
    ExitReportRow row;
    row.guest = machines[i]->name();
    row.outcome = outcome_name(outcomes[i].kind);
    row.status = outcomes[i].status;
    row.kvm_exits = c.userspace_exits.load();
    row.port_accesses = c.port_accesses.load();
    row.coalesced = c.coalesced_accesses.load();
    row.io_exits = c.by_reason[KVM_EXIT_IO].load();
    row.hlt_exits = c.by_reason[KVM_EXIT_HLT].load();
    row.interrupts = c.interrupts_injected.load();
    row.machine_checks = c.machine_checks_delivered.load();
    row.frames_sent = t.frames_sent;
    row.frames_received = t.frames_received;
    row.direct = t.direct;
    row.hooked = t.hooked;
    row.context_switches = t.context_switches;
    row.violations = t.violations;
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace vpio

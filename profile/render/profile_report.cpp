// Validation and text rendering of a vpio-profile/2 document (and of /1, which
// older vpio wrote). The validator is the only place that looks at JSON types;
// the report reads what it checked.
#include "profile/render/profile_report.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "hw/hex.hpp"

namespace vpio {

using hw::hex;

namespace {

using nlohmann::json;

constexpr std::string_view kSchema = "vpio-profile/2";
// /1 had no KVM identity and judged each KVM row by "expected" alone.
constexpr std::string_view kSchemaV1 = "vpio-profile/1";
constexpr std::array<std::string_view, 6> kCompareStatuses = {
    "agrees", "explained", "not_kept", "not_offered", "unexplained", "unmeasured"};
constexpr std::array<std::string_view, 5> kPathNames = {"direct", "hooked", "emulated",
                                                        "unclaimed", "coalesced"};
constexpr std::uint64_t kMaxPort = 0xffff;
constexpr std::size_t kReportWidth = 100;
constexpr std::size_t kBarWidth = 40;
constexpr std::size_t kQuotedValueLimit = 40;  // of a bad string value in an error message

// ---------------------------------------------------------------------------
// Validation

// A value require_unsigned accepted (JSON built in code stores it signed).
std::uint64_t u64(const json& value) {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  return static_cast<std::uint64_t>(value.get<std::int64_t>());
}

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw std::invalid_argument(path + ": " + problem);
}

std::string quoted(const std::string& value) {
  if (value.size() <= kQuotedValueLimit) return "'" + value + "'";
  return "'" + value.substr(0, kQuotedValueLimit) + "...'";
}

std::string member(const std::string& path, std::string_view key) {
  return path + "." + std::string(key);
}

std::string element(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

const json& require_field(const json& object, const std::string& path, std::string_view key) {
  const auto it = object.find(key);
  if (it == object.end()) fail(member(path, key), "missing");
  return *it;
}

void require_object(const json& value, const std::string& path) {
  if (!value.is_object()) fail(path, "not an object");
}

void require_array(const json& value, const std::string& path) {
  if (!value.is_array()) fail(path, "not an array");
}

void require_unsigned(const json& value, const std::string& path) {
  if (!value.is_number()) fail(path, "not a number");
  if (value.is_number_float()) fail(path, "not an integer");
  if (!value.is_number_unsigned() && value.get<std::int64_t>() < 0) fail(path, "negative");
}

void require_integer(const json& value, const std::string& path) {
  if (!value.is_number()) fail(path, "not a number");
  if (value.is_number_float()) fail(path, "not an integer");
}

const json& field_object(const json& object, const std::string& path, std::string_view key) {
  const json& value = require_field(object, path, key);
  require_object(value, member(path, key));
  return value;
}

const json& field_array(const json& object, const std::string& path, std::string_view key) {
  const json& value = require_field(object, path, key);
  require_array(value, member(path, key));
  return value;
}

const std::string& field_string(const json& object, const std::string& path, std::string_view key) {
  const json& value = require_field(object, path, key);
  if (!value.is_string()) fail(member(path, key), "not a string");
  return value.get_ref<const std::string&>();
}

bool field_bool(const json& object, const std::string& path, std::string_view key) {
  const json& value = require_field(object, path, key);
  if (!value.is_boolean()) fail(member(path, key), "not a boolean");
  return value.get<bool>();
}

void field_unsigned(const json& object, const std::string& path, std::string_view key) {
  require_unsigned(require_field(object, path, key), member(path, key));
}

template <std::size_t N>
void field_one_of(const json& object, const std::string& path, std::string_view key,
                  const std::array<std::string_view, N>& allowed) {
  const std::string& value = field_string(object, path, key);
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return;
  std::string list;
  for (std::size_t i = 0; i < N; ++i)
    list += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + std::string(allowed[i]);
  fail(member(path, key), quoted(value) + " is not " + (N > 2 ? "one of " : "") + list);
}

// Each element of object[key] must be an object; `row` checks one.
template <typename RowCheck>
void field_rows(const json& object, const std::string& path, std::string_view key, RowCheck row) {
  const json& rows = field_array(object, path, key);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::string at = element(member(path, key), i);
    require_object(rows[i], at);
    row(rows[i], at);
  }
}

void validate_kvm_stats(const json& guest, const std::string& path, bool v1) {
  const json& stats = field_object(guest, path, "kvm_stats");
  const std::string at = member(path, "kvm_stats");
  const bool available = field_bool(stats, at, "available");
  if (!available || stats.contains("error")) field_string(stats, at, "error");
  if (!available) return;
  field_rows(stats, at, "compared", [v1](const json& row, const std::string& p) {
    field_string(row, p, "kvm");
    field_string(row, p, "vpio");
    field_unsigned(row, p, "vpio_value");
    field_string(row, p, "explanation");
    if (v1) {
      field_unsigned(row, p, "kvm_value");
      require_integer(require_field(row, p, "difference"), member(p, "difference"));
      field_bool(row, p, "expected");
      return;
    }
    field_one_of(row, p, "status", kCompareStatuses);
    // A counter KVM does not offer has no value to set beside vpio's.
    if (field_string(row, p, "status") != "not_offered") {
      field_unsigned(row, p, "kvm_value");
      require_integer(require_field(row, p, "difference"), member(p, "difference"));
    }
    const json& where = field_array(row, p, "measured_on");
    for (std::size_t i = 0; i < where.size(); ++i)
      if (!where[i].is_string()) fail(element(member(p, "measured_on"), i), "not a string");
    field_bool(row, p, "measured_here");
  });
  const json& counters = field_object(stats, at, "kvm_counters");
  for (const auto& [name, value] : counters.items())
    require_unsigned(value, member(member(at, "kvm_counters"), name));
}

// The KVM a /2 profile ran on (kvm/kvm_identity.hpp).
void validate_kvm_identity(const json& profile) {
  const std::string at = "kvm";
  const auto found = profile.find("kvm");
  if (found == profile.end()) fail(at, "missing");
  require_object(*found, at);
  const json& kvm = *found;
  for (const std::string_view key : {"module", "kernel_release", "flavour"})
    field_string(kvm, at, key);
  require_integer(require_field(kvm, at, "api_version"), member(at, "api_version"));
  const json& caps = field_object(kvm, at, "capabilities");
  for (const auto& [name, value] : caps.items())
    require_integer(value, member(member(at, "capabilities"), name));
}

void validate_guest(const json& guest, const std::string& path, bool v1) {
  require_object(guest, path);
  field_string(guest, path, "name");
  field_string(guest, path, "outcome");
  for (const std::string_view key :
       {"status", "run_ns", "exits", "handling_ns", "interrupted_runs"})
    field_unsigned(guest, path, key);
  field_rows(guest, path, "by_reason", [](const json& row, const std::string& p) {
    field_string(row, p, "reason");
    for (const std::string_view key : {"code", "exits", "ns"}) field_unsigned(row, p, key);
  });
  field_rows(guest, path, "ports", [](const json& row, const std::string& p) {
    field_unsigned(row, p, "port");
    if (u64(row.at("port")) > kMaxPort) fail(member(p, "port"), "above 0xffff");
    field_string(row, p, "device");
    field_unsigned(row, p, "offset");
    field_one_of(row, p, "direction", std::array<std::string_view, 2>{"in", "out"});
    field_one_of(row, p, "path", kPathNames);
    for (const std::string_view key : {"exits", "accesses", "ns"}) field_unsigned(row, p, key);
  });
  field_rows(guest, path, "mmio", [](const json& row, const std::string& p) {
    field_unsigned(row, p, "address");
    field_string(row, p, "device");
    field_unsigned(row, p, "offset");
    field_one_of(row, p, "direction", std::array<std::string_view, 2>{"read", "write"});
    field_one_of(row, p, "path", kPathNames);
    for (const std::string_view key : {"exits", "bytes", "ns"}) field_unsigned(row, p, key);
  });
  field_rows(guest, path, "paths", [](const json& row, const std::string& p) {
    field_one_of(row, p, "path", kPathNames);
    field_unsigned(row, p, "exits");
    field_unsigned(row, p, "ns");
    field_rows(row, p, "histogram", [](const json& bucket, const std::string& b) {
      for (const std::string_view key : {"from_ns", "to_ns", "exits"})
        field_unsigned(bucket, b, key);
    });
  });
  field_rows(guest, path, "sites", [](const json& row, const std::string& p) {
    field_unsigned(row, p, "rip");
    field_string(row, p, "instruction");
    field_string(row, p, "bytes");
    field_string(row, p, "reason");
    for (const std::string_view key : {"exits", "accesses", "ns"}) field_unsigned(row, p, key);
    const json& paths = field_object(row, p, "paths");
    for (const auto& [name, count] : paths.items()) {
      const std::string at = member(member(p, "paths"), name);
      if (std::find(kPathNames.begin(), kPathNames.end(), name) == kPathNames.end())
        fail(at, "not a path (direct, hooked, emulated, unclaimed or coalesced)");
      require_unsigned(count, at);
    }
  });
  validate_kvm_stats(guest, path, v1);
}

// ---------------------------------------------------------------------------
// Formatting of single values

std::uint64_t u64(const json& object, std::string_view key) { return u64(object.at(key)); }

const std::string& str(const json& object, std::string_view key) {
  return object.at(key).get_ref<const std::string&>();
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return b > std::numeric_limits<std::uint64_t>::max() - a
             ? std::numeric_limits<std::uint64_t>::max()
             : a + b;
}

// Strings from the document go into fixed-width columns: no control characters.
std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

bool is_continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xc0) == 0x80; }

// Columns a UTF-8 string takes (one per code point; the report's own text has
// no wide characters).
std::size_t display_width(std::string_view text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return !is_continuation_byte(c); }));
}

// The byte length of the first `columns` code points of `text`.
std::size_t prefix_bytes(std::string_view text, std::size_t columns) {
  std::size_t bytes = 0;
  for (std::size_t seen = 0; bytes < text.size(); ++bytes) {
    if (!is_continuation_byte(text[bytes]) && seen++ == columns) break;
  }
  return bytes;
}

std::string fit(std::string_view text, std::size_t width) {
  if (display_width(text) <= width) return std::string(text);
  if (width == 0) return "";
  return std::string(text.substr(0, prefix_bytes(text, width - 1))) + "~";
}

std::string pad(std::string_view text, std::size_t width, bool right_align) {
  const std::string cell = fit(text, width);
  const std::string fill(width - display_width(cell), ' ');
  return right_align ? fill + cell : cell + fill;
}

std::string group_thousands(std::uint64_t value) {
  const std::string digits = std::to_string(value);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// "1 exit", "1,024 exits".
std::string counted(std::uint64_t n, const std::string& noun) {
  return group_thousands(n) + " " + noun + (n == 1 ? "" : "s");
}

std::string signed_count(const json& value) {
  if (value.is_number_unsigned()) {
    const auto v = value.get<std::uint64_t>();
    return (v == 0 ? "" : "+") + group_thousands(v);
  }
  const auto v = value.get<std::int64_t>();
  if (v >= 0) return (v == 0 ? "" : "+") + group_thousands(static_cast<std::uint64_t>(v));
  return "-" + group_thousands(0 - static_cast<std::uint64_t>(v));
}

// Three significant digits in the largest unit that keeps the value at or
// above 1; whole nanoseconds below a microsecond.
std::string format_ns(double ns) {
  char buffer[48];
  if (ns < 999.5) {
    std::snprintf(buffer, sizeof buffer, "%.0f ns", ns);
    return buffer;
  }
  struct Unit {
    double scale;
    const char* name;
  };
  static constexpr std::array<Unit, 3> kUnits = {{{1e3, "µs"}, {1e6, "ms"}, {1e9, "s"}}};
  std::size_t unit = 0;
  while (unit + 1 < kUnits.size() && ns / kUnits[unit].scale >= 999.5) ++unit;
  const double v = ns / kUnits[unit].scale;
  const int decimals = v >= 99.95 ? 0 : v >= 9.995 ? 1 : 2;
  std::snprintf(buffer, sizeof buffer, "%.*f %s", decimals, v, kUnits[unit].name);
  return buffer;
}

std::string format_ns(std::uint64_t ns) { return format_ns(static_cast<double>(ns)); }

std::string mean_ns(std::uint64_t ns, std::uint64_t exits) {
  if (exits == 0) return "-";
  return format_ns(static_cast<double>(ns) / static_cast<double>(exits));
}

std::string share(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0) return "-";
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%.1f %%",
                100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return buffer;
}

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = std::min(text.find(' ', at), text.size());
    if (end > at) out.emplace_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

// `tokens` in order on lines of at most `first_width` (the first line) and
// `rest_width` columns, one space between tokens on a line. A token wider
// than a line is cut across lines.
std::vector<std::string> fill_lines(const std::vector<std::string>& tokens, std::size_t first_width,
                                    std::size_t rest_width) {
  std::vector<std::string> lines(1);
  const auto room = [&] {
    const std::size_t width =
        std::max<std::size_t>(lines.size() == 1 ? first_width : rest_width, 1);
    const std::size_t used = display_width(lines.back()) + (lines.back().empty() ? 0 : 1);
    return width > used ? width - used : 0;
  };
  for (const std::string& token : tokens) {
    std::string_view rest = token;
    while (!rest.empty()) {
      if (display_width(rest) <= room()) {
        lines.back() += (lines.back().empty() ? "" : " ") + std::string(rest);
        break;
      }
      if (!lines.back().empty()) {
        lines.emplace_back();
        continue;
      }
      const std::size_t cut = prefix_bytes(rest, std::max<std::size_t>(room(), 1));
      lines.back() += std::string(rest.substr(0, cut));
      rest.remove_prefix(cut);
      lines.emplace_back();
    }
  }
  if (lines.back().empty() && lines.size() > 1) lines.pop_back();
  return lines;
}

// `tokens` on lines of at most kReportWidth columns; the first line starts
// with `first`, the others with `rest`.
std::string wrap_tokens(const std::vector<std::string>& tokens, const std::string& first,
                        const std::string& rest) {
  const auto width = [](const std::string& margin) {
    return kReportWidth - std::min(display_width(margin), kReportWidth - 1);
  };
  const std::vector<std::string> lines = fill_lines(tokens, width(first), width(rest));
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) out += (i == 0 ? first : rest) + lines[i] + "\n";
  return out;
}

std::string wrap(std::string_view text, const std::string& first, const std::string& rest) {
  return wrap_tokens(words(text), first, rest);
}

// The items of a list "a 1, b 2" (or "x; y"), each keeping its separator
// ("a 1," "b 2"), so that lines break between items, not inside one.
std::vector<std::string> list_items(std::string_view text, std::string_view separator) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const std::size_t at = text.find(separator);
    const std::size_t end = at == std::string_view::npos ? text.size() : at + 1;
    out.emplace_back(text.substr(0, end));
    text.remove_prefix(std::min(text.size(), end + 1));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Tables

// What a column does when the table is wider than the report.
enum class Squeeze {
  never,  // numbers and codes: always whole
  cut,    // free text: cut, ending in '~'
  wrap,   // lists: continued on the next lines of the row
};

struct Column {
  std::string header;
  bool right_align = false;
  Squeeze squeeze = Squeeze::never;
};

class TextTable {
 public:
  TextTable(std::size_t indent, std::vector<Column> columns)
      : indent_(indent), columns_(std::move(columns)) {}

  void add_row(std::vector<std::string> cells) {
    for (std::string& cell : cells) cell = printable(cell);
    cells.resize(columns_.size());
    rows_.push_back({std::move(cells), {}});
  }
  // Free text printed wrapped under the last row.
  void add_note(std::string note) { rows_.back().note = printable(note); }

  std::string render() const {
    std::vector<std::size_t> widths;
    for (const Column& column : columns_) widths.push_back(display_width(column.header));
    for (const Row& row : rows_)
      for (std::size_t i = 0; i < widths.size(); ++i)
        widths[i] = std::max(widths[i], display_width(row.cells[i]));
    // Lists wrap first (they lose nothing), then text is cut, then lists get narrower still.
    shrink(widths, Squeeze::wrap, kMinWrapped);
    shrink(widths, Squeeze::cut, kMinShrunk);
    shrink(widths, Squeeze::wrap, kMinShrunk);
    std::string out = lines(headers(), widths);
    for (const Row& row : rows_) {
      out += lines(row.cells, widths);
      if (!row.note.empty()) {
        const std::string margin(indent_ + kNoteIndent, ' ');
        out += wrap(row.note, margin, margin);
      }
    }
    return out;
  }

 private:
  static constexpr std::size_t kGap = 2;
  static constexpr std::size_t kNoteIndent = 4;
  static constexpr std::size_t kMinShrunk = 6;
  static constexpr std::size_t kMinWrapped = 16;  // "unclaimed 12,345"

  struct Row {
    std::vector<std::string> cells;
    std::string note;
  };

  std::vector<std::string> headers() const {
    std::vector<std::string> out;
    for (const Column& column : columns_) out.push_back(column.header);
    return out;
  }

  // Narrows the widest `squeeze` columns, one column at a time, until the
  // table fits or all of them are at `floor`.
  void shrink(std::vector<std::size_t>& widths, Squeeze squeeze, std::size_t floor) const {
    for (;;) {
      std::size_t total = indent_ + kGap * (widths.size() - 1);
      for (const std::size_t w : widths) total += w;
      if (total <= kReportWidth) return;
      std::size_t widest = widths.size();
      for (std::size_t i = 0; i < widths.size(); ++i)
        if (columns_[i].squeeze == squeeze && widths[i] > floor &&
            (widest == widths.size() || widths[i] > widths[widest]))
          widest = i;
      if (widest == widths.size()) return;
      --widths[widest];
    }
  }

  // One row: one line, more if a wrapping column needs them.
  std::string lines(const std::vector<std::string>& cells,
                    const std::vector<std::size_t>& widths) const {
    std::vector<std::vector<std::string>> parts(cells.size());
    std::size_t height = 1;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      parts[i] = columns_[i].squeeze == Squeeze::wrap
                     ? fill_lines(list_items(cells[i], ", "), widths[i], widths[i])
                     : std::vector<std::string>{cells[i]};
      height = std::max(height, parts[i].size());
    }
    std::string out;
    for (std::size_t k = 0; k < height; ++k) {
      std::string line(indent_, ' ');
      for (std::size_t i = 0; i < cells.size(); ++i) {
        if (i != 0) line += std::string(kGap, ' ');
        line += pad(k < parts[i].size() ? parts[i][k] : "", widths[i], columns_[i].right_align);
      }
      line.erase(line.find_last_not_of(' ') + 1);
      out += line + "\n";
    }
    return out;
  }

  std::size_t indent_;
  std::vector<Column> columns_;
  std::vector<Row> rows_;
};

constexpr std::size_t kSectionIndent = 2;
constexpr std::size_t kTableIndent = 4;

std::string section_title(const std::string& title) {
  return "\n" + std::string(kSectionIndent, ' ') + title + "\n";
}

// Indices of `rows` by exits, most first; ties keep the document's order.
std::vector<std::size_t> by_exits(const json& rows) {
  std::vector<std::size_t> order(rows.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return u64(rows[a], "exits") > u64(rows[b], "exits");
  });
  return order;
}

std::size_t shown_rows(std::size_t rows, std::size_t top) {
  return top == 0 ? rows : std::min(rows, top);
}

std::string more_rows(const json& rows, const std::vector<std::size_t>& order, std::size_t shown) {
  if (shown == order.size()) return "";
  std::uint64_t exits = 0;
  for (std::size_t i = shown; i < order.size(); ++i)
    exits = saturating_add(exits, u64(rows[order[i]], "exits"));
  return std::string(kTableIndent, ' ') + "... " + counted(order.size() - shown, "more row") +
         " (" + counted(exits, "exit") + ")\n";
}

std::string top_note(std::size_t rows, std::size_t top) {
  if (top == 0 || rows <= top) return "";
  return ", top " + std::to_string(top) + " of " + group_thousands(rows) + " rows by exits";
}

std::string device_offset(const json& row) {
  const std::string& device = str(row, "device");
  if (device.empty()) return "-";
  return device + "+" + hex(u64(row, "offset"));
}

// ---------------------------------------------------------------------------
// Sections of one guest

std::string guest_header(const json& guest) {
  const std::string text = "guest " + str(guest, "name") + ": " + str(guest, "outcome") +
                           ", status " + std::to_string(u64(guest, "status")) + "; " +
                           counted(u64(guest, "exits"), "exit") + " to userspace in " +
                           format_ns(u64(guest, "run_ns")) + ", " +
                           format_ns(u64(guest, "handling_ns")) + " handling; " +
                           counted(u64(guest, "interrupted_runs"), "interrupted run");
  // Lines break between the clauses; a clause too long for a line (a long
  // name) breaks between its words.
  const std::string margin(kSectionIndent, ' ');
  std::vector<std::string> tokens;
  for (std::string& clause : list_items(printable(text), "; ")) {
    if (display_width(clause) <= kReportWidth - margin.size()) {
      tokens.push_back(std::move(clause));
    } else {
      for (std::string& word : words(clause)) tokens.push_back(std::move(word));
    }
  }
  return wrap_tokens(tokens, "", margin);
}

std::string reasons_section(const json& guest) {
  const json& rows = guest.at("by_reason");
  if (rows.empty()) return section_title("Exits by reason: none");
  TextTable table(kTableIndent, {{"reason", false, Squeeze::cut},
                                 {"exits", true},
                                 {"share", true},
                                 {"total", true},
                                 {"mean", true}});
  const std::uint64_t all = u64(guest, "exits");
  for (const std::size_t i : by_exits(rows)) {
    const json& row = rows[i];
    const std::uint64_t exits = u64(row, "exits"), ns = u64(row, "ns");
    table.add_row({str(row, "reason"), group_thousands(exits), share(exits, all), format_ns(ns),
                   mean_ns(ns, exits)});
  }
  return section_title("Exits by reason") + table.render();
}

// Ports and MMIO: one row per (place, direction, path), most exits first.
std::string access_section(const json& rows, std::size_t top, const std::string& title,
                           const char* place, const char* place_key, const char* size_key) {
  if (rows.empty()) return section_title(title + ": none");
  const std::vector<std::size_t> order = by_exits(rows);
  const std::size_t shown = shown_rows(rows.size(), top);
  TextTable table(kTableIndent, {{place, false},
                                 {"device+offset", false, Squeeze::cut},
                                 {"dir", false},
                                 {"path", false},
                                 {"exits", true},
                                 {size_key, true},
                                 {"total", true},
                                 {"mean", true}});
  for (std::size_t k = 0; k < shown; ++k) {
    const json& row = rows[order[k]];
    const std::uint64_t exits = u64(row, "exits"), ns = u64(row, "ns");
    table.add_row({hex(u64(row, place_key)), device_offset(row), str(row, "direction"),
                   str(row, "path"), group_thousands(exits), group_thousands(u64(row, size_key)),
                   format_ns(ns), mean_ns(ns, exits)});
  }
  return section_title(title + top_note(rows.size(), top)) + table.render() +
         more_rows(rows, order, shown);
}

// pN is the bucket holding the exit of nearest rank ceil(N/100 * total) when
// the histogram's exits are ranked by time; printed as "< to_ns" of that
// bucket since all its exits took less.
std::string percentile(const std::vector<const json*>& buckets, std::uint64_t total,
                       std::uint64_t pct) {
  const std::uint64_t q = total / 100, r = total % 100;
  const std::uint64_t rank = std::max<std::uint64_t>(1, q * pct + (r * pct + 99) / 100);
  std::uint64_t seen = 0;
  for (const json* bucket : buckets) {
    seen = saturating_add(seen, u64(*bucket, "exits"));
    if (seen >= rank) return "< " + format_ns(u64(*bucket, "to_ns"));
  }
  return "-";
}

std::string histogram(const json& path_row) {
  const std::string margin(kTableIndent, ' ');
  const std::string name = printable(str(path_row, "path"));
  std::vector<const json*> buckets;
  for (const json& bucket : path_row.at("histogram"))
    if (u64(bucket, "exits") != 0) buckets.push_back(&bucket);
  if (buckets.empty()) return margin + name + ": no histogram\n";
  std::stable_sort(buckets.begin(), buckets.end(), [](const json* a, const json* b) {
    return u64(*a, "from_ns") < u64(*b, "from_ns");
  });
  std::uint64_t total = 0, largest = 0;
  for (const json* bucket : buckets) {
    total = saturating_add(total, u64(*bucket, "exits"));
    largest = std::max(largest, u64(*bucket, "exits"));
  }
  std::string out = margin + name + ": p50 " + percentile(buckets, total, 50) + ", p99 " +
                    percentile(buckets, total, 99) + "\n";
  TextTable table(kTableIndent + 2, {{"time per exit", false}, {"exits", true}, {"", false}});
  for (const json* bucket : buckets) {
    const std::uint64_t exits = u64(*bucket, "exits");
    const auto bar = std::max<std::size_t>(
        1, static_cast<std::size_t>(static_cast<double>(exits) / static_cast<double>(largest) *
                                        static_cast<double>(kBarWidth) +
                                    0.5));
    table.add_row({format_ns(u64(*bucket, "from_ns")) + " - " + format_ns(u64(*bucket, "to_ns")),
                   group_thousands(exits), std::string(bar, '#')});
  }
  return out + table.render();
}

std::string paths_section(const json& guest) {
  const json& rows = guest.at("paths");
  if (rows.empty()) return section_title("Paths: none");
  TextTable table(kTableIndent,
                  {{"path", false}, {"exits", true}, {"total", true}, {"mean", true}});
  std::string histograms, posted;
  for (const json& row : rows) {
    const std::uint64_t exits = u64(row, "exits"), ns = u64(row, "ns");
    table.add_row({str(row, "path"), group_thousands(exits), format_ns(ns), mean_ns(ns, exits)});
    if (str(row, "path") == "coalesced" && exits == 0) {
      posted = std::string(kTableIndent, ' ') + "coalesced: " +
               group_thousands(u64(row, "accesses")) +
               " port writes posted to KVM's coalesced ring, none with an exit of its own\n";
      continue;
    }
    histograms += histogram(row);
  }
  return section_title("Paths (I/O and MMIO exits)") + table.render() + posted + "\n" +
         std::string(kTableIndent, ' ') +
         "Time per exit, log2 buckets; pN < t: the N-th percentile exit's bucket ends at t\n" +
         histograms;
}

std::string site_paths(const json& paths) {
  std::string out;
  for (const std::string_view name : kPathNames) {
    const auto it = paths.find(name);
    if (it == paths.end()) continue;
    out += (out.empty() ? "" : ", ") + std::string(name) + " " + group_thousands(u64(*it));
  }
  return out;
}

std::string sites_section(const json& guest, std::size_t top) {
  const json& rows = guest.at("sites");
  if (rows.empty()) return section_title("Exit sites: none");
  std::vector<std::size_t> order(rows.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const std::uint64_t ea = u64(rows[a], "exits"), eb = u64(rows[b], "exits");
    return ea != eb ? ea > eb : u64(rows[a], "rip") < u64(rows[b], "rip");
  });
  const std::size_t shown = shown_rows(rows.size(), top);
  TextTable table(kTableIndent, {{"rip", false},
                                 {"instruction", false, Squeeze::cut},
                                 {"reason", false, Squeeze::cut},
                                 {"exits", true},
                                 {"accesses", true},
                                 {"time", true},
                                 {"paths", false, Squeeze::wrap}});
  for (std::size_t k = 0; k < shown; ++k) {
    const json& row = rows[order[k]];
    table.add_row({hex(u64(row, "rip")), str(row, "instruction"), str(row, "reason"),
                   group_thousands(u64(row, "exits")), group_thousands(u64(row, "accesses")),
                   format_ns(u64(row, "ns")), site_paths(row.at("paths"))});
  }
  // The decode capstone got wrong stays visible: the table shows what the CPU
  // executed, this line what the library said.
  std::string overridden;
  for (std::size_t k = 0; k < shown; ++k) {
    const json& row = rows[order[k]];
    const auto it = row.find("capstone_decode");
    if (it == row.end() || !it->is_string()) continue;
    overridden +=
        std::string(kTableIndent, ' ') +
        printable(hex(u64(row, "rip")) + ": capstone decoded " + str(row, "bytes") + " as \"" +
                  it->get<std::string>() + "\"; shown as vpio's port I/O decoder reads it") +
        "\n";
  }
  return section_title("Exit sites" + top_note(rows.size(), top)) + table.render() +
         more_rows(rows, order, shown) + overridden;
}

// The status column of a KVM comparison row; the note under it says more.
std::string compare_label(const json& row) {
  const auto status = row.find("status");
  if (status == row.end()) return row.at("expected").get<bool>() ? "expected" : "UNEXPECTED";
  const std::string& s = status->get_ref<const std::string&>();
  if (s == "not_kept") return "not kept";
  if (s == "not_offered") return "not offered";
  if (s == "unexplained") return "NOT EXPLAINED";
  if (s == "unmeasured") return "not measured";
  return s;
}

std::string compare_note(const json& row) {
  std::string note = str(row, "explanation");
  const auto status = row.find("status");
  if (status == row.end() || *status == "not_kept" || *status == "not_offered" ||
      *status == "unmeasured")
    return note;
  std::string where;
  for (const json& w : row.at("measured_on"))
    where += (where.empty() ? "" : ", ") + w.get<std::string>();
  return where.empty() ? note : note + " Rule measured on " + where + ".";
}

std::string kvm_section(const json& guest) {
  const json& stats = guest.at("kvm_stats");
  const std::string title = "KVM's own counters (KVM_GET_STATS_FD)";
  if (!stats.at("available").get<bool>()) {
    const std::string margin(kSectionIndent, ' ');
    return "\n" + wrap(printable(title + ": not available: " + str(stats, "error")), margin,
                       margin + "  ");
  }
  std::string out = section_title(title);
  const json& compared = stats.at("compared");
  std::vector<std::string> seen;
  if (compared.empty()) {
    out += std::string(kTableIndent, ' ') + "no counters compared\n";
  } else {
    TextTable table(kTableIndent, {{"kvm", false, Squeeze::cut},
                                   {"value", true},
                                   {"vpio", false, Squeeze::cut},
                                   {"value", true},
                                   {"difference", true},
                                   {"", false}});
    for (const json& row : compared) {
      seen.push_back(str(row, "kvm"));
      const bool offered = row.contains("kvm_value");
      table.add_row({str(row, "kvm"), offered ? group_thousands(u64(row, "kvm_value")) : "-",
                     str(row, "vpio"), group_thousands(u64(row, "vpio_value")),
                     offered ? signed_count(row.at("difference")) : "-", compare_label(row)});
      table.add_note(compare_note(row));
    }
    out += table.render();
  }
  std::string others;
  for (const auto& [name, value] : stats.at("kvm_counters").items()) {
    if (u64(value) == 0 || std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
    others += (others.empty() ? "" : ", ") + name + " " + group_thousands(u64(value));
  }
  const std::string margin(kTableIndent, ' ');
  if (others.empty()) return out + margin + "no other KVM counter changed\n";
  std::vector<std::string> tokens = {"other", "KVM", "counters:"};
  for (std::string& item : list_items(printable(others), ", ")) tokens.push_back(std::move(item));
  return out + wrap_tokens(tokens, margin, margin + "  ");
}

// The KVM a /2 profile ran on: module and kernel, then the capabilities.
std::string kvm_identity_section(const json& profile) {
  const auto kvm = profile.find("kvm");
  if (kvm == profile.end()) return "";
  const std::string& module = str(*kvm, "module");
  const std::string margin(kSectionIndent, ' ');
  std::string out =
      wrap(printable("KVM: " + (module.empty() ? std::string("unknown module") : module) +
                     " on Linux " + str(*kvm, "kernel_release") + ", KVM API " +
                     std::to_string(kvm->at("api_version").get<std::int64_t>())),
           margin, margin + "  ");
  std::string caps;
  for (const auto& [name, value] : kvm->at("capabilities").items()) {
    const std::string shown = name.starts_with("KVM_CAP_") ? name.substr(8) : name;
    caps += (caps.empty() ? "" : ", ") + shown + " " + std::to_string(value.get<std::int64_t>());
  }
  if (caps.empty()) return out;
  std::vector<std::string> tokens = {"capabilities:"};
  for (std::string& item : list_items(printable(caps), ", ")) tokens.push_back(std::move(item));
  return out + wrap_tokens(tokens, margin, margin + "  ");
}

}  // namespace

void validate_profile(const json& profile) {
  const std::string root = "profile";
  require_object(profile, root);
  const auto schema = profile.find("schema");
  if (schema == profile.end()) fail("schema", "missing");
  if (!schema->is_string()) fail("schema", "not a string");
  const bool v1 = schema->get_ref<const std::string&>() == kSchemaV1;
  if (!v1 && schema->get_ref<const std::string&>() != kSchema)
    throw std::invalid_argument("schema is " + quoted(schema->get<std::string>()) + ", expected " +
                                std::string(kSchema) + " or " + std::string(kSchemaV1));
  if (!v1) validate_kvm_identity(profile);
  const auto guests = profile.find("guests");
  if (guests == profile.end()) fail("guests", "missing");
  if (!guests->is_array()) fail("guests", "not an array");
  for (std::size_t i = 0; i < guests->size(); ++i)
    validate_guest((*guests)[i], element("guests", i), v1);
}

json load_profile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(path + ": cannot read it");
  const std::string not_a_profile = path + ": not a vpio profile: ";
  json profile;
  try {
    profile = json::parse(in);
  } catch (const json::parse_error& e) {
    // e.what() quotes what was last read, raw: give only the position.
    throw std::invalid_argument(not_a_profile + "not JSON (parse error at byte " +
                                std::to_string(e.byte) + ")");
  }
  try {
    validate_profile(profile);
  } catch (const std::exception& e) {
    // A JSON string may hold control characters (\u001b starts a terminal escape).
    throw std::invalid_argument(not_a_profile + printable(e.what()));
  }
  return profile;
}

std::string profile_text_report(const json& profile, std::size_t top) {
  validate_profile(profile);
  const json& guests = profile.at("guests");
  if (guests.empty()) return "vpio profile: no guests\n";
  std::string out = "vpio profile: " + group_thousands(guests.size()) +
                    (guests.size() == 1 ? " guest\n" : " guests\n") + kvm_identity_section(profile);
  for (const json& guest : guests) {
    out += "\n" + guest_header(guest);
    out += reasons_section(guest);
    out += access_section(guest.at("ports"), top, "Ports", "port", "port", "accesses");
    if (!guest.at("mmio").empty())
      out += access_section(guest.at("mmio"), top, "MMIO", "address", "address", "bytes");
    out += paths_section(guest);
    out += sites_section(guest, top);
    out += kvm_section(guest);
  }
  return out;
}

}  // namespace vpio

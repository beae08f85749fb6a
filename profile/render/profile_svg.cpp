// Draws an exit profile as SVG. All text is monospace so that a string's width
// is its length times a fixed advance: the layout computes every position
// itself and needs no font metrics, and the output depends only on the input.
#include "profile/render/profile_svg.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hw/hex.hpp"

namespace vpio {

using hw::hex;

namespace {

using nlohmann::json;

// Page geometry in px; panel contents use panel coordinates.
constexpr double kPageWidth = 1000;
constexpr double kMargin = 16;
constexpr double kPanelWidth = kPageWidth - 2 * kMargin;
constexpr double kPad = 14;
constexpr double kPanelGap = 16;
constexpr double kAdvance = 0.6;  // monospace glyph advance, in em
constexpr double kPageTitleFont = 16, kTitleFont = 15, kHeadFont = 12.5, kFont = 11,
                 kSmallFont = 10;

// Exits per port: a label column (hex right-aligned, device left-aligned),
// then the bars, then room for the count at a bar's end.
constexpr std::size_t kMaxBars = 16;
constexpr double kRowHeight = 20, kBarHeight = 14;
constexpr double kBarX = 290;
constexpr double kCountRoom = 90;
constexpr double kBarMax = kPanelWidth - kPad - kCountRoom - kBarX;
constexpr std::uint64_t kBarTicks = 6;

// Latency histograms, two per row.
constexpr double kHistGap = 18;
constexpr double kHistWidth = (kPanelWidth - 2 * kPad - kHistGap) / 2;
constexpr double kHistHeight = 178;
constexpr double kHistTitleRoom = 30, kHistLabelRoom = 36;
constexpr double kHistAxisRoom = 50;
constexpr double kHistMaxColumn = 44;
constexpr std::uint64_t kHistTicks = 4;

constexpr std::string_view kInk = "#222222", kMuted = "#666666", kGrid = "#e3e3e3",
                           kAxis = "#999999";

// Okabe-Ito colours: distinct for colour-blind readers as well.
struct PathStyle {
  std::string_view name, colour;
};
constexpr PathStyle kPathStyles[] = {{"direct", "#009e73"},
                                     {"hooked", "#0072b2"},
                                     {"emulated", "#e69f00"},
                                     {"unclaimed", "#8c8c8c"},
                                     {"coalesced", "#56b4e9"}};
constexpr std::string_view kOtherPathColour = "#cc79a7";
constexpr std::size_t kOtherPathRank = std::size(kPathStyles);

std::size_t path_rank(std::string_view path) {
  for (std::size_t i = 0; i < std::size(kPathStyles); ++i)
    if (kPathStyles[i].name == path) return i;
  return kOtherPathRank;
}
std::string_view path_colour(std::string_view path) {
  const std::size_t rank = path_rank(path);
  return rank < kOtherPathRank ? kPathStyles[rank].colour : kOtherPathColour;
}
// A CSS-safe class: the known paths by name, any other as "path-other".
std::string path_class(std::string_view path) {
  return path_rank(path) < kOtherPathRank ? "path-" + std::string(path) : "path-other";
}
// The schema's order (direct, hooked, emulated, unclaimed), then others by name.
struct PathOrder {
  bool operator()(const std::string& a, const std::string& b) const {
    const std::size_t ra = path_rank(a), rb = path_rank(b);
    return ra != rb ? ra < rb : a < b;
  }
};

// --- Reading the profile: absent or mistyped fields read as empty. ---

const json& empty_array() {
  static const json kEmpty = json::array();
  return kEmpty;
}
const json& array_at(const json& object, const char* key) {
  if (!object.is_object()) return empty_array();
  const auto it = object.find(key);
  return it != object.end() && it->is_array() ? *it : empty_array();
}
std::uint64_t count_at(const json& object, const char* key) {
  if (!object.is_object()) return 0;
  const auto it = object.find(key);
  if (it == object.end()) return 0;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer()) {
    const auto v = it->get<std::int64_t>();
    return v > 0 ? static_cast<std::uint64_t>(v) : 0;
  }
  if (it->is_number_float()) {
    const auto v = it->get<double>();
    return v > 0 && v < 1.8e19 ? static_cast<std::uint64_t>(v) : 0;
  }
  return 0;
}
std::string text_at(const json& object, const char* key, std::string_view fallback = {}) {
  if (!object.is_object()) return std::string(fallback);
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string(fallback);
}

// --- Text. ---

// Valid UTF-8 holding only characters XML 1.0 allows: anything else becomes
// U+FFFD, and tabs and line breaks become spaces (one line per text element).
std::string clean_utf8(std::string_view s) {
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  constexpr std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};  // by length: no overlongs
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const std::size_t len = lead < 0x80              ? 1
                            : (lead & 0xE0u) == 0xC0 ? 2
                            : (lead & 0xF0u) == 0xE0 ? 3
                            : (lead & 0xF8u) == 0xF0 ? 4
                                                     : 0;
    std::uint32_t cp = lead & (len == 1 ? 0x7Fu : len == 2 ? 0x1Fu : len == 3 ? 0x0Fu : 0x07u);
    bool ok = len != 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      ok = (c & 0xC0u) == 0x80;
      cp = (cp << 6) | (c & 0x3Fu);
    }
    if (ok && (cp == '\t' || cp == '\n' || cp == '\r')) {
      out.push_back(' ');
      i += len;
      continue;
    }
    ok = ok && cp >= kSmallest[len] && cp >= 0x20 && cp <= 0x10FFFF &&
         !(cp >= 0xD800 && cp <= 0xDFFF) && cp != 0xFFFE && cp != 0xFFFF;
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out.append(kReplacement);
      ++i;
    }
  }
  return out;
}

std::size_t char_count(std::string_view utf8) {
  return static_cast<std::size_t>(std::count_if(utf8.begin(), utf8.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0u) != 0x80;
  }));
}

// At most max_chars characters of the cleaned text, ending in "…" if cut.
std::string shorten(std::string_view raw, std::size_t max_chars) {
  std::string s = clean_utf8(raw);
  if (char_count(s) <= max_chars) return s;
  if (max_chars == 0) return {};
  std::size_t kept = 0, end = 0;
  for (; end < s.size(); ++end) {
    if ((static_cast<unsigned char>(s[end]) & 0xC0u) != 0x80 && kept++ == max_chars - 1) break;
  }
  return s.substr(0, end) + "\u2026";
}

std::string escape(std::string_view raw) {
  const std::string s = clean_utf8(raw);
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

double text_width(std::string_view utf8, double font_size) {
  return static_cast<double>(char_count(utf8)) * kAdvance * font_size;
}
std::size_t chars_fitting(double width, double font_size) {
  return width <= 0 ? 0 : static_cast<std::size_t>(width / (kAdvance * font_size));
}

// Fixed-point without trailing zeros; to_chars ignores the locale.
std::string fixed(double v, int decimals) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  std::string s(buf, r.ptr);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}
std::string coord(double v) { return fixed(v, 2); }

// 123456 -> "123,456".
std::string grouped(std::uint64_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// Three significant digits in a decimal unit: "950ns", "45.7ms", "120k".
std::string scaled(std::uint64_t n, std::uint64_t below, const std::string_view (&units)[4],
                   std::string_view base_unit) {
  if (n < below) return std::to_string(n) + std::string(base_unit);
  std::size_t unit = 0;
  double scale = 1000;
  while (unit + 1 < std::size(units) && static_cast<double>(n) >= scale * 1000 * 0.9995) {
    scale *= 1000;
    ++unit;
  }
  const double v = static_cast<double>(n) / scale;
  return fixed(v, v < 9.995 ? 2 : v < 99.95 ? 1 : 0) + std::string(units[unit]);
}
std::string duration(std::uint64_t ns) {
  static constexpr std::string_view kUnits[] = {"\u00b5s", "ms", "s", "ks"};
  return scaled(ns, 1000, kUnits, "ns");
}
// Axis labels: exact below 10,000, then "12.5k", "1.2M".
std::string compact(std::uint64_t n) {
  static constexpr std::string_view kUnits[] = {"k", "M", "G", "T"};
  return n < 10000 ? grouped(n) : scaled(n, 10000, kUnits, "");
}

// A log2 bucket's lower bound in binary units, as the buckets are powers of
// two: 512 -> "512ns", 1024 -> "1µs", 2^20 -> "1ms".
std::string bucket_label(std::uint64_t from_ns) {
  static constexpr std::string_view kUnits[] = {"ns", "\u00b5s", "ms", "s"};
  std::size_t unit = 0;
  std::uint64_t scale = 1;
  while (unit + 1 < std::size(kUnits) && from_ns >= scale * 1024) {
    scale *= 1024;
    ++unit;
  }
  const std::string value =
      from_ns % scale == 0 ? std::to_string(from_ns / scale)
                           : fixed(static_cast<double>(from_ns) / static_cast<double>(scale), 1);
  return value + std::string(kUnits[unit]);
}

// --- SVG elements. Raw text goes in; the writer cleans and escapes it. ---

class SvgWriter {
 public:
  void rect(double x, double y, double w, double h, std::string_view attrs,
            std::string_view tooltip = {}) {
    out_ += "<rect x=\"" + coord(x) + "\" y=\"" + coord(y) + "\" width=\"" + coord(w) +
            "\" height=\"" + coord(h) + "\"";
    if (!attrs.empty()) (out_ += ' ') += attrs;
    if (tooltip.empty()) {
      out_ += "/>\n";
    } else {
      out_ += "><title>" + escape(tooltip) + "</title></rect>\n";
    }
  }
  void line(double x1, double y1, double x2, double y2, std::string_view stroke) {
    out_ += "<line x1=\"" + coord(x1) + "\" y1=\"" + coord(y1) + "\" x2=\"" + coord(x2) +
            "\" y2=\"" + coord(y2) + "\" stroke=\"" + std::string(stroke) + "\"/>\n";
  }
  void text(double x, double y, std::string_view raw, std::string_view attrs) {
    text_markup(x, y, escape(raw), attrs);
  }
  // Already escaped content, such as tspans.
  void text_markup(double x, double y, std::string_view markup, std::string_view attrs) {
    out_ += "<text x=\"" + coord(x) + "\" y=\"" + coord(y) + "\"";
    if (!attrs.empty()) (out_ += ' ') += attrs;
    ((out_ += '>') += markup) += "</text>\n";
  }
  void open_group(std::string_view attrs) { ((out_ += "<g ") += attrs) += ">\n"; }
  void close_group() { out_ += "</g>\n"; }
  void append(std::string_view svg) { out_ += svg; }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

std::string font(double size, std::string_view fill = kInk, std::string_view extra = {}) {
  std::string attrs = "font-size=\"" + coord(size) + "\" fill=\"" + std::string(fill) + "\"";
  if (!extra.empty()) (attrs += ' ') += extra;
  return attrs;
}
// "1 exit", "1,234 exits".
std::string count_noun(std::uint64_t n, std::string_view noun) {
  return grouped(n) + " " + std::string(noun) + (n == 1 ? "" : "s");
}

std::string tspan(std::string_view raw, std::string_view attrs) {
  return "<tspan " + std::string(attrs) + ">" + escape(raw) + "</tspan>";
}

// A step of 1, 2 or 5 times a power of ten that covers max in at most
// max_intervals steps; at least 1, as counts are whole.
std::uint64_t tick_step(std::uint64_t max, std::uint64_t max_intervals) {
  for (std::uint64_t power = 1;; power *= 10) {
    for (const std::uint64_t mult : {1u, 2u, 5u}) {
      const std::uint64_t step = mult * power;
      if (max / step + (max % step != 0 ? 1 : 0) <= max_intervals) return step;
    }
  }
}
struct Scale {
  std::uint64_t step = 1, intervals = 1;
  double domain() const { return static_cast<double>(step) * static_cast<double>(intervals); }
};
Scale linear_scale(std::uint64_t max, std::uint64_t max_intervals) {
  Scale s;
  s.step = tick_step(max, max_intervals);
  s.intervals = std::max<std::uint64_t>(1, max / s.step + (max % s.step != 0 ? 1 : 0));
  return s;
}

// --- Exits per port and MMIO address. ---

// One port or MMIO address, its rows summed over directions.
struct Target {
  bool mmio = false;
  std::uint64_t address = 0, offset = 0, exits = 0, ns = 0;
  std::string device;
  std::map<std::string, std::uint64_t, PathOrder> exits_by_path;

  std::string hex_label() const { return hex(address); }
  std::string device_label() const {
    if (device.empty()) return "(unclaimed)";
    // Port ranges are a few registers wide; MMIO offsets read better in hex.
    return device + "+" + (mmio ? hex(offset) : std::to_string(offset));
  }
};

std::vector<Target> collect_targets(const json& guest) {
  std::map<std::uint64_t, Target> ports, mmio;
  const auto add = [](std::map<std::uint64_t, Target>& into, const json& row, const char* key,
                      bool is_mmio) {
    if (!row.is_object()) return;
    const std::uint64_t address = count_at(row, key);
    Target& t = into[address];
    if (t.exits == 0 && t.exits_by_path.empty()) {
      t.mmio = is_mmio;
      t.address = address;
      t.device = text_at(row, "device");
      t.offset = count_at(row, "offset");
    }
    const std::uint64_t exits = count_at(row, "exits");
    t.exits += exits;
    t.ns += count_at(row, "ns");
    t.exits_by_path[text_at(row, "path", "unknown")] += exits;
  };
  for (const json& row : array_at(guest, "ports")) add(ports, row, "port", false);
  for (const json& row : array_at(guest, "mmio")) add(mmio, row, "address", true);

  std::vector<Target> targets;
  for (auto& [address, t] : ports) targets.push_back(std::move(t));
  for (auto& [address, t] : mmio) targets.push_back(std::move(t));
  std::stable_sort(targets.begin(), targets.end(), [](const Target& a, const Target& b) {
    return a.exits > b.exits;  // ties keep ports by port, then MMIO by address
  });
  return targets;
}

// The paths the legend shows: the four the schema names, then any other used.
std::vector<std::string> legend_paths(const std::vector<Target>& targets) {
  std::vector<std::string> paths;
  for (const PathStyle& style : kPathStyles) paths.emplace_back(style.name);
  std::map<std::string, bool, PathOrder> others;
  for (const Target& t : targets)
    for (const auto& [path, exits] : t.exits_by_path)
      if (path_rank(path) == kOtherPathRank) others[path] = true;
  for (const auto& [path, used] : others) paths.push_back(path);
  return paths;
}

// Legend items right-aligned to `right`, baseline y.
void draw_legend(SvgWriter& svg, const std::vector<std::string>& paths, double right, double y) {
  constexpr double kSwatch = 10, kSwatchGap = 4, kItemGap = 14;
  double width = 0;
  std::vector<std::string> names;
  for (const std::string& path : paths) {
    names.push_back(shorten(path, 16));
    width += kSwatch + kSwatchGap + text_width(names.back(), kFont) + kItemGap;
  }
  double x = right - width + kItemGap;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    svg.rect(x, y - kSwatch + 1, kSwatch, kSwatch,
             "class=\"legend " + path_class(paths[i]) + "\" fill=\"" +
                 std::string(path_colour(paths[i])) + "\"");
    svg.text(x + kSwatch + kSwatchGap, y, names[i], font(kFont));
    x += kSwatch + kSwatchGap + text_width(names[i], kFont) + kItemGap;
  }
}

// Returns the y below what it drew.
double draw_exit_bars(SvgWriter& svg, const json& guest, double y) {
  const std::vector<Target> targets = collect_targets(guest);
  svg.text(kPad, y, "Exits per port and MMIO address, by path",
           font(kHeadFont, kInk, "font-weight=\"bold\""));
  draw_legend(svg, legend_paths(targets), kPanelWidth - kPad, y);
  y += 12;
  if (targets.empty()) {
    svg.text(kPad, y + 14, "no port or MMIO exits", font(kFont, kMuted, "font-style=\"italic\""));
    return y + 26;
  }

  const std::size_t shown = std::min(targets.size(), kMaxBars);
  std::size_t hex_chars = 0;
  for (std::size_t i = 0; i < shown; ++i)
    hex_chars = std::max(hex_chars, targets[i].hex_label().size());
  const double hex_right = kPad + static_cast<double>(hex_chars) * kAdvance * kFont;
  const double device_x = hex_right + kAdvance * kFont;
  const std::size_t device_chars = chars_fitting(kBarX - 8 - device_x, kFont);

  const Scale scale = linear_scale(targets.front().exits, kBarTicks);
  const double px_per_exit = kBarMax / scale.domain();
  const double top = y, bottom = y + static_cast<double>(shown) * kRowHeight;

  // Stripes and grid first, so bars and text lie on top.
  for (std::size_t i = 0; i < shown; i += 2)
    svg.rect(kPad - 4, top + static_cast<double>(i) * kRowHeight, kPanelWidth - 2 * kPad + 8,
             kRowHeight, "class=\"stripe\" fill=\"#f3f3f3\"");
  for (std::uint64_t i = 0; i <= scale.intervals; ++i) {
    const double x = kBarX + static_cast<double>(i * scale.step) * px_per_exit;
    svg.line(x, top, x, bottom + 4, i == 0 ? kAxis : kGrid);
    svg.text(x, bottom + 16, compact(i * scale.step),
             font(kSmallFont, kMuted, "text-anchor=\"middle\""));
  }
  svg.text(kBarX + kBarMax + 20, bottom + 16, "exits", font(kSmallFont, kMuted));

  for (std::size_t i = 0; i < shown; ++i) {
    const Target& t = targets[i];
    const double row_y = top + static_cast<double>(i) * kRowHeight;
    const double baseline = row_y + kRowHeight / 2 + kFont * 0.35;
    svg.text(hex_right, baseline, t.hex_label(), font(kFont, kInk, "text-anchor=\"end\""));
    svg.text(device_x, baseline, shorten(t.device_label(), device_chars),
             font(kFont, t.device.empty() ? kMuted : kInk));
    const std::string where = t.hex_label() + " " + t.device_label() + (t.mmio ? " (MMIO)" : "");
    double x = kBarX;
    for (const auto& [path, exits] : t.exits_by_path) {
      if (exits == 0) continue;
      const double width = static_cast<double>(exits) * px_per_exit;
      svg.rect(x, row_y + (kRowHeight - kBarHeight) / 2, width, kBarHeight,
               "class=\"bar " + path_class(path) + "\" data-target=\"" + t.hex_label() +
                   "\" data-path=\"" + escape(path) + "\" data-exits=\"" + std::to_string(exits) +
                   "\" fill=\"" + std::string(path_colour(path)) + "\"",
               where + ": " + path + ", " + grouped(exits) + " exits");
      x += width;
    }
    svg.text(x + 6, baseline, grouped(t.exits), font(kFont, kInk));
  }
  y = bottom + 16;

  if (targets.size() > shown) {
    std::uint64_t rest = 0;
    bool any_mmio = false;
    for (std::size_t i = shown; i < targets.size(); ++i) {
      rest += targets[i].exits;
      any_mmio = any_mmio || targets[i].mmio;
    }
    const std::string more = std::to_string(targets.size() - shown) +
                             (any_mmio ? " more ports and MMIO addresses, " : " more ports, ") +
                             grouped(rest) + " exits";
    svg.text(kPad, y, more, font(kFont, kMuted, "class=\"more\" font-style=\"italic\""));
  }
  return y + 14;
}

// --- Latency histograms. ---

struct Column {
  std::uint64_t from_ns = 0, to_ns = 0, exits = 0;
};

// The buckets from the lowest non-empty one to the highest, the empty ones
// between filled in, so the x axis is contiguous. Buckets are keyed by
// floor(log2(from_ns)), a from_ns of 0 before all others.
std::vector<Column> histogram_columns(const json& path) {
  std::map<int, std::uint64_t> exits_by_log2;
  for (const json& bucket : array_at(path, "histogram")) {
    if (!bucket.is_object()) continue;
    const std::uint64_t exits = count_at(bucket, "exits");
    if (exits == 0) continue;
    const std::uint64_t from = count_at(bucket, "from_ns");
    exits_by_log2[from == 0 ? -1 : static_cast<int>(std::bit_width(from)) - 1] += exits;
  }
  std::vector<Column> columns;
  if (exits_by_log2.empty()) return columns;
  for (int log2 = exits_by_log2.begin()->first; log2 <= exits_by_log2.rbegin()->first; ++log2) {
    Column c;
    c.from_ns = log2 < 0 ? 0 : std::uint64_t{1} << log2;
    c.to_ns = log2 < 0 ? 1 : log2 >= 63 ? UINT64_MAX : std::uint64_t{1} << (log2 + 1);
    const auto it = exits_by_log2.find(log2);
    c.exits = it == exits_by_log2.end() ? 0 : it->second;
    columns.push_back(c);
  }
  return columns;
}

void draw_histogram(SvgWriter& svg, const json& path, double x, double y) {
  const std::string name = text_at(path, "path", "unknown");
  const std::string colour(path_colour(name));
  const std::uint64_t exits = count_at(path, "exits"), ns = count_at(path, "ns");
  const std::string name_shown = shorten(name, 16);
  const std::string summary = count_noun(exits, "exit") +
                              (exits != 0 ? ", mean " + duration(ns / exits) : "") + ", total " +
                              duration(ns);
  // SVG collapses a tspan's leading spaces, so the gap after the name is a dx.
  const double name_gap = kAdvance * kFont;
  const std::size_t room = chars_fitting(kHistWidth - name_gap, kFont) - char_count(name_shown);
  svg.text_markup(x, y + 14,
                  tspan(name_shown, "font-weight=\"bold\" fill=\"" + colour + "\"") +
                      tspan(shorten(summary, room), "dx=\"" + coord(name_gap) + "\""),
                  font(kFont, kInk, "class=\"hist-title\""));

  const double plot_x = x + kHistAxisRoom, plot_w = kHistWidth - kHistAxisRoom - 6;
  const double plot_y = y + kHistTitleRoom, plot_h = kHistHeight - kHistTitleRoom - kHistLabelRoom;
  const std::vector<Column> columns = histogram_columns(path);
  if (columns.empty()) {
    svg.rect(plot_x, plot_y, plot_w, plot_h, "fill=\"none\" stroke=\"" + std::string(kGrid) + "\"");
    svg.text(plot_x + plot_w / 2, plot_y + plot_h / 2, "no histogram",
             font(kFont, kMuted, "text-anchor=\"middle\" font-style=\"italic\""));
    return;
  }

  std::uint64_t max = 0;
  for (const Column& c : columns) max = std::max(max, c.exits);
  const Scale scale = linear_scale(max, kHistTicks);
  const double px_per_exit = plot_h / scale.domain();
  for (std::uint64_t i = 0; i <= scale.intervals; ++i) {
    const double gy = plot_y + plot_h - static_cast<double>(i * scale.step) * px_per_exit;
    svg.line(plot_x, gy, plot_x + plot_w, gy, i == 0 ? kAxis : kGrid);
    svg.text(plot_x - 6, gy + kSmallFont * 0.35, compact(i * scale.step),
             font(kSmallFont, kMuted, "text-anchor=\"end\""));
  }

  const double column_w = std::min(plot_w / static_cast<double>(columns.size()), kHistMaxColumn);
  const double gap = std::max(1.0, column_w * 0.12);
  std::size_t label_chars = 0;
  for (const Column& c : columns)
    label_chars = std::max(label_chars, char_count(bucket_label(c.from_ns)));
  // Label every k-th column so that labels never touch.
  const double label_w = static_cast<double>(label_chars) * kAdvance * kSmallFont + 6;
  const auto label_every = static_cast<std::size_t>(std::max(1.0, std::ceil(label_w / column_w)));
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const Column& c = columns[i];
    const double cx = plot_x + static_cast<double>(i) * column_w;
    const double h = static_cast<double>(c.exits) * px_per_exit;
    svg.rect(cx + gap / 2, plot_y + plot_h - h, column_w - gap, h,
             "class=\"hist " + path_class(name) + "\" data-from-ns=\"" + std::to_string(c.from_ns) +
                 "\" data-exits=\"" + std::to_string(c.exits) + "\" fill=\"" + colour + "\"",
             name + ": " + bucket_label(c.from_ns) + " to " + bucket_label(c.to_ns) + ", " +
                 grouped(c.exits) + " exits");
    if (i % label_every == 0)
      svg.text(cx + column_w / 2, plot_y + plot_h + 13, bucket_label(c.from_ns),
               font(kSmallFont, kMuted, "class=\"bucket\" text-anchor=\"middle\""));
  }
  svg.text(plot_x + plot_w / 2, plot_y + plot_h + 28, "handling time per exit (log2 buckets)",
           font(kSmallFont, kMuted, "text-anchor=\"middle\""));
}

double draw_histograms(SvgWriter& svg, const json& guest, double y) {
  svg.text(kPad, y, "Handling time per exit, by path",
           font(kHeadFont, kInk, "font-weight=\"bold\""));
  y += 8;
  std::vector<const json*> paths;
  for (const json& path : array_at(guest, "paths"))
    if (path.is_object()) paths.push_back(&path);
  if (paths.empty()) {
    svg.text(kPad, y + 14, "no I/O or MMIO exits", font(kFont, kMuted, "font-style=\"italic\""));
    return y + 26;
  }
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const double hx = kPad + static_cast<double>(i % 2) * (kHistWidth + kHistGap);
    const double hy = y + static_cast<double>(i / 2) * kHistHeight;
    draw_histogram(svg, *paths[i], hx, hy);
  }
  return y + static_cast<double>((paths.size() + 1) / 2) * kHistHeight + 4;
}

// --- One guest. ---

// The panel's contents in panel coordinates; returns the panel's height.
double draw_guest(SvgWriter& svg, const json& guest) {
  double y = kPad + kTitleFont;
  const std::string name = shorten(text_at(guest, "name", "(unnamed)"), 40);
  std::string facts = "\u00b7 " + text_at(guest, "outcome", "unknown outcome");
  if (guest.is_object() && guest.contains("status") && guest["status"].is_number_integer())
    facts += " (status " + std::to_string(guest["status"].get<std::int64_t>()) + ")";
  facts += " \u00b7 " + count_noun(count_at(guest, "exits"), "exit") + " to userspace \u00b7 " +
           duration(count_at(guest, "handling_ns")) + " handling";
  const double gap = kAdvance * kHeadFont;  // a tspan's leading spaces would collapse
  const double facts_room = kPanelWidth - 2 * kPad - text_width(name, kTitleFont) - gap;
  svg.text_markup(kPad, y,
                  tspan(name, "font-size=\"" + coord(kTitleFont) + "\" font-weight=\"bold\"") +
                      tspan(shorten(facts, chars_fitting(facts_room, kHeadFont)),
                            "font-size=\"" + coord(kHeadFont) + "\" dx=\"" + coord(gap) + "\""),
                  font(kTitleFont, kInk, "class=\"guest-title\""));

  const std::size_t line_chars = chars_fitting(kPanelWidth - 2 * kPad, kFont);
  y += 18;
  svg.text(kPad, y,
           shorten("run " + duration(count_at(guest, "run_ns")) + " \u00b7 " +
                       grouped(count_at(guest, "interrupted_runs")) +
                       " interrupted runs (EINTR, not exits)",
                   line_chars),
           font(kFont, kMuted));
  std::string reasons = "exits by reason:";
  bool first = true;
  for (const json& r : array_at(guest, "by_reason")) {
    if (!r.is_object()) continue;
    reasons += (first ? " " : " \u00b7 ") + text_at(r, "reason", "?") + " " +
               grouped(count_at(r, "exits")) + " (" + duration(count_at(r, "ns")) + ")";
    first = false;
  }
  if (first) reasons += " none";
  y += 16;
  svg.text(kPad, y, shorten(reasons, line_chars), font(kFont, kMuted, "class=\"reasons\""));

  y = draw_exit_bars(svg, guest, y + 28);
  y = draw_histograms(svg, guest, y + 22);
  return y + kPad;
}

}  // namespace

std::string profile_svg(const nlohmann::json& profile) {
  if (!profile.is_object() || !profile.contains("guests") || !profile["guests"].is_array())
    throw std::invalid_argument("profile_svg: profile[\"guests\"] is not an array");
  const json& guests = profile["guests"];

  SvgWriter body;
  double y = kMargin + kPageTitleFont;
  const std::string heading = "vpio exit profile  \u00b7  " + std::to_string(guests.size()) +
                              (guests.size() == 1 ? " guest" : " guests");
  body.text(kMargin, y, heading, font(kPageTitleFont, kInk, "font-weight=\"bold\""));
  y += 14;
  if (guests.empty()) {
    y += 8;
    body.text(kMargin, y + kFont, "no guests in this profile",
              font(kFont, kMuted, "class=\"note\" font-style=\"italic\""));
    y += kFont + 8;
  }
  for (const json& guest : guests) {
    SvgWriter panel;
    const double height = draw_guest(panel, guest);
    body.open_group("class=\"guest\" transform=\"translate(" + coord(kMargin) + "," + coord(y) +
                    ")\"");
    body.rect(0, 0, kPanelWidth, height,
              "class=\"panel\" rx=\"6\" fill=\"#fcfcfc\" stroke=\"#d0d0d0\"");
    body.append(panel.str());
    body.close_group();
    y += height + kPanelGap;
  }
  const double page_height = y + kMargin - (guests.empty() ? 0 : kPanelGap);

  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + coord(kPageWidth) + "\" height=\"" +
         coord(page_height) + "\" viewBox=\"0 0 " + coord(kPageWidth) + " " + coord(page_height) +
         "\" font-family=\"monospace\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  svg += body.str();
  svg += "</svg>\n";
  return svg;
}

}  // namespace vpio

// The SVG picture of an exit profile: document shape, bar and histogram
// geometry read back from the rects it draws, escaping, and inputs with
// missing parts.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "profile/render/profile_svg.hpp"

namespace vpio {
namespace {

using nlohmann::json;
using Attributes = std::map<std::string, std::string>;

json port_row(std::uint64_t port, const std::string& device, std::uint64_t offset,
              const std::string& direction, const std::string& path, std::uint64_t exits) {
  return {{"port", port}, {"device", device}, {"offset", offset},  {"direction", direction},
          {"path", path}, {"exits", exits},   {"accesses", exits}, {"ns", exits * 900}};
}

json mmio_row(std::uint64_t address, const std::string& device, std::uint64_t offset,
              const std::string& path, std::uint64_t exits) {
  return {{"address", address}, {"device", device}, {"offset", offset},   {"direction", "write"},
          {"path", path},       {"exits", exits},   {"bytes", exits * 4}, {"ns", exits * 1200}};
}

json bucket(std::uint64_t from_ns, std::uint64_t exits) {
  return {{"from_ns", from_ns}, {"to_ns", from_ns * 2}, {"exits", exits}};
}

json guest_named(const std::string& name) {
  return {{"name", name},
          {"outcome", "exited"},
          {"status", 0},
          {"run_ns", 812345678},
          {"exits", 1750},
          {"handling_ns", 45678901},
          {"interrupted_runs", 12},
          {"by_reason", json::array({{{"reason", "io"}, {"code", 2}, {"exits", 1750}, {"ns", 1}}})},
          {"ports", json::array()},
          {"mmio", json::array()},
          {"paths", json::array()}};
}

json profile_of(const std::vector<json>& guests) {
  return {{"schema", "vpio-profile/1"}, {"guests", guests}};
}

// The attributes of every start tag named `tag`.
std::vector<Attributes> elements(const std::string& svg, const std::string& tag) {
  std::vector<Attributes> found;
  const std::regex start("<" + tag + R"(\s([^>]*?)/?>)");
  const std::regex attribute(R"(([\w:-]+)=\"([^\"]*)\")");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), start); it != std::sregex_iterator();
       ++it) {
    Attributes attrs;
    const std::string inside = (*it)[1];
    for (auto a = std::sregex_iterator(inside.begin(), inside.end(), attribute);
         a != std::sregex_iterator(); ++a)
      attrs[(*a)[1]] = (*a)[2];
    found.push_back(attrs);
  }
  return found;
}

// Only the elements whose class list holds `cls`.
std::vector<Attributes> with_class(const std::vector<Attributes>& all, const std::string& cls) {
  std::vector<Attributes> found;
  for (const Attributes& a : all) {
    const auto it = a.find("class");
    if (it == a.end()) continue;
    const std::string padded = " " + it->second + " ";
    if (padded.find(" " + cls + " ") != std::string::npos) found.push_back(a);
  }
  return found;
}

double number(const Attributes& a, const std::string& name) {
  const auto it = a.find(name);
  if (it == a.end()) ADD_FAILURE() << "no attribute " << name;
  return it == a.end() ? NAN : std::stod(it->second);
}

// "" if the document is well-formed as far as this checks: an optional XML
// declaration, then exactly one root element; every tag closed in order or
// self-closed; attribute quotes paired; every '&' an entity; no text outside
// the root.
std::string xml_problem(const std::string& doc) {
  std::vector<std::string> open;
  int roots = 0;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const char c = doc[i];
    if (c == '<') {
      const std::size_t end = doc.find('>', i);
      if (end == std::string::npos) return "unterminated tag at " + std::to_string(i);
      const std::string tag = doc.substr(i + 1, end - i - 1);
      i = end;
      if (tag.find('<') != std::string::npos) return "'<' inside tag " + tag;
      if (tag.starts_with("?")) {
        if (!open.empty() || roots != 0) return "declaration after the root";
        continue;
      }
      if (std::count(tag.begin(), tag.end(), '"') % 2 != 0) return "unpaired quote in " + tag;
      if (tag.starts_with("/")) {
        if (open.empty() || open.back() != tag.substr(1)) return "unexpected </" + tag.substr(1);
        open.pop_back();
        continue;
      }
      const std::string name = tag.substr(0, tag.find_first_of(" \n/"));
      if (open.empty()) ++roots;
      if (!tag.ends_with("/")) open.push_back(name);
    } else if (c == '&') {
      static const std::regex entity(R"(^&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)");
      if (!std::regex_search(doc.substr(i, 12), entity)) return "bare & at " + std::to_string(i);
    } else if (open.empty() && !std::isspace(static_cast<unsigned char>(c))) {
      return "text outside the root at " + std::to_string(i);
    }
  }
  if (!open.empty()) return "unclosed <" + open.back() + ">";
  if (roots != 1) return std::to_string(roots) + " root elements";
  return "";
}

std::size_t occurrences(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1))
    ++n;
  return n;
}

json busy_guest() {
  json g = guest_named("net_sender");
  g["ports"] = json::array({port_row(0x300, "ne2000", 0, "in", "direct", 600),
                            port_row(0x300, "ne2000", 0, "out", "direct", 400),
                            port_row(0x300, "ne2000", 0, "out", "hooked", 250),
                            port_row(0x310, "ne2000", 16, "in", "emulated", 300),
                            port_row(0x80, "", 0, "out", "unclaimed", 100)});
  g["mmio"] = json::array({mmio_row(0xd0000000, "scratch", 0x10, "emulated", 100)});
  g["paths"] = json::array({{{"path", "direct"},
                             {"exits", 1000},
                             {"ns", 900000},
                             {"histogram", json::array({bucket(512, 800), bucket(1024, 200)})}},
                            {{"path", "hooked"},
                             {"exits", 250},
                             {"ns", 500000},
                             {"histogram", json::array({bucket(1024, 50), bucket(2048, 200)})}},
                            {{"path", "emulated"},
                             {"exits", 400},
                             {"ns", 4000000},
                             {"histogram", json::array({bucket(4096, 300), bucket(1048576, 100)})}},
                            {{"path", "unclaimed"},
                             {"exits", 100},
                             {"ns", 30000},
                             {"histogram", json::array({bucket(256, 100)})}}});
  return g;
}

TEST(ProfileSvg, IsOneWellFormedStandaloneDocument) {
  const std::string svg = profile_svg(profile_of({busy_guest(), guest_named("second")}));
  EXPECT_TRUE(svg.starts_with("<?xml")) << svg.substr(0, 40);
  EXPECT_EQ(occurrences(svg, "<svg"), 1u);
  EXPECT_NE(svg.find("xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_EQ(occurrences(svg, "<g "), occurrences(svg, "</g>"));

  const std::vector<Attributes> root = elements(svg, "svg");
  ASSERT_EQ(root.size(), 1u);
  const double width = number(root[0], "width"), height = number(root[0], "height");
  EXPECT_GT(width, 0);
  EXPECT_GT(height, 0);
  EXPECT_EQ(root[0].at("viewBox"), "0 0 " + root[0].at("width") + " " + root[0].at("height"));
  // Standalone: nothing fetched, nothing run.
  for (const char* outside : {"<script", "<style", "href", "@import", "url("})
    EXPECT_EQ(svg.find(outside), std::string::npos) << outside;
}

TEST(ProfileSvg, TitleLineNamesGuestOutcomeExitsAndHandlingTime) {
  const std::string svg = profile_svg(profile_of({busy_guest()}));
  const std::size_t title = svg.find("class=\"guest-title\"");
  ASSERT_NE(title, std::string::npos);
  const std::string line = svg.substr(title, svg.find("</text>", title) - title);
  EXPECT_NE(line.find("net_sender"), std::string::npos) << line;
  EXPECT_NE(line.find("exited"), std::string::npos) << line;
  EXPECT_NE(line.find("1,750 exits to userspace"), std::string::npos) << line;
  EXPECT_NE(line.find("45.7ms handling"), std::string::npos) << line;
  EXPECT_NE(svg.find("io 1,750"), std::string::npos);  // exits by reason
}

TEST(ProfileSvg, BarSegmentsAreProportionalToExits) {
  const std::string svg = profile_svg(profile_of({busy_guest()}));
  const std::vector<Attributes> bars = with_class(elements(svg, "rect"), "bar");
  ASSERT_EQ(bars.size(), 5u);  // 0x300 direct+hooked, 0x310, 0x80, 0xd0000000
  const double px_per_exit = number(bars[0], "width") / number(bars[0], "data-exits");
  EXPECT_GT(px_per_exit, 0);
  for (const Attributes& bar : bars)
    EXPECT_NEAR(number(bar, "width"), number(bar, "data-exits") * px_per_exit, 0.02)
        << bar.at("data-target") << " " << bar.at("data-path");

  // The longest bar first; one port's segments abut, in path order.
  EXPECT_EQ(bars[0].at("data-target"), "0x300");
  EXPECT_EQ(bars[0].at("data-path"), "direct");
  EXPECT_EQ(bars[0].at("data-exits"), "1000");
  EXPECT_EQ(bars[1].at("data-target"), "0x300");
  EXPECT_EQ(bars[1].at("data-path"), "hooked");
  EXPECT_NEAR(number(bars[0], "x") + number(bars[0], "width"), number(bars[1], "x"), 0.02);
  EXPECT_EQ(bars[1].at("y"), bars[0].at("y"));
  // All bars start at the same axis, one row below the other.
  EXPECT_EQ(bars[2].at("x"), bars[0].at("x"));
  EXPECT_GT(number(bars[2], "y"), number(bars[0], "y"));
  // The widest bar fits on the page.
  EXPECT_LT(number(bars[1], "x") + number(bars[1], "width"), 1000);
}

TEST(ProfileSvg, SumsDirectionsPerPortAndLabelsDevices) {
  const std::string svg = profile_svg(profile_of({busy_guest()}));
  const std::vector<Attributes> bars = with_class(elements(svg, "rect"), "bar");
  std::map<std::string, int> per_target;
  for (const Attributes& bar : bars)
    ++per_target[bar.at("data-target") + "/" + bar.at("data-path")];
  EXPECT_EQ(per_target["0x300/direct"], 1);  // "in" and "out" rows are one segment
  EXPECT_EQ(with_class(bars, "path-direct").at(0).at("data-exits"), "1000");
  EXPECT_NE(svg.find(">0x300<"), std::string::npos);
  EXPECT_NE(svg.find(">ne2000+0<"), std::string::npos);
  EXPECT_NE(svg.find(">ne2000+16<"), std::string::npos);
  EXPECT_NE(svg.find(">0x80<"), std::string::npos);
  EXPECT_NE(svg.find(">(unclaimed)<"), std::string::npos);
  EXPECT_NE(svg.find(">1,250<"), std::string::npos);  // the count at 0x300's bar end
}

TEST(ProfileSvg, DrawsMmioRowsAsBars) {
  const std::string svg = profile_svg(profile_of({busy_guest()}));
  const std::vector<Attributes> bars = with_class(elements(svg, "rect"), "bar");
  bool found = false;
  for (const Attributes& bar : bars)
    if (bar.at("data-target") == "0xd0000000") {
      found = true;
      EXPECT_EQ(bar.at("data-path"), "emulated");
      EXPECT_EQ(bar.at("data-exits"), "100");
    }
  EXPECT_TRUE(found);
  EXPECT_NE(svg.find(">scratch+0x10<"), std::string::npos);
}

TEST(ProfileSvg, PathsHaveDistinctColoursAndALegend) {
  const std::string svg = profile_svg(profile_of({busy_guest()}));
  const std::vector<Attributes> rects = elements(svg, "rect");
  std::set<std::string> colours;
  for (const char* path : {"direct", "hooked", "emulated", "unclaimed"}) {
    const std::string cls = std::string("path-") + path;
    const std::vector<Attributes> legend = with_class(with_class(rects, "legend"), cls);
    ASSERT_EQ(legend.size(), 1u) << path;
    colours.insert(legend[0].at("fill"));
    for (const Attributes& bar : with_class(with_class(rects, "bar"), cls))
      EXPECT_EQ(bar.at("fill"), legend[0].at("fill")) << path;
    for (const Attributes& column : with_class(with_class(rects, "hist"), cls))
      EXPECT_EQ(column.at("fill"), legend[0].at("fill")) << path;
  }
  EXPECT_EQ(colours.size(), 4u);
}

TEST(ProfileSvg, UnknownPathsGetTheirOwnColourAndLegendEntry) {
  json g = busy_guest();
  g["ports"].push_back(port_row(0x300, "ne2000", 0, "in", "replayed", 50));
  const std::string svg = profile_svg(profile_of({g}));
  const std::vector<Attributes> rects = elements(svg, "rect");
  const std::vector<Attributes> other = with_class(with_class(rects, "bar"), "path-other");
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(other[0].at("data-path"), "replayed");
  EXPECT_EQ(other[0].at("data-target"), "0x300");
  const std::vector<Attributes> legend = with_class(with_class(rects, "legend"), "path-other");
  ASSERT_EQ(legend.size(), 1u);
  EXPECT_EQ(legend[0].at("fill"), other[0].at("fill"));
  for (const Attributes& known : with_class(rects, "legend")) {
    if (known.at("class") != "legend path-other") {
      EXPECT_NE(known.at("fill"), other[0].at("fill"));
    }
  }
  // After the known paths in the bar, so the schema's paths keep their place.
  const std::vector<Attributes> bars = with_class(rects, "bar");
  EXPECT_EQ(bars[2].at("data-path"), "replayed");
}

TEST(ProfileSvg, EscapesNamesFromFiles) {
  json g = busy_guest();
  g["name"] = "a<b>&\"c'";
  g["ports"].push_back(port_row(0x3f8, "<uart>&co", 0, "out", "emulated", 5));
  g["ports"].push_back(port_row(0x3f9, "bad\x01\xff", 0, "out", "emulated", 4));
  const std::string svg = profile_svg(profile_of({g}));
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_NE(svg.find("a&lt;b&gt;&amp;&quot;c&apos;"), std::string::npos);
  EXPECT_NE(svg.find("&lt;uart&gt;&amp;co+0"), std::string::npos);
  EXPECT_EQ(svg.find("<uart>"), std::string::npos);
  EXPECT_EQ(svg.find('\x01'), std::string::npos);
  EXPECT_EQ(svg.find('\xff'), std::string::npos);
}

TEST(ProfileSvg, EmptyGuestsGiveANote) {
  const std::string svg = profile_svg(profile_of({}));
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_NE(svg.find("no guests"), std::string::npos);
  EXPECT_TRUE(with_class(elements(svg, "g"), "guest").empty());
  EXPECT_TRUE(with_class(elements(svg, "rect"), "bar").empty());
}

TEST(ProfileSvg, GuestWithoutPortsHasNoBars) {
  json g = guest_named("idle");
  g.erase("ports");
  g.erase("mmio");
  const std::string svg = profile_svg(profile_of({g}));
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_TRUE(with_class(elements(svg, "rect"), "bar").empty());
  EXPECT_NE(svg.find("no port or MMIO exits"), std::string::npos);
}

TEST(ProfileSvg, FillsHistogramGaps) {
  json g = guest_named("gaps");
  g["paths"] = json::array(
      {{{"path", "direct"},
        {"exits", 15},
        {"ns", 30000},
        {"histogram", json::array({bucket(256, 3), bucket(1024, 5), bucket(4096, 7)})}}});
  const std::string svg = profile_svg(profile_of({g}));
  const std::vector<Attributes> columns = with_class(elements(svg, "rect"), "hist");
  ASSERT_EQ(columns.size(), 5u);
  const std::vector<std::string> from = {"256", "512", "1024", "2048", "4096"};
  const std::vector<std::string> exits = {"3", "0", "5", "0", "7"};
  for (std::size_t i = 0; i < columns.size(); ++i) {
    EXPECT_EQ(columns[i].at("data-from-ns"), from[i]);
    EXPECT_EQ(columns[i].at("data-exits"), exits[i]);
    if (i > 0) {
      EXPECT_GT(number(columns[i], "x"), number(columns[i - 1], "x"));
    }
  }
  EXPECT_EQ(number(columns[1], "height"), 0);
}

TEST(ProfileSvg, HistogramHeightsAreProportionalAndBucketsReadInUnits) {
  json g = guest_named("latency");
  g["paths"] = json::array(
      {{{"path", "hooked"},
        {"exits", 700},
        {"ns", 1400000},
        {"histogram", json::array({bucket(512, 100), bucket(1024, 400), bucket(2048, 200)})}}});
  const std::string svg = profile_svg(profile_of({g}));
  const std::vector<Attributes> columns = with_class(elements(svg, "rect"), "hist");
  ASSERT_EQ(columns.size(), 3u);
  const double px_per_exit = number(columns[1], "height") / 400;
  EXPECT_GT(px_per_exit, 0);
  // Bars stand on one baseline.
  for (const Attributes& c : columns) {
    EXPECT_NEAR(number(c, "height"), number(c, "data-exits") * px_per_exit, 0.02);
    EXPECT_NEAR(number(c, "y") + number(c, "height"),
                number(columns[0], "y") + number(columns[0], "height"), 0.02);
  }
  EXPECT_EQ(columns[0].at("class"), "hist path-hooked");
  for (const char* label : {">512ns<", ">1\u00b5s<", ">2\u00b5s<"})
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  EXPECT_NE(svg.find("700 exits, mean 2\u00b5s"), std::string::npos);  // 1.4ms / 700
}

TEST(ProfileSvg, ShowsTop16PortsThenAMoreLine) {
  json g = guest_named("many");
  std::uint64_t hidden = 0;
  for (std::uint64_t i = 0; i < 20; ++i) {
    const std::uint64_t exits = 100 + 10 * i;  // port 0x200 fewest, 0x213 most
    if (i < 4) hidden += exits;
    g["ports"].push_back(port_row(0x200 + i, "dev", i, "out", "direct", exits));
  }
  const std::string svg = profile_svg(profile_of({g}));
  const std::vector<Attributes> bars = with_class(elements(svg, "rect"), "bar");
  ASSERT_EQ(bars.size(), 16u);
  EXPECT_EQ(bars.front().at("data-target"), "0x213");
  EXPECT_EQ(bars.back().at("data-target"), "0x204");
  for (std::size_t i = 1; i < bars.size(); ++i)
    EXPECT_LT(number(bars[i], "width"), number(bars[i - 1], "width"));
  EXPECT_NE(svg.find("4 more ports, " + std::to_string(hidden) + " exits"), std::string::npos);
}

TEST(ProfileSvg, SixteenPortsHaveNoMoreLine) {
  json g = guest_named("exactly16");
  for (std::uint64_t i = 0; i < 16; ++i)
    g["ports"].push_back(port_row(0x200 + i, "dev", i, "out", "direct", 5));
  const std::string svg = profile_svg(profile_of({g}));
  EXPECT_EQ(with_class(elements(svg, "rect"), "bar").size(), 16u);
  EXPECT_EQ(svg.find("more ports"), std::string::npos);
}

TEST(ProfileSvg, ToleratesMissingAndMistypedFields) {
  json no_paths = busy_guest();
  no_paths.erase("paths");
  json no_histogram = busy_guest();
  no_histogram["paths"][0].erase("histogram");
  json odd = guest_named("odd");
  odd["ports"] = json::array({42, port_row(0x60, "kbd", 0, "in", "emulated", 3)});
  odd["ports"][1]["exits"] = "many";
  odd["paths"] = json::array({"direct", {{"path", "direct"}, {"histogram", {{"a", 1}}}}});
  odd["by_reason"] = "io";
  odd["name"] = 7;
  const std::vector<json> guests = {json::object(), json::array(), nullptr,
                                    no_paths,       no_histogram,  odd};
  std::string svg;
  ASSERT_NO_THROW(svg = profile_svg(profile_of(guests)));
  EXPECT_EQ(xml_problem(svg), "");
  EXPECT_EQ(with_class(elements(svg, "g"), "guest").size(), guests.size());
  EXPECT_NE(svg.find("no histogram"), std::string::npos);
  EXPECT_NE(svg.find("no I/O or MMIO exits"), std::string::npos);
}

TEST(ProfileSvg, RejectsGuestsThatAreNotAnArray) {
  EXPECT_THROW(profile_svg(json{{"schema", "vpio-profile/1"}, {"guests", json::object()}}),
               std::invalid_argument);
  EXPECT_THROW(profile_svg(json{{"schema", "vpio-profile/1"}}), std::invalid_argument);
  EXPECT_THROW(profile_svg(json::array()), std::invalid_argument);
  EXPECT_THROW(profile_svg(json("vpio-profile/1")), std::invalid_argument);
}

TEST(ProfileSvg, IsDeterministic) {
  const json profile = profile_of({busy_guest(), guest_named("other")});
  EXPECT_EQ(profile_svg(profile), profile_svg(profile));
  EXPECT_EQ(profile_svg(profile), profile_svg(json::parse(profile.dump())));
}

TEST(ProfileSvg, PanelsStackWithoutOverlapInsideThePage) {
  const std::string svg = profile_svg(profile_of({busy_guest(), guest_named("b"), busy_guest()}));
  const std::vector<Attributes> groups = with_class(elements(svg, "g"), "guest");
  const std::vector<Attributes> panels = with_class(elements(svg, "rect"), "panel");
  ASSERT_EQ(groups.size(), 3u);
  ASSERT_EQ(panels.size(), 3u);
  const std::regex translate(R"(translate\(([0-9.]+),([0-9.]+)\))");
  double previous_end = 0;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(groups[i].at("transform"), m, translate));
    const double top = std::stod(m[2]);
    EXPECT_GE(top, previous_end);
    previous_end = top + number(panels[i], "height");
    EXPECT_LE(std::stod(m[1]) + number(panels[i], "width"), 1000);
  }
  EXPECT_LE(previous_end, number(elements(svg, "svg").at(0), "height"));
}

}  // namespace
}  // namespace vpio

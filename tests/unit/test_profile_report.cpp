// The profile validator and text report on a small hand-written profile, and
// on every kind of wrong JSON value in every place.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "profile/render/profile_report.hpp"

namespace vpio {
namespace {

using nlohmann::json;

// Two guests: one with every table filled, one that halted at once on a kernel
// without KVM binary statistics. Schema /1 (older vpio's), which --report still
// reads; v2() below turns it into what vpio writes now.
const char* const kProfile = R"({
  "schema": "vpio-profile/1",
  "guests": [
    {
      "name": "net_sender", "outcome": "exited", "status": 0,
      "run_ns": 812345678, "exits": 5610, "handling_ns": 4590000, "interrupted_runs": 12,
      "by_reason": [
        {"reason": "io", "code": 2, "exits": 5000, "ns": 4500000},
        {"reason": "hlt", "code": 5, "exits": 600, "ns": 60000},
        {"reason": "mmio", "code": 6, "exits": 10, "ns": 30000}
      ],
      "ports": [
        {"port": 128, "device": "", "offset": 0, "direction": "out", "path": "unclaimed",
         "exits": 2, "accesses": 2, "ns": 800},
        {"port": 768, "device": "ne2000", "offset": 0, "direction": "out", "path": "direct",
         "exits": 1000, "accesses": 1000, "ns": 900000},
        {"port": 768, "device": "ne2000", "offset": 0, "direction": "out", "path": "hooked",
         "exits": 3, "accesses": 3, "ns": 30000},
        {"port": 784, "device": "ne2000", "offset": 16, "direction": "in", "path": "direct",
         "exits": 3988, "accesses": 7976, "ns": 3560000},
        {"port": 1016, "device": "console", "offset": 0, "direction": "out", "path": "emulated",
         "exits": 7, "accesses": 7, "ns": 9200}
      ],
      "mmio": [
        {"address": 3489660928, "device": "scratch", "offset": 0, "direction": "write",
         "path": "emulated", "exits": 10, "bytes": 40, "ns": 30000}
      ],
      "paths": [
        {"path": "direct", "exits": 5000, "ns": 4460000, "histogram": [
          {"from_ns": 512, "to_ns": 1024, "exits": 800},
          {"from_ns": 1024, "to_ns": 2048, "exits": 4100},
          {"from_ns": 2048, "to_ns": 4096, "exits": 100}]},
        {"path": "hooked", "exits": 3, "ns": 30000, "histogram": [
          {"from_ns": 8192, "to_ns": 16384, "exits": 3}]},
        {"path": "emulated", "exits": 17, "ns": 39200, "histogram": []},
        {"path": "unclaimed", "exits": 2, "ns": 800, "histogram": [
          {"from_ns": 256, "to_ns": 512, "exits": 2}]}
      ],
      "sites": [
        {"rip": 1048640, "instruction": "rep insw word ptr [rdi], dx", "bytes": "f3 66 6d",
         "reason": "io", "exits": 3988, "accesses": 7976, "ns": 3560000,
         "paths": {"direct": 3988}},
        {"rip": 1048608, "instruction": "out dx, ax", "bytes": "66 ef", "reason": "io",
         "exits": 1003, "accesses": 1003, "ns": 930000, "paths": {"hooked": 3, "direct": 1000}},
        {"rip": 1048832, "instruction": "hlt", "bytes": "f4", "reason": "hlt",
         "exits": 600, "accesses": 0, "ns": 60000, "paths": {}},
        {"rip": 1049088, "instruction": "mov dword ptr [rax], 0x12345678",
         "bytes": "c7 00 78 56 34 12", "reason": "mmio", "exits": 10, "accesses": 10,
         "ns": 30000, "paths": {"emulated": 10}}
      ],
      "kvm_stats": {
        "available": true, "error": "",
        "compared": [
          {"kvm": "io_exits", "kvm_value": 5000, "vpio": "io exits", "vpio_value": 5000,
           "difference": 0, "expected": true, "explanation": "Every port access exits."},
          {"kvm": "mmio_exits", "kvm_value": 12, "vpio": "mmio exits", "vpio_value": 10,
           "difference": -2, "expected": false,
           "explanation": "KVM counted two MMIO exits that never reached userspace. This should not happen with no in-kernel device on the MMIO bus, so this line is long enough to wrap."}
        ],
        "kvm_counters": {"exits": 7023, "io_exits": 5000, "mmio_exits": 12,
                         "insn_emulation": 12, "signal_exits": 0}
      }
    },
    {
      "name": "net_sender#2", "outcome": "halted", "status": 0,
      "run_ns": 1500, "exits": 1, "handling_ns": 700, "interrupted_runs": 0,
      "by_reason": [{"reason": "hlt", "code": 5, "exits": 1, "ns": 700}],
      "ports": [], "mmio": [], "paths": [], "sites": [],
      "kvm_stats": {"available": false, "error": "KVM_GET_STATS_FD: Invalid argument"}
    }
  ]
})";

json profile() { return json::parse(kProfile); }

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The first line of `text` holding every one of `parts`, or "" (to check a
// row's other cells without depending on column widths).
std::string line_with(const std::string& text, std::initializer_list<std::string> parts) {
  for (const std::string& line : lines_of(text))
    if (std::all_of(parts.begin(), parts.end(), [&](const auto& part) { return has(line, part); }))
      return line;
  return "";
}
std::string line_with(const std::string& text, const std::string& part) {
  return line_with(text, {part});
}

std::size_t columns(const std::string& line) {
  return static_cast<std::size_t>(std::count_if(line.begin(), line.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

void expect_within_width(const std::string& report) {
  for (const std::string& line : lines_of(report)) EXPECT_LE(columns(line), 100u) << line;
}

// The message validate_profile throws for `p`, or "" if it accepts it.
std::string problem(const json& p) {
  try {
    validate_profile(p);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

// The same document with every unsigned number stored as a signed one, as
// JSON built in code holds them.
json with_signed_numbers(const json& value) {
  if (value.is_number_unsigned()) return static_cast<std::int64_t>(value.get<std::uint64_t>());
  if (value.is_structured()) {
    json out = value;
    for (auto& [key, item] : value.items()) {
      if (value.is_array())
        out[std::stoul(key)] = with_signed_numbers(item);
      else
        out[key] = with_signed_numbers(item);
    }
    return out;
  }
  return value;
}

TEST(ProfileReport, AcceptsTheExampleProfile) { EXPECT_EQ(problem(profile()), ""); }

TEST(ProfileReport, GuestHeader) {
  const std::string report = profile_text_report(profile());
  EXPECT_TRUE(has(report, "vpio profile: 2 guests\n"));
  // Too long for one line: it breaks between clauses.
  EXPECT_TRUE(has(report,
                  "\nguest net_sender: exited, status 0; 5,610 exits to userspace in 812 ms, "
                  "4.59 ms handling;\n  12 interrupted runs\n"))
      << report;
  json p = profile();
  p["guests"][1]["name"] = "short";
  p["guests"][1]["interrupted_runs"] = 1;
  EXPECT_TRUE(has(profile_text_report(p),
                  "\nguest short: halted, status 0; 1 exit to userspace "
                  "in 1.50 µs, 700 ns handling; 1 interrupted run\n"));
}

TEST(ProfileReport, ExitsByReason) {
  const std::string report = profile_text_report(profile());
  const std::string io = line_with(report, "    io  ");
  EXPECT_TRUE(has(io, "5,000")) << io;
  EXPECT_TRUE(has(io, "89.1 %")) << io;
  EXPECT_TRUE(has(io, "4.50 ms")) << io;
  EXPECT_TRUE(has(io, "900 ns")) << io;
}

TEST(ProfileReport, PortsByExitsWithDeviceAndOffset) {
  const std::string report = profile_text_report(profile());
  const std::string in = line_with(report, "0x310");
  EXPECT_TRUE(has(in, "ne2000+0x10")) << in;
  EXPECT_TRUE(has(in, " in ")) << in;
  EXPECT_TRUE(has(in, "3,988")) << in;
  EXPECT_TRUE(has(in, "7,976")) << in;
  EXPECT_TRUE(has(in, "3.56 ms")) << in;
  EXPECT_TRUE(has(in, "893 ns")) << in;
  const std::string direct = line_with(report, {"0x300", "ne2000+0x0 ", " out ", " direct "});
  EXPECT_TRUE(has(direct, "1,000")) << report;
  EXPECT_TRUE(has(line_with(report, "0x80 "), "-")) << "an unclaimed port has no device";
  // Most exits first.
  EXPECT_LT(report.find("0x310"), report.find(direct));
  EXPECT_LT(report.find(direct), report.find(line_with(report, {"0x300", " hooked "})));
  EXPECT_LT(report.find(direct), report.find("console+0x0"));
}

TEST(ProfileReport, MmioOnlyWhereThereIsSome) {
  const std::string report = profile_text_report(profile());
  const std::string row = line_with(report, "0xd0000000");
  for (const char* cell : {"scratch+0x0 ", " write ", " emulated ", " 10 ", " 40 ", "30.0 µs"})
    EXPECT_TRUE(has(row, cell)) << row;
  EXPECT_TRUE(row.ends_with(" 3.00 µs")) << row;
  const std::size_t second = report.find("guest net_sender#2");
  EXPECT_EQ(report.find("MMIO", second), std::string::npos);
  EXPECT_NE(report.find("Ports: none", second), std::string::npos);
  EXPECT_NE(report.find("Exit sites: none", second), std::string::npos);
}

TEST(ProfileReport, PathsWithPercentilesAndHistogram) {
  const std::string report = profile_text_report(profile());
  EXPECT_TRUE(has(report, "direct: p50 < 2.05 µs, p99 < 4.10 µs\n")) << report;
  EXPECT_TRUE(has(report, "hooked: p50 < 16.4 µs, p99 < 16.4 µs\n"));
  EXPECT_TRUE(has(report, "emulated: no histogram\n"));
  // The largest bucket has the full bar; the others scale, at least one '#'.
  const std::string largest = line_with(report, "1.02 µs - 2.05 µs");
  EXPECT_TRUE(has(largest, "4,100  " + std::string(40, '#'))) << largest;
  EXPECT_FALSE(has(largest, std::string(41, '#')));
  EXPECT_TRUE(line_with(report, "512 ns - 1.02 µs").ends_with(" 800  ########"));
  EXPECT_TRUE(line_with(report, "2.05 µs - 4.10 µs").ends_with("100  #"));
  const std::string paths = report.substr(report.find("Paths ("));
  const std::string direct = line_with(paths, "    direct  ");
  EXPECT_TRUE(has(direct, "5,000")) << direct;
  EXPECT_TRUE(has(direct, "4.46 ms")) << direct;
  EXPECT_TRUE(has(direct, "892 ns")) << direct;
}

TEST(ProfileReport, ExitSites) {
  const std::string report = profile_text_report(profile());
  const std::string out = line_with(report, "0x100020");
  EXPECT_TRUE(has(out, "out dx, ax")) << out;
  EXPECT_TRUE(has(out, "1,003")) << out;
  EXPECT_TRUE(has(out, "930 µs")) << out;
  // A list too wide for the table continues on the row's next line.
  EXPECT_TRUE(out.ends_with("  direct 1,000,")) << report;
  const std::string more = line_with(report, "hooked 3");
  EXPECT_EQ(more.find_first_not_of(' '), columns(out.substr(0, out.find("direct 1,000,")))) << more;
  EXPECT_TRUE(has(line_with(report, "0x100040"), "rep insw word ptr [rdi], dx"));
  EXPECT_TRUE(has(line_with(report, "0x100200"), "mov dword ptr [rax], 0x12345678")) << report;
  EXPECT_LT(report.find("0x100040"), report.find("0x100020"));
  EXPECT_LT(report.find("0x100020"), report.find("0x100100"));
}

TEST(ProfileReport, KvmCountersBesideVpios) {
  const std::string report = profile_text_report(profile());
  EXPECT_TRUE(has(report, "KVM's own counters (KVM_GET_STATS_FD)\n"));
  const std::string io = line_with(report, "io_exits");
  EXPECT_TRUE(has(io, "io exits")) << io;
  EXPECT_TRUE(io.ends_with("0  expected")) << io;
  const std::string mmio = line_with(report, "mmio_exits");
  EXPECT_TRUE(mmio.ends_with("-2  UNEXPECTED")) << mmio;
  // The explanation follows its row, wrapped.
  const std::size_t row = report.find(mmio);
  EXPECT_LT(row, report.find("        KVM counted two MMIO exits"));
  EXPECT_TRUE(has(report,
                  " with no\n        in-kernel device on the MMIO bus, so this line is long "
                  "enough to wrap.\n"))
      << report;
  EXPECT_TRUE(has(report, "    other KVM counters: exits 7,023, insn_emulation 12\n"));
  EXPECT_TRUE(has(report,
                  "KVM's own counters (KVM_GET_STATS_FD): not available: "
                  "KVM_GET_STATS_FD: Invalid argument\n"));
}

TEST(ProfileReport, TopBoundsPortsMmioAndSites) {
  const std::string report = profile_text_report(profile(), 2);
  EXPECT_TRUE(has(report, "Ports, top 2 of 5 rows by exits\n")) << report;
  EXPECT_TRUE(has(report, "    ... 3 more rows (12 exits)\n"));
  EXPECT_TRUE(has(report, "Exit sites, top 2 of 4 rows by exits\n"));
  EXPECT_TRUE(has(report, "    ... 2 more rows (610 exits)\n"));
  EXPECT_FALSE(has(report, "console+0x0"));
  EXPECT_FALSE(has(report, "0x100100"));
  // Reasons and paths are never cut.
  EXPECT_TRUE(has(report, "    mmio  "));
  EXPECT_TRUE(has(report, "unclaimed: p50"));
  const std::string all = profile_text_report(profile(), 0);
  EXPECT_FALSE(has(all, "more row"));
  EXPECT_TRUE(has(profile_text_report(profile(), 3), "    ... 1 more row (10 exits)\n"));
  EXPECT_TRUE(has(all, "console+0x0"));
}

TEST(ProfileReport, DeterministicAndIndependentOfIntegerStorage) {
  const std::string report = profile_text_report(profile());
  EXPECT_EQ(report, profile_text_report(profile()));
  EXPECT_EQ(report, profile_text_report(with_signed_numbers(profile())));
}

TEST(ProfileReport, LinesFitIn100Columns) {
  expect_within_width(profile_text_report(profile()));
  json p = profile();
  const std::string long_text(300, 'x');
  p["guests"][0]["name"] = "a guest with a " + long_text + " name";
  p["guests"][0]["ports"][1]["device"] = long_text;
  p["guests"][0]["sites"][0]["instruction"] = long_text;
  p["guests"][0]["sites"][0]["reason"] = long_text;
  p["guests"][0]["by_reason"][0]["reason"] = long_text;
  p["guests"][0]["kvm_stats"]["compared"][0]["kvm"] = long_text;
  p["guests"][0]["kvm_stats"]["compared"][0]["explanation"] = long_text + " " + long_text;
  p["guests"][0]["kvm_stats"]["kvm_counters"][long_text] = 5;
  p["guests"][1]["kvm_stats"]["error"] = long_text;
  p["guests"][0]["exits"] = 999'999'999'999u;
  p["guests"][0]["sites"][0]["exits"] = 999'999'999'999u;
  p["guests"][0]["sites"][0]["accesses"] = 999'999'999'999u;
  p["guests"][0]["sites"][0]["ns"] = std::numeric_limits<std::uint64_t>::max();
  p["guests"][0]["ports"][1]["exits"] = 999'999'999'999u;
  p["guests"][0]["ports"][1]["accesses"] = 999'999'999'999u;
  p["guests"][0]["ports"][1]["ns"] = 9'999'000'000'000u;
  json& mmio = p["guests"][0]["mmio"][0];
  mmio["address"] = std::numeric_limits<std::uint64_t>::max();
  mmio["device"] = long_text;
  mmio["exits"] = mmio["bytes"] = 999'999'999'999u;
  mmio["ns"] = 9'999'000'000'000u;
  const std::string report = profile_text_report(p);
  expect_within_width(report);
  EXPECT_TRUE(has(report, "~")) << "cut cells end in '~'";
}

TEST(ProfileReport, ControlCharactersDoNotBreakTheLayout) {
  json p = profile();
  p["guests"][0]["name"] = "two\nlines\tand\x1b[31mred";
  p["guests"][0]["sites"][1]["instruction"] = "out\rdx";
  const std::string report = profile_text_report(p);
  EXPECT_TRUE(has(report, "guest two?lines?and?[31mred:"));
  EXPECT_TRUE(has(report, "out?dx"));
}

TEST(ProfileReport, TimesInThreeSignificantDigits) {
  json p = profile();
  const auto header = [&](std::uint64_t run_ns) {
    p["guests"][1]["run_ns"] = run_ns;
    return line_with(profile_text_report(p), "guest net_sender#2");
  };
  EXPECT_TRUE(has(header(0), " in 0 ns,"));
  EXPECT_TRUE(has(header(999), " in 999 ns,"));
  EXPECT_TRUE(has(header(1000), " in 1.00 µs,"));
  EXPECT_TRUE(has(header(12'345), " in 12.3 µs,"));
  EXPECT_TRUE(has(header(999'499), " in 999 µs,"));
  EXPECT_TRUE(has(header(999'500), " in 1.00 ms,"));
  EXPECT_TRUE(has(header(999'500'000), " in 1.00 s,"));
  EXPECT_TRUE(has(header(4'000'000'000'000), " in 4000 s,"));
}

TEST(ProfileReport, NoGuests) {
  EXPECT_EQ(profile_text_report(json{{"schema", "vpio-profile/1"}, {"guests", json::array()}}),
            "vpio profile: no guests\n");
}

TEST(ProfileReport, ErrorsNameTheJsonPath) {
  json p = profile();
  p["guests"][0]["ports"][1]["path"] = "sideways";
  EXPECT_EQ(problem(p),
            "guests[0].ports[1].path: 'sideways' is not one of direct, hooked, emulated, "
            "unclaimed or coalesced");
  p = profile();
  p["guests"][0]["ports"][3]["direction"] = "read";
  EXPECT_EQ(problem(p), "guests[0].ports[3].direction: 'read' is not in or out");
  p = profile();
  p["guests"][0]["ports"][2]["port"] = 0x10000;
  EXPECT_EQ(problem(p), "guests[0].ports[2].port: above 0xffff");
  p = profile();
  p["guests"][0]["mmio"][0]["direction"] = "out";
  EXPECT_EQ(problem(p), "guests[0].mmio[0].direction: 'out' is not read or write");
  p = profile();
  p["guests"][1]["by_reason"][0].erase("exits");
  EXPECT_EQ(problem(p), "guests[1].by_reason[0].exits: missing");
  p = profile();
  p["guests"][0]["exits"] = "many";
  EXPECT_EQ(problem(p), "guests[0].exits: not a number");
  p = profile();
  p["guests"][0]["exits"] = -1;
  EXPECT_EQ(problem(p), "guests[0].exits: negative");
  p = profile();
  p["guests"][0]["exits"] = 1.5;
  EXPECT_EQ(problem(p), "guests[0].exits: not an integer");
  p = profile();
  p["guests"][0]["paths"][0]["histogram"][2]["to_ns"] = nullptr;
  EXPECT_EQ(problem(p), "guests[0].paths[0].histogram[2].to_ns: not a number");
  p = profile();
  p["guests"][0]["sites"][1]["paths"]["sideways"] = 1;
  EXPECT_EQ(problem(p),
            "guests[0].sites[1].paths.sideways: not a path (direct, hooked, emulated, "
            "unclaimed or coalesced)");
  p = profile();
  p["guests"][0]["kvm_stats"]["kvm_counters"]["exits"] = -5;
  EXPECT_EQ(problem(p), "guests[0].kvm_stats.kvm_counters.exits: negative");
  p = profile();
  p["guests"][0]["kvm_stats"]["compared"][1]["expected"] = "no";
  EXPECT_EQ(problem(p), "guests[0].kvm_stats.compared[1].expected: not a boolean");
  p = profile();
  p["guests"][1]["kvm_stats"].erase("error");
  EXPECT_EQ(problem(p), "guests[1].kvm_stats.error: missing");
  p = profile();
  p["guests"][1]["sites"] = json::object();
  EXPECT_EQ(problem(p), "guests[1].sites: not an array");
  p = profile();
  p["guests"][0]["ports"][0] = json::array();
  EXPECT_EQ(problem(p), "guests[0].ports[0]: not an object");
  p = profile();
  p["schema"] = "x";
  EXPECT_EQ(problem(p), "schema is 'x', expected vpio-profile/2 or vpio-profile/1");
  p.erase("schema");
  EXPECT_EQ(problem(p), "schema: missing");
  p = profile();
  p.erase("guests");
  EXPECT_EQ(problem(p), "guests: missing");
}

TEST(ProfileReport, UnavailableKvmStatsNeedNoRows) {
  json p = profile();
  p["guests"][0]["kvm_stats"] = {{"available", false}, {"error", "old kernel"}};
  EXPECT_EQ(problem(p), "");
  p["guests"][0]["kvm_stats"] = {{"available", true}, {"error", ""}};
  EXPECT_EQ(problem(p), "guests[0].kvm_stats.compared: missing");
}

TEST(ProfileReport, DifferenceMayBeNegativeOrHuge) {
  json p = profile();
  auto& row = p["guests"][0]["kvm_stats"]["compared"][1];
  row["difference"] = std::numeric_limits<std::int64_t>::min();
  EXPECT_TRUE(has(profile_text_report(p), "-9,223,372,036,854,775,808  UNEXPECTED"));
  row["difference"] = std::numeric_limits<std::uint64_t>::max();
  EXPECT_TRUE(has(profile_text_report(p), "+18,446,744,073,709,551,615  UNEXPECTED"));
}

TEST(ProfileReport, GarbageDocumentsAreRejected) {
  for (const json& garbage :
       {json(nullptr), json::array(), json("vpio-profile/1"), json(-1), json(1.5), json(true),
        json::array({json::object({{"schema", "vpio-profile/1"}})})}) {
    SCOPED_TRACE(garbage.dump());
    EXPECT_EQ(problem(garbage), "profile: not an object");
    EXPECT_THROW(profile_text_report(garbage), std::invalid_argument);
  }
  EXPECT_EQ(problem(json{{"schema", "vpio-profile/1"}, {"guests", nullptr}}),
            "guests: not an array");
  EXPECT_EQ(problem(json{{"schema", 1}, {"guests", json::array()}}), "schema: not a string");
  EXPECT_EQ(problem(json{{"schema", "vpio-profile/1"}, {"guests", {nullptr}}}),
            "guests[0]: not an object");
}

// Every value and every container of the profile, replaced by every kind of
// wrong value or removed: the report either comes out or std::invalid_argument
// says why; nothing else is thrown and nothing crashes.
TEST(ProfileReport, AnyValueAnywhereIsSafe) {
  const json good = profile();
  const std::vector<json> garbage = {nullptr,
                                     json::array(),
                                     json::object(),
                                     "x",
                                     "direct",
                                     -1,
                                     1.5,
                                     1e30,
                                     true,
                                     0,
                                     std::numeric_limits<std::uint64_t>::max(),
                                     std::numeric_limits<std::int64_t>::min(),
                                     json::array({1, 2}),
                                     json::object({{"a", 1}})};
  std::vector<json::json_pointer> places;
  const json leaves = good.flatten();
  for (const auto& [pointer, leaf] : leaves.items()) {
    json::json_pointer at(pointer);
    while (!at.empty()) {
      places.push_back(at);
      at = at.parent_pointer();
    }
  }
  std::sort(places.begin(), places.end(),
            [](const auto& a, const auto& b) { return a.to_string() < b.to_string(); });
  places.erase(std::unique(places.begin(), places.end()), places.end());
  std::size_t rejected = 0, reported = 0;
  const auto attempt = [&](const json& p, const std::string& what) {
    try {
      const std::string report = profile_text_report(p, 2);
      EXPECT_FALSE(report.empty()) << what;
      ++reported;
    } catch (const std::invalid_argument&) {
      ++rejected;
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": " << e.what();
    }
  };
  for (const json::json_pointer& place : places) {
    for (const json& value : garbage) {
      json p = good;
      p[place] = value;
      attempt(p, place.to_string() + " = " + value.dump());
    }
    json p = good;
    const json::json_pointer parent = place.parent_pointer();
    if (p[parent].is_object())
      p[parent].erase(place.back());
    else
      p[parent].erase(std::stoul(place.back()));
    attempt(p, "without " + place.to_string());
  }
  EXPECT_GT(rejected, 1000u);
  EXPECT_GT(reported, 100u);
}

}  // namespace
}  // namespace vpio

namespace vpio {
namespace {

// The fixture as vpio-profile/2: the KVM named, each row with its status.
json v2() {
  json p = profile();
  p["schema"] = "vpio-profile/2";
  p["kvm"] = {{"module", "kvm_pvm"},
              {"kernel_release", "6.18.44-fc-v1045"},
              {"flavour", "kvm_pvm 6.18"},
              {"api_version", 12},
              {"capabilities", {{"KVM_CAP_SYNC_REGS", 31}, {"KVM_CAP_NESTED_STATE", 0}}}};
  const json lab = json::array({"kvm_amd 6.1 (lab)"});
  p["guests"][0]["kvm_stats"]["compared"] =
      json::array({{{"kvm", "io_exits"},
                    {"kvm_value", 0},
                    {"vpio", "io exits"},
                    {"vpio_value", 5000},
                    {"difference", 5000},
                    {"status", "not_kept"},
                    {"measured_on", lab},
                    {"measured_here", false},
                    {"explanation",
                     "KVM's io_exits stayed 0 while vpio counted 5000 io exits: not kept by "
                     "this KVM, nothing to compare."}},
                   {{"kvm", "mmio_exits"},
                    {"kvm_value", 12},
                    {"vpio", "mmio exits"},
                    {"vpio_value", 10},
                    {"difference", -2},
                    {"status", "unmeasured"},
                    {"measured_on", lab},
                    {"measured_here", false},
                    {"explanation",
                     "Differs; rule not measured on this KVM (kvm_pvm 6.18), only on kvm_amd "
                     "6.1 (lab). These should be equal."}},
                   {{"kvm", "request_irq_exits"},
                    {"vpio", "irq_window_open exits"},
                    {"vpio_value", 0},
                    {"status", "not_offered"},
                    {"measured_on", lab},
                    {"measured_here", false},
                    {"explanation", "not offered by this KVM"}},
                   {{"kvm", "halt_exits"},
                    {"kvm_value", 600},
                    {"vpio", "hlt exits"},
                    {"vpio_value", 600},
                    {"difference", 0},
                    {"status", "agrees"},
                    {"measured_on", lab},
                    {"measured_here", false},
                    {"explanation", "Every hlt exits."}}});
  return p;
}

}  // namespace

namespace {

TEST(ProfileReportV2, NamesTheKvmAndEachRowsStatus) {
  const std::string report = profile_text_report(v2());
  expect_within_width(report);
  EXPECT_TRUE(has(report,
                  "vpio profile: 2 guests\n  KVM: kvm_pvm on Linux 6.18.44-fc-v1045, KVM "
                  "API 12\n  capabilities: NESTED_STATE 0, SYNC_REGS 31\n"))
      << report;
  EXPECT_TRUE(line_with(report, "io_exits").ends_with("+5,000  not kept")) << report;
  EXPECT_TRUE(line_with(report, "mmio_exits").ends_with("-2  not measured")) << report;
  const std::string irq = line_with(report, "request_irq_exits");
  EXPECT_TRUE(irq.ends_with("-  not offered")) << irq;
  EXPECT_TRUE(line_with(report, "halt_exits").ends_with("0  agrees")) << report;
  EXPECT_TRUE(has(report, "Every hlt exits. Rule measured on kvm_amd 6.1 (lab).")) << report;
  EXPECT_TRUE(has(report, "Differs; rule not measured on this KVM (kvm_pvm 6.18)")) << report;
}

TEST(ProfileReportV2, ValidatesStatusesAndTheKvm) {
  EXPECT_EQ(problem(v2()), "");
  json p = v2();
  p["guests"][0]["kvm_stats"]["compared"][0]["status"] = "fine";
  EXPECT_EQ(problem(p),
            "guests[0].kvm_stats.compared[0].status: 'fine' is not one of agrees, explained, "
            "not_kept, not_offered, unexplained or unmeasured");
  p = v2();
  p["guests"][0]["kvm_stats"]["compared"][3].erase("kvm_value");
  EXPECT_EQ(problem(p), "guests[0].kvm_stats.compared[3].kvm_value: missing")
      << "only a counter KVM does not offer goes without a value";
  p = v2();
  p["guests"][0]["kvm_stats"]["compared"][1]["measured_on"] = json::array({1});
  EXPECT_EQ(problem(p), "guests[0].kvm_stats.compared[1].measured_on[0]: not a string");
  p = v2();
  p["guests"][0]["kvm_stats"]["compared"][1].erase("status");
  p["guests"][0]["kvm_stats"]["compared"][1]["expected"] = true;
  EXPECT_EQ(problem(p), "guests[0].kvm_stats.compared[1].status: missing") << "a /1 row in /2";
  p = v2();
  p.erase("kvm");
  EXPECT_EQ(problem(p), "kvm: missing");
  p = v2();
  p["kvm"]["capabilities"]["KVM_CAP_MCE"] = "yes";
  EXPECT_EQ(problem(p), "kvm.capabilities.KVM_CAP_MCE: not a number");
  p = v2();
  p["kvm"].erase("kernel_release");
  EXPECT_EQ(problem(p), "kvm.kernel_release: missing");
}

std::string saved(const std::string& name, const std::string& bytes) {
  const std::string path = testing::TempDir() + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string load_problem(const std::string& path) {
  try {
    load_profile(path);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

bool printable_ascii(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

TEST(LoadProfile, ReadsWhatVpioWrote) {
  const std::string path = saved("saved-profile.json", v2().dump(1));
  EXPECT_EQ(load_profile(path), v2());
}

// A binary file: named, called what it is not, with the parse position, and
// none of its bytes.
TEST(LoadProfile, ABinaryFileIsNotAProfileAndIsNotEchoed) {
  const std::string path =
      saved("picture.png", std::string("\x89PNG\r\n\x1a\n\xff\xfe\x00\x01", 12));
  const std::string message = load_problem(path);
  EXPECT_EQ(message, path + ": not a vpio profile: not JSON (parse error at byte 1)");
  EXPECT_TRUE(printable_ascii(message)) << message;
  const std::string empty = saved("empty.json", "");
  EXPECT_TRUE(load_problem(empty).starts_with(empty + ": not a vpio profile: not JSON"));
}

// JSON strings may hold control characters (\u001b starts a terminal escape);
// a message quoting one shows '?' in their place, as the report does.
TEST(LoadProfile, ControlCharactersInTheMessageAreReplaced) {
  const std::string path = saved("escape.json", R"({"schema": "\u001b[2Jvpio", "guests": []})");
  EXPECT_EQ(load_problem(path), path +
                                    ": not a vpio profile: schema is '?[2Jvpio', expected "
                                    "vpio-profile/2 or vpio-profile/1");
}

}  // namespace
}  // namespace vpio

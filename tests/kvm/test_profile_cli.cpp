// `vpio profile` end to end on KVM: two guests share one NE2000 in vpio mode;
// the profile's counts must agree with the run's own counters (--stats), its
// KVM cross-check must hold, and --report must re-print the same report.
#include <nlohmann/json.hpp>

#include "support.hpp"
#include "profile/render/profile_report.hpp"

namespace vpio::test {
namespace {

using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

std::string between(const std::string& text, const std::string& from, const std::string& to) {
  const auto a = text.find(from);
  const auto b = text.find(to, a == std::string::npos ? 0 : a);
  if (a == std::string::npos || b == std::string::npos) return {};
  return text.substr(a, b - a);
}

TEST_F(KvmTest, ProfileOfTwoGuestsSharingACardAgreesWithTheRunsCounters) {
  const std::string dir = testing::TempDir();
  const std::string profile_path = dir + "profile.json", svg = dir + "profile.svg",
                    stats_path = dir + "stats.json";
  const auto result = run_command(
      vpio_binary() + " profile -q --timeout 600 --nic vpio,port=0x300,irq=9,wire=hub -o " +
      profile_path + " --svg " + svg + " --stats " + stats_path + " " +
      build_path("guests/net_echo.img") + " " + build_path("guests/net_sender_200.img"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("sent 200, echoed 200 intact"), std::string::npos) << result.output;

  const json profile = read_json(profile_path);
  ASSERT_NO_THROW(validate_profile(profile));
  const json stats = read_json(stats_path);
  // Both name the KVM they ran on, the same one.
  EXPECT_FALSE(profile["kvm"]["module"].get<std::string>().empty()) << profile["kvm"];
  EXPECT_EQ(profile["kvm"], stats["kvm"]);
  ASSERT_EQ(profile["guests"].size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const json& p = profile["guests"][i];
    const json& s = stats["guests"][i];
    SCOPED_TRACE(p["name"].get<std::string>());
    EXPECT_EQ(p["name"], s["name"]);
    // The same exits, counted twice: by the cheap counters and the profile.
    EXPECT_EQ(p["exits"], s["kvm_exits_to_userspace"]);
    std::uint64_t by_reason = 0, port_accesses = 0;
    for (const json& r : p["by_reason"]) {
      by_reason += r["exits"].get<std::uint64_t>();
      EXPECT_EQ(r["exits"], s["kvm_exits_by_reason"][r["reason"].get<std::string>()]);
    }
    EXPECT_EQ(by_reason, p["exits"]);
    // The card's ports by path, against the window's own counters.
    std::map<std::string, std::uint64_t> card_accesses;
    for (const json& row : p["ports"]) {
      port_accesses += row["accesses"].get<std::uint64_t>();
      if (row["port"] >= 0x300 && row["port"] < 0x320)
        card_accesses[row["path"]] += row["accesses"].get<std::uint64_t>();
    }
    EXPECT_EQ(port_accesses, s["port_accesses"]);
    const json& nic = s["nics"][0];
    EXPECT_EQ(card_accesses["direct"], nic["direct"]);
    EXPECT_EQ(card_accesses["hooked"], nic["hooked"]);
    EXPECT_GT(card_accesses["direct"], 0u);
    EXPECT_GT(card_accesses["hooked"], 0u);
    // Every exit has its site; the sites' exits add up.
    std::uint64_t site_exits = 0;
    for (const json& site : p["sites"]) {
      site_exits += site["exits"].get<std::uint64_t>();
      EXPECT_NE(site["instruction"], "(unreadable)") << site.dump();
    }
    EXPECT_EQ(site_exits, p["exits"]) << "the guests neither halt nor open interrupt windows";
    ASSERT_TRUE(p["kvm_stats"]["available"]);
    for (const json& row : p["kvm_stats"]["compared"]) expect_kvm_row_holds(row);
  }

  // The report printed after the run is the one --report prints from the file.
  const std::string printed =
      between(result.output, "vpio profile: 2 guests", "vpio: profile written");
  ASSERT_FALSE(printed.empty()) << result.output;
  const auto again = run_command(vpio_binary() + " profile --report " + profile_path);
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(again.output, printed);
  EXPECT_EQ(printed, profile_text_report(profile));

  std::ifstream picture(svg);
  std::string head(5, '\0');
  picture.read(head.data(), 5);
  EXPECT_EQ(head, "<?xml");
}

}  // namespace
}  // namespace vpio::test

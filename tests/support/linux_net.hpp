// The figures of a network run of Linux guests (issue 15): per guest, from
// `vpio run --stats` (docs/run-stats.md) and its console (guests/linux/init's
// "vpio-net: tcp sent ..." line), the headline of DESIGN.md's "What we
// count": the hooked fraction of the card's port accesses, exits per frame,
// and the TCP throughput the guest measured.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

namespace vpio::test {

struct LinuxNetFigures {
  std::string name, mode;           // guest name; its first card's mode (or "none")
  std::uint64_t card_accesses = 0;  // to the card: port accesses, MMIO exits
  std::uint64_t direct = 0, hooked = 0, coalesced = 0;
  std::uint64_t kvm_exits = 0;  // the guest's exits to vpio, of any reason
  std::uint64_t frames_sent = 0, frames_received = 0;
  std::uint64_t context_switches = 0, violations = 0, machine_checks = 0;
  double hooked_fraction = 0;  // hooked / card_accesses (vpio mode)
  double exits_per_frame = 0;  // kvm_exits / (frames sent + received)
  double card_accesses_per_frame = 0;
  double tcp_seconds = 0;  // the guest's 4 MiB send, as it timed it
  double tcp_kib_per_second = 0;
};

inline double ratio(std::uint64_t a, std::uint64_t b) {
  return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b);
}

// One guest's figures: stats.guests[i] and its console text ("" if none).
inline LinuxNetFigures linux_net_figures(const nlohmann::json& guest, const std::string& console) {
  LinuxNetFigures f;
  f.name = guest.value("name", "");
  f.kvm_exits = guest.value("kvm_exits_to_userspace", std::uint64_t{0});
  f.machine_checks = guest.value("machine_checks_delivered", std::uint64_t{0});
  f.mode = "none";
  if (guest.contains("nics"))
    for (const auto& nic : guest.at("nics")) {
      if (f.mode == "none") f.mode = nic.value("mode", "?");
      f.card_accesses += nic.value("port_accesses", std::uint64_t{0});
      f.direct += nic.value("direct", std::uint64_t{0});
      f.hooked += nic.value("hooked", std::uint64_t{0});
      f.coalesced += nic.value("coalesced", std::uint64_t{0});
      // A card with an MMIO window (the RTL8139's BAR1, which 8139too
      // uses): its accesses that exited, hooked or direct.
      if (nic.contains("mmio")) {
        const auto& mmio = nic.at("mmio");
        const std::uint64_t direct = mmio.value("direct_exits", std::uint64_t{0});
        const std::uint64_t hooked = mmio.value("hooked_exits", std::uint64_t{0});
        f.card_accesses += direct + hooked;
        f.direct += direct;
        f.hooked += hooked;
      }
      f.frames_sent += nic.value("frames_sent", std::uint64_t{0});
      f.frames_received += nic.value("frames_received", std::uint64_t{0});
      f.context_switches += nic.value("context_switches", std::uint64_t{0});
      f.violations += nic.value("violations", std::uint64_t{0});
    }
  const std::uint64_t frames = f.frames_sent + f.frames_received;
  f.hooked_fraction = ratio(f.hooked, f.card_accesses);
  f.exits_per_frame = ratio(f.kvm_exits, frames);
  f.card_accesses_per_frame = ratio(f.card_accesses, frames);
  static const std::regex sent(
      R"(vpio-net: tcp sent \d+ bytes to \S+ in ([0-9.]+) s, ([0-9.]+) KiB/s)");
  if (std::smatch m; std::regex_search(console, m, sent)) {
    f.tcp_seconds = std::stod(m[1]);
    f.tcp_kib_per_second = std::stod(m[2]);
  }
  return f;
}

inline std::vector<LinuxNetFigures> linux_net_figures(const nlohmann::json& stats,
                                                      const std::vector<std::string>& consoles) {
  std::vector<LinuxNetFigures> all;
  if (!stats.contains("guests")) return all;
  for (std::size_t i = 0; i < stats.at("guests").size(); ++i)
    all.push_back(linux_net_figures(stats.at("guests")[i], i < consoles.size() ? consoles[i] : ""));
  return all;
}

inline nlohmann::json to_json(const LinuxNetFigures& f) {
  return {{"name", f.name},
          {"mode", f.mode},
          {"card_accesses", f.card_accesses},
          {"direct", f.direct},
          {"hooked", f.hooked},
          {"coalesced", f.coalesced},
          {"kvm_exits_to_userspace", f.kvm_exits},
          {"frames_sent", f.frames_sent},
          {"frames_received", f.frames_received},
          {"context_switches", f.context_switches},
          {"violations", f.violations},
          {"machine_checks_delivered", f.machine_checks},
          {"hooked_fraction", f.hooked_fraction},
          {"exits_per_frame", f.exits_per_frame},
          {"card_accesses_per_frame", f.card_accesses_per_frame},
          {"tcp_seconds", f.tcp_seconds},
          {"tcp_kib_per_second", f.tcp_kib_per_second}};
}

// Prints one line per guest, for the test log.
inline void print_linux_net_figures(const std::vector<LinuxNetFigures>& all) {
  for (const auto& f : all)
    std::printf(
        "[ linux-net ] %s (%s): card accesses %llu (direct %llu, hooked %llu = 1 in %.1f, "
        "posted %llu), frames %llu sent %llu received, %.1f exits/frame, %.1f card "
        "accesses/frame, ctx-sw %llu, viol %llu, mce %llu, tcp %.1f KiB/s (%.2f s)\n",
        f.name.c_str(), f.mode.c_str(), static_cast<unsigned long long>(f.card_accesses),
        static_cast<unsigned long long>(f.direct), static_cast<unsigned long long>(f.hooked),
        f.hooked == 0 ? 0.0 : 1.0 / f.hooked_fraction, static_cast<unsigned long long>(f.coalesced),
        static_cast<unsigned long long>(f.frames_sent),
        static_cast<unsigned long long>(f.frames_received), f.exits_per_frame,
        f.card_accesses_per_frame, static_cast<unsigned long long>(f.context_switches),
        static_cast<unsigned long long>(f.violations),
        static_cast<unsigned long long>(f.machine_checks), f.tcp_kib_per_second, f.tcp_seconds);
}

// Prints a run's figures for the test log and keeps them in DIR/figures.json.
inline void record_linux_net_figures(const std::vector<LinuxNetFigures>& all,
                                     const std::filesystem::path& dir) {
  print_linux_net_figures(all);
  nlohmann::json summary = nlohmann::json::array();
  for (const auto& f : all) summary.push_back(to_json(f));
  std::ofstream(dir / "figures.json") << summary.dump(2) << "\n";
}

// ---------------------------------------------------------------------------
// What guests/linux/init's scenarios print, checked. `context` is what a
// failure shows (the run's output and consoles).

inline constexpr const char* kLinuxPingSummary =
    "100 packets transmitted, 100 packets received, 0% packet loss";

// The first capture of `pattern` in `text`, "" when it does not match.
inline std::string capture(const std::string& text, const std::string& pattern) {
  std::smatch m;
  return std::regex_search(text, m, std::regex(pattern)) ? m[1].str() : std::string();
}

// Guest i's init passed `test`, and (with stats) the guest exited with 0.
inline void expect_linux_guest_passed(const std::vector<std::string>& consoles,
                                      const nlohmann::json& stats, std::size_t i,
                                      const std::string& test, const std::string& context) {
  SCOPED_TRACE("guest " + std::to_string(i));
  ASSERT_LT(i, consoles.size());
  EXPECT_NE(consoles[i].find("vpio-net: PASS guest " + std::to_string(i) + ": " + test),
            std::string::npos)
      << context;
  if (stats.contains("guests") && i < stats.at("guests").size()) {
    EXPECT_EQ(stats.at("guests")[i].value("outcome", ""), "exited");
    EXPECT_EQ(stats.at("guests")[i].value("status", -1), 0);
  }
}

// Guests a and b pinged each other 100 times with no loss.
inline void expect_linux_pinged(const std::vector<std::string>& consoles, std::size_t a,
                                std::size_t b, const std::string& context) {
  for (std::size_t i : {a, b}) {
    SCOPED_TRACE("guest " + std::to_string(i));
    ASSERT_LT(i, consoles.size());
    EXPECT_NE(consoles[i].find("vpio-net: PASS ping "), std::string::npos) << context;
    EXPECT_NE(consoles[i].find(kLinuxPingSummary), std::string::npos) << context;
  }
}

// Guests a and b each sent the other `bytes` over TCP, and each received
// exactly what the other sent (sha256 on both ends).
inline void expect_linux_exchanged(const std::vector<std::string>& consoles, std::size_t a,
                                   std::size_t b, const std::string& bytes,
                                   const std::string& context) {
  const std::string sha = "([0-9a-f]{64})";
  for (auto [from, to] : {std::pair{a, b}, std::pair{b, a}}) {
    SCOPED_TRACE("from guest " + std::to_string(from) + " to guest " + std::to_string(to));
    ASSERT_LT(std::max(from, to), consoles.size());
    const std::string sent = capture(
        consoles[from], "vpio-net: tcp sent " + bytes + " bytes to \\S+ in .*, sha256 " + sha);
    const std::string received = capture(
        consoles[to], "vpio-net: tcp received " + bytes + " bytes from \\S+, sha256 " + sha);
    EXPECT_FALSE(sent.empty()) << context;
    EXPECT_EQ(received, sent) << context;
    EXPECT_NE(consoles[from].find("vpio-net: PASS tcp: "), std::string::npos) << context;
  }
}

}  // namespace vpio::test

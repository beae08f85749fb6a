// The profile document built from an ExitProfile without KVM: row order,
// device names from the buses, disassembled sites, and the comparison with
// KVM's counters, including the differences it must and must not explain.
#include <gtest/gtest.h>
#include <linux/kvm.h>

#include "app/profile_json.hpp"
#include "profile/render/profile_report.hpp"

namespace vpio {
namespace {

using nlohmann::json;

struct NullPorts final : PortDevice {
  std::uint32_t port_read(std::uint16_t, unsigned) noexcept override { return 0; }
  void port_write(std::uint16_t, unsigned, std::uint32_t) noexcept override {}
};

// Every site these tests make is an I/O site in one direction.
SiteTotals& site_at(ExitProfile& p, std::uint64_t rip) {
  for (const bool write : {false, true})
    if (p.sites().contains(SiteKey{rip, KVM_EXIT_IO, write}))
      return p.site(SiteKey{rip, KVM_EXIT_IO, write});
  throw std::out_of_range("no site");
}

void set_bytes(ExitProfile& p, std::uint64_t rip, std::vector<std::uint8_t> bytes) {
  SiteTotals& site = site_at(p, rip);
  site.bytes_read = true;
  site.instruction_rip = rip;
  site.length = static_cast<std::uint8_t>(bytes.size());
  std::copy(bytes.begin(), bytes.end(), site.bytes.begin());
}

ExitEvent io(std::uint16_t port, bool write, ExitPath path, std::uint64_t rip,
             std::uint32_t count = 1) {
  ExitEvent e;
  e.reason = KVM_EXIT_IO;
  e.rip = rip;
  e.ns = 1000;
  e.path = path;
  e.write = write;
  e.address = port;
  e.amount = count;
  return e;
}

class ProfileJson : public testing::Test {
 protected:
  ProfileJson() {
    ports_.add(0x300, 0x20, card_, "ne2000");
    for (int i = 0; i < 5; ++i) profile_.record(io(0x310, true, ExitPath::hooked, 0x100040));
    for (int i = 0; i < 7; ++i) profile_.record(io(0x300, true, ExitPath::direct, 0x100020));
    profile_.record(io(0x300, false, ExitPath::direct, 0x100030));
    profile_.record(io(0x80, true, ExitPath::unclaimed, 0x100050));
    set_bytes(profile_, 0x100020, {0x66, 0xef});
    set_bytes(profile_, 0x100030, {0xec, 0x90, 0x90});  // the bytes after are not shown
    set_bytes(profile_, 0x100040, {0xee});
    set_bytes(profile_, 0x100050, {});
  }
  json build() {
    return guest_profile_json({"g", GuestOutcome{GuestOutcome::Kind::exited, 0, ""}, &profile_,
                               &ports_, &mmio_, &identity_});
  }
  void run_on(const char* module, const char* release) {
    identity_.module = module;
    identity_.kernel_release = release;
  }
  NullPorts card_;
  PortBus ports_;
  MmioBus mmio_;
  ExitProfile profile_;
  KvmIdentity identity_{"kvm_amd", "6.1.0-18-amd64", 12, {}};  // where the rules were measured
};

TEST_F(ProfileJson, RowsAreSortedAndNamed) {
  const json g = build();
  ASSERT_EQ(g["ports"].size(), 4u);
  // By port, then in before out.
  EXPECT_EQ(g["ports"][0]["port"], 0x80);
  EXPECT_EQ(g["ports"][0]["device"], "");
  EXPECT_EQ(g["ports"][0]["path"], "unclaimed");
  EXPECT_EQ(g["ports"][1]["port"], 0x300);
  EXPECT_EQ(g["ports"][1]["direction"], "in");
  EXPECT_EQ(g["ports"][2]["direction"], "out");
  EXPECT_EQ(g["ports"][2]["exits"], 7);
  EXPECT_EQ(g["ports"][3]["port"], 0x310);
  EXPECT_EQ(g["ports"][3]["device"], "ne2000");
  EXPECT_EQ(g["ports"][3]["offset"], 0x10);
  EXPECT_EQ(g["ports"][3]["path"], "hooked");
  // Sites: most exits first; text from capstone; bytes of the instruction only.
  ASSERT_EQ(g["sites"].size(), 4u);
  EXPECT_EQ(g["sites"][0]["rip"], 0x100020);
  EXPECT_EQ(g["sites"][0]["instruction"], "out dx, ax");
  EXPECT_EQ(g["sites"][0]["paths"], (json{{"direct", 7}}));
  EXPECT_EQ(g["sites"][1]["rip"], 0x100040);
  EXPECT_EQ(g["sites"][2]["rip"], 0x100030) << "ties by rip";
  EXPECT_EQ(g["sites"][2]["bytes"], "ec");
  EXPECT_EQ(g["sites"][3]["instruction"], "(unreadable)");
  // Paths in their fixed order, each with its histogram.
  ASSERT_EQ(g["paths"].size(), 3u);
  EXPECT_EQ(g["paths"][0]["path"], "direct");
  EXPECT_EQ(g["paths"][0]["exits"], 8);
  EXPECT_EQ(g["paths"][0]["histogram"],
            (json::array({{{"from_ns", 512}, {"to_ns", 1024}, {"exits", 8}}})));
  EXPECT_EQ(g["paths"][2]["path"], "unclaimed");
  EXPECT_FALSE(g["kvm_stats"]["available"]);
  // What the report and the picture read must pass the schema check.
  EXPECT_NO_THROW(validate_profile(
      json{{"schema", kProfileSchema}, {"kvm", kvm_identity_json(identity_)}, {"guests", {g}}}));
}

const json& row(const json& g, const char* kvm_name) {
  for (const json& r : g["kvm_stats"]["compared"])
    if (r["kvm"] == kvm_name) return r;
  static const json none;
  ADD_FAILURE() << "no row for " << kvm_name;
  return none;
}

TEST_F(ProfileJson, KeptCountersAgreeOrAreExplainedOnTheMeasuredFlavour) {
  KvmStatsRecord& kvm = profile_.kvm_stats();
  kvm.available = true;
  kvm.counters = {{"exits", 20},       {"io_exits", 14},  {"halt_exits", 0},
                  {"signal_exits", 0}, {"mmio_exits", 0}, {"request_irq_exits", 0}};
  const json g = build();
  EXPECT_EQ(row(g, "exits")["status"], kCompareExplained);
  EXPECT_EQ(row(g, "exits")["difference"], -6);
  EXPECT_NE(row(g, "exits")["explanation"].get<std::string>().find("the 6 it handled itself"),
            std::string::npos);
  EXPECT_EQ(row(g, "io_exits")["status"], kCompareAgrees);
  EXPECT_EQ(row(g, "io_exits")["kvm_value"], 14);
  EXPECT_EQ(row(g, "io_exits")["vpio_value"], 14);
  EXPECT_EQ(row(g, "halt_exits")["status"], kCompareAgrees) << "0 beside 0 is agreement";
  EXPECT_EQ(row(g, "signal_exits")["status"], kCompareAgrees);
  for (const json& r : g["kvm_stats"]["compared"]) {
    EXPECT_EQ(r["measured_on"], json::array({"kvm_amd 6.1 (lab)"})) << r;
    EXPECT_TRUE(r["measured_here"]) << r;
  }
  EXPECT_EQ(g["kvm_stats"]["kvm_counters"], (json{{"exits", 20}, {"io_exits", 14}}));
  EXPECT_NO_THROW(validate_profile(
      json{{"schema", kProfileSchema}, {"kvm", kvm_identity_json(identity_)}, {"guests", {g}}}));
}

TEST_F(ProfileJson, UnexplainedOnlyWhereTheRuleWasMeasured) {
  KvmStatsRecord& kvm = profile_.kvm_stats();
  kvm.available = true;
  kvm.counters = {{"exits", 13}, {"io_exits", 15}, {"halt_exits", 1}};
  const json g = build();
  EXPECT_EQ(row(g, "exits")["status"], kCompareUnexplained) << "KVM cannot see fewer exits";
  EXPECT_EQ(row(g, "io_exits")["status"], kCompareUnexplained)
      << "no rep string site explains one more";
  EXPECT_EQ(row(g, "halt_exits")["status"], kCompareUnexplained) << "vpio saw no hlt";
  EXPECT_NE(row(g, "halt_exits")["explanation"].get<std::string>().find("not explained"),
            std::string::npos);

  // The same numbers on a flavour no rule was measured on are reported, not judged.
  run_on("kvm_intel", "6.8.0-31-generic");
  const json vmx = build();
  for (const char* name : {"exits", "io_exits", "halt_exits"}) {
    const json& r = row(vmx, name);
    EXPECT_EQ(r["status"], kCompareUnmeasured) << r;
    EXPECT_FALSE(r["measured_here"]) << r;
    const std::string text = r["explanation"];
    EXPECT_NE(text.find("Differs; rule not measured on this KVM (kvm_intel 6.8), only on "
                        "kvm_amd 6.1 (lab)."),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("not explained"), std::string::npos) << text;
  }
  // Without an identity no rule counts as measured.
  const json unknown = guest_profile_json(
      {"g", GuestOutcome{GuestOutcome::Kind::exited, 0, ""}, &profile_, &ports_, &mmio_, nullptr});
  EXPECT_EQ(row(unknown, "halt_exits")["status"], kCompareUnmeasured);
}

TEST_F(ProfileJson, ACounterThatStaysZeroWhileVpioCountsIsNotKept) {
  KvmStatsRecord& kvm = profile_.kvm_stats();
  kvm.available = true;
  // PVM (kvm_pvm 6.18): io_exits offered, but 0 after thousands of I/O exits.
  kvm.counters = {{"exits", 30}, {"io_exits", 0}, {"halt_exits", 0}};
  for (const char* module : {"kvm_pvm", "kvm_amd"}) {
    run_on(module, "6.18.44");
    const json g = build();
    const json& io = row(g, "io_exits");
    EXPECT_EQ(io["status"], kCompareNotKept) << module;
    EXPECT_EQ(io["kvm_value"], 0);
    EXPECT_EQ(io["vpio_value"], 14);
    EXPECT_NE(io["explanation"].get<std::string>().find("not kept by this KVM"), std::string::npos)
        << io;
    // A 0 beside vpio's 0 says nothing either way: agreement.
    EXPECT_EQ(row(g, "halt_exits")["status"], kCompareAgrees);
  }
}

TEST_F(ProfileJson, ACounterMissingFromTheDescriptorsIsNotOffered) {
  KvmStatsRecord& kvm = profile_.kvm_stats();
  kvm.available = true;
  kvm.counters = {{"exits", 30}};
  const json g = build();
  const json& io = row(g, "io_exits");
  EXPECT_EQ(io["status"], kCompareNotOffered);
  EXPECT_FALSE(io.contains("kvm_value"));
  EXPECT_FALSE(io.contains("difference"));
  EXPECT_EQ(io["vpio_value"], 14);
  EXPECT_NE(io["explanation"].get<std::string>().find("not offered by this KVM"),
            std::string::npos);
  EXPECT_EQ(row(g, "request_irq_exits")["status"], kCompareNotOffered);
  EXPECT_NO_THROW(validate_profile(
      json{{"schema", kProfileSchema}, {"kvm", kvm_identity_json(identity_)}, {"guests", {g}}}));
  const std::string report = profile_text_report(
      json{{"schema", kProfileSchema}, {"kvm", kvm_identity_json(identity_)}, {"guests", {g}}});
  EXPECT_NE(report.find("not offered"), std::string::npos) << report;
}

TEST_F(ProfileJson, RepStringSitesExplainOneMoreInterceptPerRun) {
  for (int i = 0; i < 100; ++i) profile_.record(io(0x310, true, ExitPath::hooked, 0x100060));
  set_bytes(profile_, 0x100060, {0xf3, 0x6e});  // rep outsb
  profile_.record(io(0x310, false, ExitPath::hooked, 0x100070, 50));
  set_bytes(profile_, 0x100070, {0xf3, 0x66, 0x6d});  // rep insw
  profile_.record(io(0x310, true, ExitPath::hooked, 0x100080));
  set_bytes(profile_, 0x100080, {0x6e});  // outsb without rep: no extra intercept
  SiteTotals& outs = site_at(profile_, 0x100060);
  SiteTotals& ins = site_at(profile_, 0x100070);
  outs.rep_count_bytes = ins.rep_count_bytes = 8;
  outs.rep_runs = 4;
  ins.rep_runs = 1;
  const std::uint64_t vpio_io = 14 + 100 + 1 + 1;
  KvmStatsRecord& kvm = profile_.kvm_stats();
  kvm.available = true;
  for (std::uint64_t extra : {0, 1, 4, 5, 6, 101}) {
    kvm.counters = {{"io_exits", vpio_io + extra}};
    const json g = build();
    EXPECT_EQ(row(g, "io_exits")["status"], extra == 5 ? kCompareExplained : kCompareUnexplained)
        << extra;
    EXPECT_EQ(g["sites"][0]["rep_runs"], 4);
    EXPECT_FALSE(g["sites"][1].contains("rep_runs")) << g["sites"][1];
  }
  EXPECT_NE(row(build(), "io_exits")["explanation"].get<std::string>().find(
                "2 rep string I/O sites made 101 exits in 5 runs"),
            std::string::npos);
}

// A read-modify-write exits twice: the read at the instruction, the write
// past it. Placed, both are one row; a store vpio could not place stays apart.
TEST(ProfileJsonSites, OneRowPerInstruction) {
  ExitProfile p;
  ExitEvent read;
  read.reason = KVM_EXIT_MMIO;
  read.rip = 0x100010;
  read.address = 0xd000'0000;
  read.amount = 4;
  ExitEvent write = read;
  write.write = true;
  write.rip = 0x100012;  // past `or dword ptr [rax], ebx` (09 18)
  for (int i = 0; i < 3; ++i) {
    p.record(read);
    p.record(write);
  }
  ExitEvent stos = write;
  stos.rip = 0x100020;
  p.record(stos);
  const std::vector<std::uint8_t> rmw = {0x09, 0x18};
  for (auto [key, placed_at] : {std::pair{SiteKey{0x100010, KVM_EXIT_MMIO, false}, 0x100010},
                                std::pair{SiteKey{0x100012, KVM_EXIT_MMIO, true}, 0x100010}}) {
    SiteTotals& site = p.site(key);
    site.bytes_read = true;
    site.instruction_rip = static_cast<std::uint64_t>(placed_at);
    site.length = 2;
    std::copy(rmw.begin(), rmw.end(), site.bytes.begin());
  }
  SiteTotals& unplaced = p.site(SiteKey{0x100020, KVM_EXIT_MMIO, true});
  unplaced.bytes_read = true;
  unplaced.instruction_rip = 0x100020;
  unplaced.store_unplaced = true;
  unplaced.length = 1;
  unplaced.bytes[0] = 0x90;
  const json g = guest_profile_json({"g", GuestOutcome{}, &p, nullptr, nullptr, nullptr});
  ASSERT_EQ(g["sites"].size(), 2u) << g["sites"].dump(1);
  EXPECT_EQ(g["sites"][0]["rip"], 0x100010);
  EXPECT_EQ(g["sites"][0]["exits"], 6);
  EXPECT_EQ(g["sites"][0]["instruction"], "or dword ptr [rax], ebx");
  EXPECT_EQ(g["sites"][1]["rip"], 0x100020);
  EXPECT_EQ(g["sites"][1]["instruction"], "(after an MMIO store not found) nop");
}

}  // namespace
}  // namespace vpio

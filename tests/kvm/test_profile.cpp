// The exit profile on real KVM: Xbyak guests make a known number of each kind
// of access, and the profile must count exactly those, at the right
// instructions, and agree with KVM's own statistics.
#include <linux/kvm.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "app/profile_json.hpp"
#include "support.hpp"
#include "vmm/long_mode.hpp"

namespace vpio::test {
namespace {

using nlohmann::json;

constexpr std::uint16_t kScratchPort = 0x510;   // a device the VMM emulates: 4 ports
constexpr std::uint16_t kUnclaimedPort = 0x80;  // nothing serves it
constexpr std::uint64_t kScratchMmio = 0xd000'0000;
constexpr std::uint64_t kStringSource = 0x20'0000;  // RAM the rep outsw reads
constexpr unsigned kOuts = 1000, kIns = 500, kStringWords = 4096, kMmioWrites = 10, kMmioReads = 5;
// The words go out in two runs of rep outsw, one per prefix order.
constexpr unsigned kStringRuns = 2, kWordsPerRun = kStringWords / kStringRuns;

struct ScratchPorts final : PortDevice {
  std::uint64_t writes = 0, reads = 0;
  std::uint32_t port_read(std::uint16_t, unsigned) noexcept override { return ++reads, 0x5a; }
  void port_write(std::uint16_t, unsigned, std::uint32_t) noexcept override { ++writes; }
};

struct ScratchMmio final : MmioDevice {
  std::uint64_t writes = 0, reads = 0, last = 0, indexed = 0;
  std::uint64_t mmio_read(std::uint64_t, unsigned) noexcept override { return ++reads; }
  void mmio_write(std::uint64_t offset, unsigned size, std::uint64_t value) noexcept override {
    ++writes;
    if (offset == 0 && size == 4) last = value;
    if (offset == 0x18 && size == 8) indexed = value;
  }
};

// Offsets of each exiting instruction in the image, taken while emitting.
struct KnownAccesses : Xbyak::CodeGenerator {
  std::size_t out_at = 0, in_at = 0, rep_at = 0, gcc_rep_at = 0, mmio_at = 0, indexed_at = 0,
              read_at = 0, exit_at = 0;

  KnownAccesses() {
    mov(ecx, kOuts);
    mov(dx, kScratchPort);
    mov(ax, 0x1234);
    L("outs");
    out_at = getSize();
    out_(dx, ax);
    dec(ecx);
    jnz("outs");

    mov(ecx, kIns);
    mov(dx, kUnclaimedPort);
    L("ins");
    in_at = getSize();
    in_(al, dx);
    dec(ecx);
    jnz("ins");

    mov(ecx, kWordsPerRun);
    mov(esi, kStringSource);
    mov(dx, kScratchPort + 2);
    cld();
    rep_at = getSize();
    rep();
    outsw();  // Xbyak's order: f3 66 6f
    mov(ecx, kWordsPerRun);
    // gcc's order for `rep outsw`, 66 f3 6f, which capstone 4.0.2 reads as
    // rep outsd.
    gcc_rep_at = getSize();
    db(0x66);
    rep();
    db(0x6f);

    mov(ecx, kMmioWrites);
    mov(eax, static_cast<std::uint32_t>(kScratchMmio));
    mov(ebx, 0xabcd);
    L("mmio");
    mmio_at = getSize();
    mov(dword[rax], ebx);
    inc(ebx);
    dec(ecx);
    jnz("mmio");

    // One store through base + index * 8 + displacement, 8 bytes.
    mov(edx, 1);
    mov(rbx, 0x1122334455667788);
    indexed_at = getSize();
    mov(qword[rax + rdx * 8 + 0x10], rbx);

    mov(ecx, kMmioReads);
    L("reads");
    read_at = getSize();
    mov(ebx, dword[rax + 8]);
    dec(ecx);
    jnz("reads");

    mov(dx, Machine::kExitPort);
    xor_(eax, eax);
    exit_at = getSize();
    out_(dx, eax);
  }
};

const json* find_row(const json& rows, const std::function<bool(const json&)>& match) {
  for (const json& row : rows)
    if (match(row)) return &row;
  return nullptr;
}

class ProfileTest : public KvmTest {
 protected:
  json profile_of_known_accesses(KnownAccesses& gen) {
    auto machine = make_machine(code_of(gen), "known", /*profile=*/true);
    machine->ports().add(kScratchPort, 4, scratch_, "scratch");
    machine->mmio().add(kScratchMmio, 0x1000, scratch_mmio_, "scratch-mmio");
    const GuestOutcome outcome = run(*machine);
    EXPECT_TRUE(outcome.ok()) << outcome.detail;
    return guest_profile_json({machine->name(), outcome, profile_of(*machine), &machine->ports(),
                               &machine->mmio(), &machine->kvm_identity()});
  }
  ScratchPorts scratch_;
  ScratchMmio scratch_mmio_;
};

TEST_F(ProfileTest, CountsEachKnownAccessExactlyAtItsInstruction) {
  KnownAccesses gen;
  const json g = profile_of_known_accesses(gen);
  SCOPED_TRACE(g.dump(1));
  EXPECT_EQ(scratch_.writes, kOuts + kStringWords);
  EXPECT_EQ(scratch_mmio_.writes, kMmioWrites + 1);
  EXPECT_EQ(scratch_mmio_.last, 0xabcdu + kMmioWrites - 1);
  EXPECT_EQ(scratch_mmio_.indexed, 0x1122334455667788u);
  EXPECT_EQ(scratch_mmio_.reads, kMmioReads);

  const json* outs = find_row(g["ports"], [](const json& r) {
    return r["port"] == kScratchPort && r["direction"] == "out";
  });
  ASSERT_NE(outs, nullptr);
  EXPECT_EQ((*outs)["exits"], kOuts);
  EXPECT_EQ((*outs)["accesses"], kOuts);
  EXPECT_EQ((*outs)["path"], "emulated");
  EXPECT_EQ((*outs)["device"], "scratch");
  EXPECT_EQ((*outs)["offset"], 0);

  const json* ins = find_row(g["ports"], [](const json& r) { return r["port"] == kUnclaimedPort; });
  ASSERT_NE(ins, nullptr);
  EXPECT_EQ((*ins)["exits"], kIns);
  EXPECT_EQ((*ins)["accesses"], kIns);
  EXPECT_EQ((*ins)["direction"], "in");
  EXPECT_EQ((*ins)["path"], "unclaimed");
  EXPECT_EQ((*ins)["device"], "");

  const json* string =
      find_row(g["ports"], [](const json& r) { return r["port"] == kScratchPort + 2; });
  ASSERT_NE(string, nullptr);
  EXPECT_EQ((*string)["accesses"], kStringWords);
  EXPECT_EQ((*string)["offset"], 2);

  // By address, then reads before writes.
  ASSERT_EQ(g["mmio"].size(), 3u);
  EXPECT_EQ(g["mmio"][0]["address"], kScratchMmio);
  EXPECT_EQ(g["mmio"][0]["direction"], "write");
  EXPECT_EQ(g["mmio"][0]["exits"], kMmioWrites);
  EXPECT_EQ(g["mmio"][0]["bytes"], 4 * kMmioWrites);
  EXPECT_EQ(g["mmio"][0]["device"], "scratch-mmio");
  EXPECT_EQ(g["mmio"][0]["path"], "emulated");
  EXPECT_EQ(g["mmio"][1]["address"], kScratchMmio + 8);
  EXPECT_EQ(g["mmio"][1]["direction"], "read");
  EXPECT_EQ(g["mmio"][1]["exits"], kMmioReads);
  EXPECT_EQ(g["mmio"][1]["offset"], 8);
  EXPECT_EQ(g["mmio"][2]["address"], kScratchMmio + 0x18);
  EXPECT_EQ(g["mmio"][2]["bytes"], 8);

  const std::uint64_t base = layout::kImageBase;
  auto site_at = [&](std::size_t offset) {
    return find_row(g["sites"], [&](const json& r) { return r["rip"] == base + offset; });
  };
  const json* out_site = site_at(gen.out_at);
  ASSERT_NE(out_site, nullptr);
  EXPECT_EQ((*out_site)["instruction"], "out dx, ax");
  EXPECT_EQ((*out_site)["bytes"], "66 ef");
  EXPECT_EQ((*out_site)["exits"], kOuts);
  const json* in_site = site_at(gen.in_at);
  ASSERT_NE(in_site, nullptr);
  EXPECT_EQ((*in_site)["instruction"], "in al, dx");
  EXPECT_EQ((*in_site)["exits"], kIns);
  EXPECT_EQ((*in_site)["paths"]["unclaimed"], kIns);
  const json* rep_site = site_at(gen.rep_at);
  ASSERT_NE(rep_site, nullptr);
  EXPECT_EQ((*rep_site)["instruction"], "rep outsw dx, word ptr [rsi]");
  EXPECT_EQ((*rep_site)["bytes"], "f3 66 6f");
  EXPECT_EQ((*rep_site)["accesses"], kWordsPerRun);
  // KVM passes a rep outs on one element at a time.
  EXPECT_EQ((*rep_site)["exits"], kWordsPerRun);
  EXPECT_EQ((*rep_site)["rep_runs"], 1);
  const json* gcc_rep_site = site_at(gen.gcc_rep_at);
  ASSERT_NE(gcc_rep_site, nullptr);
  EXPECT_EQ((*gcc_rep_site)["instruction"], "rep outsw dx, word ptr [rsi]");
  EXPECT_EQ((*gcc_rep_site)["bytes"], "66 f3 6f");
  EXPECT_EQ((*gcc_rep_site)["accesses"], kWordsPerRun);
  EXPECT_EQ((*gcc_rep_site)["exits"], kWordsPerRun);
  EXPECT_EQ((*gcc_rep_site)["rep_runs"], 1);
  if (gcc_rep_site->contains("capstone_decode")) {
    EXPECT_NE((*gcc_rep_site)["capstone_decode"], "rep outsw dx, word ptr [rsi]");
  }
  const json* mmio_site = site_at(gen.mmio_at);
  ASSERT_NE(mmio_site, nullptr);
  EXPECT_EQ((*mmio_site)["instruction"], "mov dword ptr [rax], ebx");
  EXPECT_EQ((*mmio_site)["exits"], kMmioWrites);
  const json* indexed_site = site_at(gen.indexed_at);
  ASSERT_NE(indexed_site, nullptr);
  EXPECT_EQ((*indexed_site)["instruction"], "mov qword ptr [rax + rdx*8 + 0x10], rbx");
  const json* read_site = site_at(gen.read_at);
  ASSERT_NE(read_site, nullptr);
  EXPECT_EQ((*read_site)["instruction"], "mov ebx, dword ptr [rax + 8]");
  EXPECT_EQ((*read_site)["exits"], kMmioReads);
  const json* exit_site = site_at(gen.exit_at);
  ASSERT_NE(exit_site, nullptr);
  EXPECT_EQ((*exit_site)["instruction"], "out dx, eax");
  // Nothing else exits: eight sites, and every I/O or MMIO exit is in one.
  // Each I/O site was found on one side of rip or the other (KVMs differ).
  EXPECT_EQ(g["sites"].size(), 8u);
  for (const json& site : g["sites"]) {
    if (site["reason"] == "io") {
      EXPECT_NE(site["rip_at_exit"], "unplaced") << site.dump();
    }
  }

  const std::uint64_t rep_exits =
      (*rep_site)["exits"].get<std::uint64_t>() + (*gcc_rep_site)["exits"].get<std::uint64_t>();
  const std::uint64_t io_exits = kOuts + kIns + rep_exits + 1;
  const json* io = find_row(g["by_reason"], [](const json& r) { return r["reason"] == "io"; });
  ASSERT_NE(io, nullptr);
  EXPECT_EQ((*io)["exits"], io_exits);
  EXPECT_EQ(g["exits"], io_exits + kMmioWrites + 1 + kMmioReads);
}

TEST_F(ProfileTest, TotalsAgreeWithKvmsOwnStatistics) {
  KnownAccesses gen;
  const json g = profile_of_known_accesses(gen);
  SCOPED_TRACE(g.dump(1));
  const json& kvm = g["kvm_stats"];
  ASSERT_TRUE(kvm["available"]) << kvm["error"];
  for (const json& row : kvm["compared"]) expect_kvm_row_holds(row);
  auto compared = [&](const char* name) {
    const json* row = find_row(kvm["compared"], [&](const json& r) { return r["kvm"] == name; });
    EXPECT_NE(row, nullptr) << name;
    return row != nullptr ? *row : json::object();
  };
  // Exact on the flavour the rules were measured on (SVM in the lab); what
  // another flavour does is checked by expect_kvm_row_holds above.
  if (!compared("io_exits").value("measured_here", false)) return;
  EXPECT_EQ(compared("mmio_exits")["kvm_value"], kMmioWrites + 1 + kMmioReads);
  EXPECT_EQ(compared("mmio_exits")["difference"], 0);
  EXPECT_EQ(compared("halt_exits")["kvm_value"], 0);
  // KVM intercepts each single access once, each element of the rep outsw
  // runs once, and each run once more to find its count done.
  EXPECT_EQ(compared("io_exits")["status"], kCompareExplained);
  EXPECT_EQ(compared("io_exits")["kvm_value"], kOuts + kIns + 1 + kStringWords + kStringRuns);
  EXPECT_EQ(compared("io_exits")["difference"], -static_cast<int>(kStringRuns));
  EXPECT_EQ(compared("signal_exits")["difference"], 0);
  EXPECT_GE(compared("exits")["kvm_value"], kOuts + kIns + 1 + kMmioWrites + 1 + kMmioReads);
}

// rep ins comes to vpio in batches, rep outs element by element; each run of
// either costs KVM one intercept more, which the profile counts per site.
struct RepeatedStrings : Xbyak::CodeGenerator {
  std::size_t ins_at = 0, outs_at = 0, hlt_at = 0;
  RepeatedStrings() {
    mov(r8d, 3);
    L("again");
    mov(ecx, 1500);
    mov(edi, static_cast<std::uint32_t>(kStringSource));
    mov(dx, kScratchPort);
    cld();
    ins_at = getSize();
    rep();
    db(0x66);  // Xbyak has no insw
    db(0x6d);
    mov(ecx, 7);
    mov(esi, static_cast<std::uint32_t>(kStringSource));
    outs_at = getSize();
    rep();
    outsb();
    dec(r8d);
    jnz("again");
    // Ends by halting with interrupts off: one hlt exit, KVM already past it.
    cli();
    hlt_at = getSize();
    hlt();
  }
};

TEST_F(ProfileTest, RepStringRunsAreCountedAndExplainKvmsExtraIntercepts) {
  RepeatedStrings gen;
  auto machine = make_machine(code_of(gen), "strings", /*profile=*/true);
  machine->ports().add(kScratchPort, 4, scratch_, "scratch");
  const GuestOutcome outcome = run(*machine);
  ASSERT_EQ(outcome.kind, GuestOutcome::Kind::halted) << outcome.detail;
  const json g =
      guest_profile_json({machine->name(), outcome, profile_of(*machine), &machine->ports(),
                          &machine->mmio(), &machine->kvm_identity()});
  SCOPED_TRACE(g.dump(1));
  EXPECT_EQ(scratch_.reads, 3u * 1500);
  EXPECT_EQ(scratch_.writes, 3u * 7);
  auto site_at = [&](std::size_t offset) {
    return find_row(g["sites"],
                    [&](const json& r) { return r["rip"] == layout::kImageBase + offset; });
  };
  const json* ins = site_at(gen.ins_at);
  ASSERT_NE(ins, nullptr);
  EXPECT_EQ((*ins)["accesses"], 3 * 1500);
  EXPECT_EQ((*ins)["rep_runs"], 3);
  EXPECT_LT((*ins)["exits"], 3 * 1500) << "rep ins is batched";
  const json* halt = site_at(gen.hlt_at);
  ASSERT_NE(halt, nullptr);
  EXPECT_EQ((*halt)["instruction"], "hlt");
  EXPECT_EQ((*halt)["exits"], 1);
  EXPECT_EQ((*halt)["reason"], "hlt");
  const json* outs = site_at(gen.outs_at);
  ASSERT_NE(outs, nullptr);
  EXPECT_EQ((*outs)["exits"], 3 * 7);
  EXPECT_EQ((*outs)["rep_runs"], 3);
  const json& kvm = g["kvm_stats"];
  ASSERT_TRUE(kvm["available"]) << kvm["error"];
  const json* io = find_row(kvm["compared"], [](const json& r) { return r["kvm"] == "io_exits"; });
  ASSERT_NE(io, nullptr);
  for (const json& row : kvm["compared"]) expect_kvm_row_holds(row);
  // Exact on the flavour the rule was measured on (SVM in the lab).
  if (!(*io)["measured_here"].get<bool>()) return;
  EXPECT_EQ((*io)["status"], kCompareExplained) << io->dump(1);
  EXPECT_EQ((*io)["difference"], -6) << "one intercept more for each of the 6 runs";
  const json* halts =
      find_row(kvm["compared"], [](const json& r) { return r["kvm"] == "halt_exits"; });
  ASSERT_NE(halts, nullptr);
  EXPECT_EQ((*halts)["kvm_value"], 1);
}

}  // namespace
}  // namespace vpio::test

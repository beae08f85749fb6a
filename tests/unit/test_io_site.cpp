// Port I/O decoding by hand (every opcode and prefix it honours, and the
// encodings capstone 4 misreads) and the placement of I/O exits in decoded
// instruction streams with rip left on the instruction and past it.
#include <gtest/gtest.h>
#include <linux/kvm.h>

#include <tuple>
#include <vector>

#include "app/profile_json.hpp"
#include "profile/disassembler.hpp"
#include "profile/io_site.hpp"
#include "profile/render/profile_report.hpp"

namespace vpio {
namespace {

using Bytes = std::vector<std::uint8_t>;
using Port = PortIoInstruction::Port;

PortIoInstruction decoded(const Bytes& bytes) {
  const auto insn = decode_port_io(bytes);
  EXPECT_TRUE(insn.has_value()) << hex_bytes(bytes);
  return insn.value_or(PortIoInstruction{});
}

struct Form {
  Bytes bytes;
  bool in;
  bool string;
  bool rep;
  unsigned element_bytes;
  Port port;
  const char* text;
};

TEST(PortIoDecoder, EveryOpcodeWithEachOperandSize) {
  const std::vector<Form> forms = {
      {{0xe4, 0x60}, true, false, false, 1, Port::immediate, "in al, 0x60"},
      {{0xe5, 0x60}, true, false, false, 4, Port::immediate, "in eax, 0x60"},
      {{0x66, 0xe5, 0x60}, true, false, false, 2, Port::immediate, "in ax, 0x60"},
      {{0xe6, 0x80}, false, false, false, 1, Port::immediate, "out 0x80, al"},
      {{0xe7, 0x05}, false, false, false, 4, Port::immediate, "out 5, eax"},
      {{0x66, 0xe7, 0x80}, false, false, false, 2, Port::immediate, "out 0x80, ax"},
      {{0xec}, true, false, false, 1, Port::dx, "in al, dx"},
      {{0xed}, true, false, false, 4, Port::dx, "in eax, dx"},
      {{0x66, 0xed}, true, false, false, 2, Port::dx, "in ax, dx"},
      {{0xee}, false, false, false, 1, Port::dx, "out dx, al"},
      {{0xef}, false, false, false, 4, Port::dx, "out dx, eax"},
      {{0x66, 0xef}, false, false, false, 2, Port::dx, "out dx, ax"},
      {{0x6c}, true, true, false, 1, Port::dx, "insb byte ptr [rdi], dx"},
      {{0x6d}, true, true, false, 4, Port::dx, "insd dword ptr [rdi], dx"},
      {{0x66, 0x6d}, true, true, false, 2, Port::dx, "insw word ptr [rdi], dx"},
      {{0x6e}, false, true, false, 1, Port::dx, "outsb dx, byte ptr [rsi]"},
      {{0x6f}, false, true, false, 4, Port::dx, "outsd dx, dword ptr [rsi]"},
      {{0x66, 0x6f}, false, true, false, 2, Port::dx, "outsw dx, word ptr [rsi]"},
      {{0xf3, 0x6c}, true, true, true, 1, Port::dx, "rep insb byte ptr [rdi], dx"},
      {{0xf3, 0x66, 0x6d}, true, true, true, 2, Port::dx, "rep insw word ptr [rdi], dx"},
      {{0x66, 0xf3, 0x6d}, true, true, true, 2, Port::dx, "rep insw word ptr [rdi], dx"},
      {{0xf3, 0x6d}, true, true, true, 4, Port::dx, "rep insd dword ptr [rdi], dx"},
      {{0xf3, 0x6e}, false, true, true, 1, Port::dx, "rep outsb dx, byte ptr [rsi]"},
      {{0xf3, 0x66, 0x6f}, false, true, true, 2, Port::dx, "rep outsw dx, word ptr [rsi]"},
      {{0x66, 0xf3, 0x6f}, false, true, true, 2, Port::dx, "rep outsw dx, word ptr [rsi]"},
      {{0xf3, 0x6f}, false, true, true, 4, Port::dx, "rep outsd dx, dword ptr [rsi]"},
  };
  for (const Form& f : forms) {
    SCOPED_TRACE(hex_bytes(f.bytes));
    const PortIoInstruction insn = decoded(f.bytes);
    EXPECT_EQ(insn.length, f.bytes.size());
    EXPECT_EQ(insn.in, f.in);
    EXPECT_EQ(insn.string, f.string);
    EXPECT_EQ(insn.rep, f.rep);
    EXPECT_EQ(insn.element_bytes, f.element_bytes);
    EXPECT_EQ(insn.port, f.port);
    EXPECT_EQ(insn.address_bytes, 8u);
    EXPECT_EQ(insn.text(), f.text);
  }
  EXPECT_EQ(decoded({0xe4, 0x60}).port_immediate, 0x60);
}

TEST(PortIoDecoder, PrefixesThatCount) {
  // F2 repeats ins/outs like F3.
  EXPECT_TRUE(decoded({0xf2, 0x6e}).rep);
  EXPECT_EQ(decoded({0xf2, 0x6e}).text(), "rep outsb dx, byte ptr [rsi]");
  // 67: esi/edi, and ecx counts.
  const PortIoInstruction narrow = decoded({0x67, 0xf3, 0x6e});
  EXPECT_EQ(narrow.address_bytes, 4u);
  EXPECT_EQ(narrow.text(), "rep outsb dx, byte ptr [esi]");
  EXPECT_EQ(decoded({0xf3, 0x67, 0x66, 0x6d}).text(), "rep insw word ptr [edi], dx");
  // fs and gs move the source of outs; ins always writes es:[rdi].
  EXPECT_EQ(decoded({0x64, 0x6e}).text(), "outsb dx, byte ptr fs:[rsi]");
  EXPECT_EQ(decoded({0x65, 0x66, 0xf3, 0x6f}).text(), "rep outsw dx, word ptr gs:[rsi]");
  EXPECT_EQ(decoded({0x64, 0x2e, 0x6e}).segment, PortIoInstruction::Segment::none);
  EXPECT_EQ(decoded({0x64, 0x6c}).text(), "insb byte ptr [rdi], dx");
}

TEST(PortIoDecoder, PrefixesThatDoNot) {
  // REX is ignored by port I/O: no 64-bit form, and REX.W does not cancel 66.
  EXPECT_EQ(decoded({0x48, 0xef}).element_bytes, 4u);
  EXPECT_EQ(decoded({0x66, 0x48, 0xef}).element_bytes, 2u);
  EXPECT_EQ(decoded({0x48, 0x6d}).text(), "insd dword ptr [rdi], dx");
  EXPECT_EQ(decoded({0x66, 0x48, 0x6f}).text(), "outsw dx, word ptr [rsi]");
  // A rep on in/out, a 67 on in/out, cs/ds/es/ss: no effect.
  const PortIoInstruction single = decoded({0xf3, 0x67, 0x2e, 0xee});
  EXPECT_FALSE(single.rep);
  EXPECT_FALSE(single.string);
  EXPECT_EQ(single.length, 4u);
  EXPECT_EQ(single.text(), "out dx, al");
  EXPECT_EQ(decoded({0x2e, 0x6e}).text(), "outsb dx, byte ptr [rsi]");
}

TEST(PortIoDecoder, WhatIsNotPortIo) {
  for (const Bytes& bytes : std::vector<Bytes>{{},
                                               {0x66},
                                               {0xf3, 0x66},
                                               {0xe4},  // its imm8 missing
                                               {0x66, 0xe7},
                                               {0xf0, 0xee},  // lock: #UD
                                               {0x90},
                                               {0xf3, 0xa4},  // rep movsb
                                               {0x0f, 0x6e, 0xc0},
                                               {0xe8, 0x00, 0x00, 0x00, 0x00}}) {
    SCOPED_TRACE(hex_bytes(bytes));
    EXPECT_FALSE(decode_port_io(bytes).has_value());
  }
  // At most 15 bytes: 14 prefixes and the opcode decode, 15 and one do not.
  Bytes longest(14, 0x66);
  longest.push_back(0xef);
  EXPECT_EQ(decoded(longest).length, 15u);
  Bytes too_long(15, 0x66);
  too_long.push_back(0xef);
  EXPECT_FALSE(decode_port_io(too_long).has_value());
  Bytes immediate_past_15(14, 0x66);
  immediate_past_15.push_back(0xe7);
  immediate_past_15.push_back(0x80);
  EXPECT_FALSE(decode_port_io(immediate_past_15).has_value());
  // Only the first instruction.
  EXPECT_EQ(decoded({0xee, 0xef}).length, 1u);
}

// The bug this decoder exists for: capstone 4.0.2 ignores a 66 that comes
// before the F3 of ins/outs and prints outsd/insd, though the elements are 2
// bytes. Xbyak's `db(0x66); rep(); outsw()` and gcc's `rep outsw` both emit
// this order.
TEST(PortIoDecoder, CapstonesPrefixOrderBugIsCaughtAndOverridden) {
  const X86Disassembler disassembler;
  for (const auto& [bytes, text] :
       {std::pair{Bytes{0x66, 0xf3, 0x6f}, "rep outsw dx, word ptr [rsi]"},
        std::pair{Bytes{0x66, 0xf3, 0x6d}, "rep insw word ptr [rdi], dx"},
        std::pair{Bytes{0x66, 0xf2, 0x6f}, "rep outsw dx, word ptr [rsi]"}}) {
    SCOPED_TRACE(hex_bytes(bytes));
    const PortIoInstruction insn = decoded(bytes);
    EXPECT_EQ(insn.element_bytes, 2u);
    EXPECT_EQ(insn.text(), text);
    const DecodedInstruction library = disassembler.decode(bytes, 0x100000);
    // Whatever the installed capstone says, a disagreement is detected.
    EXPECT_EQ(disassembler_agrees(library, insn), library.port_element_bytes == 2) << library.text;
  }
}

TEST(PortIoDecoder, CapstoneAgreesOnWhatItReadsRight) {
  const X86Disassembler disassembler;
  for (const Bytes& bytes : std::vector<Bytes>{{0xee},
                                               {0x66, 0xef},
                                               {0xef},
                                               {0xec},
                                               {0x66, 0xed},
                                               {0xe6, 0x80},
                                               {0xe5, 0x60},
                                               {0xf3, 0x66, 0x6f},
                                               {0xf3, 0x66, 0x6d},
                                               {0xf3, 0x6e},
                                               {0x6c},
                                               {0x6d},
                                               {0x67, 0xf3, 0x6e},
                                               {0x64, 0x6e},
                                               {0x66, 0x48, 0xef}}) {
    SCOPED_TRACE(hex_bytes(bytes));
    const DecodedInstruction library = disassembler.decode(bytes, 0x100000);
    EXPECT_TRUE(disassembler_agrees(library, decoded(bytes))) << library.text;
  }
  // Not the same instruction at all.
  EXPECT_FALSE(disassembler_agrees(disassembler.decode(Bytes{0x90}, 0), decoded({0xee})));
  EXPECT_FALSE(disassembler_agrees(disassembler.decode(Bytes{0xec}, 0), decoded({0xee})));
  EXPECT_FALSE(disassembler_agrees(disassembler.decode(Bytes{0xf3, 0x6e}, 0), decoded({0x6e})));
}

TEST(PortIoDecoder, TheProfileShowsTheRightMnemonicAndKeepsCapstones) {
  ExitProfile p;
  ExitEvent e;
  e.reason = KVM_EXIT_IO;
  e.rip = 0x100c0f;
  e.write = true;
  e.address = 0x310;
  e.amount = 1;
  SiteTotals* site = p.record(e);
  ASSERT_NE(site, nullptr);
  const Bytes bytes = {0x66, 0xf3, 0x6f};
  site->bytes_read = true;
  site->instruction_rip = e.rip;
  site->length = 3;
  std::copy(bytes.begin(), bytes.end(), site->bytes.begin());
  site->rep_count_bytes = 8;
  const nlohmann::json g = guest_profile_json({"g", GuestOutcome{}, &p, nullptr, nullptr});
  const nlohmann::json& row = g["sites"][0];
  EXPECT_EQ(row["instruction"], "rep outsw dx, word ptr [rsi]");
  EXPECT_EQ(row["bytes"], "66 f3 6f");
  const X86Disassembler disassembler;
  const DecodedInstruction library = disassembler.decode(bytes, e.rip);
  if (library.text != "rep outsw dx, word ptr [rsi]") {
    EXPECT_EQ(row["capstone_decode"], library.text);
  } else {
    EXPECT_FALSE(row.contains("capstone_decode"));
  }
  EXPECT_EQ(row["rip_at_exit"], "on");
  // The report says so under the sites table.
  const std::string report =
      profile_text_report({{"schema", kProfileSchema},
                           {"kvm",
                            {{"module", "kvm_amd"},
                             {"kernel_release", "6.1.0"},
                             {"flavour", "kvm_amd 6.1"},
                             {"api_version", 12},
                             {"capabilities", nlohmann::json::object()}}},
                           {"guests", nlohmann::json::array({g})}});
  EXPECT_EQ(report.find("0x100c0f: capstone decoded 66 f3 6f as \"" + library.text + "\"") !=
                std::string::npos,
            row.contains("capstone_decode"))
      << report;
}

TEST(PortIoDecoder, AnUnplacedSiteIsMarked) {
  ExitProfile p;
  ExitEvent e;
  e.reason = KVM_EXIT_IO;
  e.rip = 0x100020;
  e.address = 0x310;
  SiteTotals* site = p.record(e);
  ASSERT_NE(site, nullptr);
  site->bytes_read = true;
  site->instruction_rip = e.rip;
  site->io_unplaced = true;
  site->length = 1;
  site->bytes[0] = 0x5b;
  const nlohmann::json g = guest_profile_json({"g", GuestOutcome{}, &p, nullptr, nullptr});
  EXPECT_EQ(g["sites"][0]["instruction"],
            "(no instruction at or ending at rip makes this access) pop rbx");
  EXPECT_EQ(g["sites"][0]["rip_at_exit"], "unplaced");
}

// A rep outs on a KVM that leaves rip past its last element: two raw sites,
// one row at the instruction.
TEST(PortIoDecoder, OnAndPastSitesOfOneInstructionAreOneRow) {
  ExitProfile p;
  ExitEvent e;
  e.reason = KVM_EXIT_IO;
  e.write = true;
  e.address = 0x310;
  const Bytes bytes = {0x66, 0xf3, 0x6f};
  for (const auto& [rip, how, exits] :
       {std::tuple{0x100040, IoRip::on, 9}, std::tuple{0x100043, IoRip::past, 1}}) {
    e.rip = static_cast<std::uint64_t>(rip);
    SiteTotals* site = nullptr;
    for (int i = 0; i < exits; ++i) site = p.record(e);
    ASSERT_NE(site, nullptr);
    site->bytes_read = true;
    site->instruction_rip = 0x100040;
    site->io_rip = how;
    site->length = 3;
    std::copy(bytes.begin(), bytes.end(), site->bytes.begin());
    site->rep_count_bytes = 8;
  }
  p.site(SiteKey{0x100043, KVM_EXIT_IO, true}).rep_runs = 1;
  const nlohmann::json g = guest_profile_json({"g", GuestOutcome{}, &p, nullptr, nullptr});
  ASSERT_EQ(g["sites"].size(), 1u) << g["sites"].dump(1);
  EXPECT_EQ(g["sites"][0]["rip"], 0x100040);
  EXPECT_EQ(g["sites"][0]["exits"], 10);
  EXPECT_EQ(g["sites"][0]["rep_runs"], 1);
  EXPECT_EQ(g["sites"][0]["rip_at_exit"], "on and past");
  EXPECT_EQ(g["sites"][0]["instruction"], "rep outsw dx, word ptr [rsi]");
}

// ---------------------------------------------------------------------------
// Placement. A stream of instructions at kBase; an exit is made at one of
// them with rip on it or just past it, the way a KVM reports it.

constexpr std::uint64_t kBase = 0x100000;
constexpr std::uint16_t kDataPort = 0x310;

class Stream {
 public:
  explicit Stream(std::vector<Bytes> instructions) {
    for (const Bytes& insn : instructions) {
      starts_.push_back(code_.size());
      code_.insert(code_.end(), insn.begin(), insn.end());
    }
    starts_.push_back(code_.size());
  }
  std::size_t start(std::size_t k) const { return starts_.at(k); }
  std::size_t end(std::size_t k) const { return starts_.at(k + 1); }
  // The placer's view of the code around an exit whose rip is at `offset`.
  std::optional<IoPlacement> place(IoSitePlacer& placer, std::size_t offset,
                                   const IoExitFacts& exit) const {
    const std::span<const std::uint8_t> code(code_);
    const std::size_t from =
        offset >= PortIoInstruction::kMaxLength ? offset - PortIoInstruction::kMaxLength : 0;
    const std::size_t to = std::min(code.size(), offset + PortIoInstruction::kMaxLength);
    return placer.place(code.subspan(from, offset - from), code.subspan(offset, to - offset), exit);
  }

 private:
  Bytes code_;
  std::vector<std::size_t> starts_;
};

IoExitFacts out_exit(unsigned size, std::uint16_t port = kDataPort, std::uint32_t count = 1) {
  return {port, static_cast<std::uint8_t>(size), false, count, port, 5};
}
IoExitFacts in_exit(unsigned size, std::uint16_t port = kDataPort, std::uint32_t count = 1) {
  return {port, static_cast<std::uint8_t>(size), true, count, port, 5};
}

// Checks that the exit placed from `rip` lands on instruction k, by `rip`.
void expect_placed(const std::optional<IoPlacement>& placed, const Stream& s, std::size_t rip,
                   std::size_t k, IoRip how, const char* text) {
  ASSERT_TRUE(placed.has_value()) << "rip at +" << rip;
  EXPECT_EQ(placed->rip, how);
  EXPECT_EQ(rip - placed->back(), s.start(k));
  EXPECT_EQ(placed->instruction.length, s.end(k) - s.start(k));
  EXPECT_EQ(placed->instruction.text(), text);
}

// The PVM reports: each `out` credited to the instruction after it.
TEST(IoPlacement, SingleOutWithRipOnOrPastIt) {
  const Bytes dec_ecx = {0xff, 0xc9}, pop_rbx = {0x5b}, lea_edx = {0x8d, 0x51, 0x0a};
  for (const Bytes& next : {dec_ecx, pop_rbx, lea_edx}) {
    SCOPED_TRACE(hex_bytes(next));
    const Stream s({{0xba, 0x10, 0x03, 0x00, 0x00}, {0x66, 0xef}, next, {0xee}});
    IoSitePlacer placer;
    expect_placed(s.place(placer, s.start(1), out_exit(2)), s, s.start(1), 1, IoRip::on,
                  "out dx, ax");
    expect_placed(s.place(placer, s.end(1), out_exit(2)), s, s.end(1), 1, IoRip::past,
                  "out dx, ax");
    expect_placed(s.place(placer, s.start(3), out_exit(1)), s, s.start(3), 3, IoRip::on,
                  "out dx, al");
    // The last instruction of the stream, rip at the end of the code.
    expect_placed(s.place(placer, s.end(3), out_exit(1)), s, s.end(3), 3, IoRip::past,
                  "out dx, al");
    EXPECT_EQ(placer.seen(false, false, IoRip::on), 2u);
    EXPECT_EQ(placer.seen(false, false, IoRip::past), 2u);
  }
}

TEST(IoPlacement, InFromDxAndImmediatePortsBothWays) {
  const Stream s({{0xec}, {0x90}, {0xe4, 0x60}, {0x90}, {0xe6, 0x80}, {0x48, 0x89, 0xc3}});
  IoSitePlacer placer;
  expect_placed(s.place(placer, s.start(0), in_exit(1)), s, s.start(0), 0, IoRip::on, "in al, dx");
  expect_placed(s.place(placer, s.end(0), in_exit(1)), s, s.end(0), 0, IoRip::past, "in al, dx");
  expect_placed(s.place(placer, s.start(2), in_exit(1, 0x60)), s, s.start(2), 2, IoRip::on,
                "in al, 0x60");
  expect_placed(s.place(placer, s.end(2), in_exit(1, 0x60)), s, s.end(2), 2, IoRip::past,
                "in al, 0x60");
  expect_placed(s.place(placer, s.end(4), out_exit(1, 0x80)), s, s.end(4), 4, IoRip::past,
                "out 0x80, al");
  // The immediate is the port, whatever dx holds.
  IoExitFacts dx_elsewhere = out_exit(1, 0x80);
  dx_elsewhere.rdx = 0x3f8;
  EXPECT_TRUE(s.place(placer, s.start(4), dx_elsewhere).has_value());
  // Only dx's low 16 bits name the port.
  IoExitFacts high_bits = in_exit(1);
  high_bits.rdx = 0xdead'beef'0000'0000ULL | kDataPort;
  EXPECT_TRUE(s.place(placer, s.start(0), high_bits).has_value());
}

TEST(IoPlacement, WrongPortSizeOrDirectionIsNotPlaced) {
  const Stream s({{0x90}, {0x66, 0xef}, {0x90}, {0xe6, 0x80}, {0x90}});
  IoSitePlacer placer;
  for (const std::size_t rip : {s.start(1), s.end(1)}) {
    SCOPED_TRACE(rip);
    EXPECT_FALSE(s.place(placer, rip, out_exit(1)).has_value()) << "a byte, not a word";
    EXPECT_FALSE(s.place(placer, rip, in_exit(2)).has_value()) << "an in, not an out";
    IoExitFacts other_port = out_exit(2);
    other_port.rdx = kDataPort + 1;
    EXPECT_FALSE(s.place(placer, rip, other_port).has_value()) << "dx names another port";
    EXPECT_FALSE(s.place(placer, rip, out_exit(2, kDataPort, 2)).has_value())
        << "two elements: not a single out";
  }
  // Read backwards, the `ef` that ends at rip could be a whole `out dx, eax`
  // (which is why the shortest candidate must also fit the size); on it the
  // 66 is known to be the instruction's own.
  EXPECT_FALSE(s.place(placer, s.start(1), out_exit(4)).has_value());
  for (const std::size_t rip : {s.start(3), s.end(3)})
    EXPECT_FALSE(s.place(placer, rip, out_exit(1, 0x81)).has_value()) << "the immediate is 0x80";
  // Neither side of rip is port I/O.
  EXPECT_FALSE(s.place(placer, s.end(4), out_exit(1)).has_value());
  EXPECT_EQ(placer.seen(false, false, IoRip::on) + placer.seen(false, false, IoRip::past), 0u);
}

TEST(IoPlacement, RepOutsMidRunOnAndLastElementPast) {
  // mov ecx, n; rep outsw (66 f3 6f, gcc's and Xbyak's prefix order); mov ecx, 7
  const Stream s(
      {{0xb9, 0x00, 0x10, 0x00, 0x00}, {0x66, 0xf3, 0x6f}, {0xb9, 0x07, 0x00, 0x00, 0x00}});
  IoSitePlacer placer;
  IoExitFacts mid = out_exit(2);
  mid.rcx = 100;  // elements left
  expect_placed(s.place(placer, s.start(1), mid), s, s.start(1), 1, IoRip::on,
                "rep outsw dx, word ptr [rsi]");
  IoExitFacts last = out_exit(2);
  last.rcx = 0;
  // A KVM that steps past the instruction with its last element...
  expect_placed(s.place(placer, s.end(1), last), s, s.end(1), 1, IoRip::past,
                "rep outsw dx, word ptr [rsi]");
  // ...or one that leaves rip on it to the end (SVM, measured in the lab).
  expect_placed(s.place(placer, s.start(1), last), s, s.start(1), 1, IoRip::on,
                "rep outsw dx, word ptr [rsi]");
  EXPECT_EQ(placer.seen(false, true, IoRip::on), 2u);
  EXPECT_EQ(placer.seen(false, true, IoRip::past), 1u);
}

TEST(IoPlacement, RepBeforeAStringOpIsItsOwnWhenTheRunIsDone) {
  // rep outsb ending at rip: `6e` alone is an outsb too.
  const Stream s({{0xb9, 0x07, 0x00, 0x00, 0x00}, {0xf3, 0x6e}, {0x90}});
  IoSitePlacer placer;
  IoExitFacts done = out_exit(1);
  done.rcx = 0;
  expect_placed(s.place(placer, s.end(1), done), s, s.end(1), 1, IoRip::past,
                "rep outsb dx, byte ptr [rsi]");
  // With elements left rip would still be on a rep: past it is a lone outsb
  // after an instruction that ends in F3.
  IoExitFacts left = out_exit(1);
  left.rcx = 3;
  const auto lone = s.place(placer, s.end(1), left);
  ASSERT_TRUE(lone.has_value());
  EXPECT_EQ(lone->instruction.text(), "outsb dx, byte ptr [rsi]");
  EXPECT_EQ(lone->back(), 1u);
  // 67: ecx is the count, rcx's upper half is not.
  const Stream narrow({{0x90}, {0x67, 0xf3, 0x6e}, {0x90}});
  IoExitFacts ecx_done = out_exit(1);
  ecx_done.rcx = 0xffff'ffff'0000'0000ULL;
  expect_placed(narrow.place(placer, narrow.end(1), ecx_done), narrow, narrow.end(1), 1,
                IoRip::past, "rep outsb dx, byte ptr [esi]");
}

TEST(IoPlacement, RepInsBatchesNeedARep) {
  const Stream s({{0x90}, {0xf3, 0x66, 0x6d}, {0x90}, {0x66, 0x6d}, {0x90}});
  IoSitePlacer placer;
  expect_placed(s.place(placer, s.start(1), in_exit(2, kDataPort, 512)), s, s.start(1), 1,
                IoRip::on, "rep insw word ptr [rdi], dx");
  for (const std::size_t rip : {s.start(3), s.end(3)})
    EXPECT_FALSE(s.place(placer, rip, in_exit(2, kDataPort, 2)).has_value())
        << "an insw without rep moves one word";
  expect_placed(s.place(placer, s.start(3), in_exit(2)), s, s.start(3), 3, IoRip::on,
                "insw word ptr [rdi], dx");
}

// `ee ee`: rip on the second is also rip past the first.
TEST(IoPlacement, AmbiguousFollowsTheConventionSeenForTheSameKind) {
  const Stream twice({{0xee}, {0xee}});
  const Stream once({{0xee}, {0x5b}});
  const Stream in_once({{0xec}, {0x5b}});
  {
    IoSitePlacer fresh;
    expect_placed(twice.place(fresh, twice.start(1), out_exit(1)), twice, twice.start(1), 1,
                  IoRip::on, "out dx, al");
    EXPECT_EQ(fresh.seen(false, false, IoRip::on), 0u) << "an ambiguous exit is no evidence";
  }
  {
    IoSitePlacer pvm;
    // An `in` left past says nothing about `out`s.
    ASSERT_TRUE(in_once.place(pvm, in_once.end(0), in_exit(1)).has_value());
    expect_placed(twice.place(pvm, twice.start(1), out_exit(1)), twice, twice.start(1), 1,
                  IoRip::on, "out dx, al");
    ASSERT_TRUE(once.place(pvm, once.end(0), out_exit(1)).has_value());
    expect_placed(twice.place(pvm, twice.start(1), out_exit(1)), twice, twice.start(1), 0,
                  IoRip::past, "out dx, al");
  }
  {
    IoSitePlacer svm;
    ASSERT_TRUE(once.place(svm, once.start(0), out_exit(1)).has_value());
    expect_placed(twice.place(svm, twice.start(1), out_exit(1)), twice, twice.start(1), 1,
                  IoRip::on, "out dx, al");
  }
}

TEST(IoPlacement, ThePreviousInstructionsLastByteIsNoPrefix) {
  // mov eax, 0x66000000 ends in 66; `ee` after it is a one-byte out.
  const Stream s({{0xb8, 0x00, 0x00, 0x00, 0x66}, {0xee}, {0x5b}});
  IoSitePlacer placer;
  expect_placed(s.place(placer, s.end(1), out_exit(1)), s, s.end(1), 1, IoRip::past, "out dx, al");
  // But a 66 that makes the access a word is the instruction's own.
  const Stream word({{0xb8, 0x00, 0x00, 0x00, 0x90}, {0x66, 0xef}, {0x5b}});
  expect_placed(word.place(placer, word.end(1), out_exit(2)), word, word.end(1), 1, IoRip::past,
                "out dx, ax");
}

TEST(IoPlacement, LittleOrNoCodeAroundRip) {
  IoSitePlacer placer;
  const Bytes code = {0xee};
  EXPECT_FALSE(placer.place({}, {}, out_exit(1)).has_value());
  EXPECT_TRUE(placer.place({}, code, out_exit(1)).has_value());
  EXPECT_TRUE(placer.place(code, {}, out_exit(1)).has_value());
  const Bytes cut = {0x66};  // the rest of the instruction could not be read
  EXPECT_FALSE(placer.place({}, cut, out_exit(2)).has_value());
}

}  // namespace
}  // namespace vpio

// The capstone wrapper on real encodings of the port I/O instructions guests
// use, and on what is not an instruction.
#include <gtest/gtest.h>

#include <vector>

#include "profile/disassembler.hpp"

namespace vpio {
namespace {

constexpr std::uint64_t kRip = 0x100020;

DecodedInstruction decode(std::vector<std::uint8_t> bytes) {
  static const X86Disassembler disassembler;
  return disassembler.decode(bytes, kRip);
}

void expect_decodes(const std::vector<std::uint8_t>& bytes, const std::string& text,
                    bool string_io = false, bool rep = false) {
  SCOPED_TRACE(hex_bytes(bytes));
  const DecodedInstruction insn = decode(bytes);
  EXPECT_TRUE(insn.valid);
  EXPECT_EQ(insn.text, text);
  EXPECT_EQ(insn.length, bytes.size());
  EXPECT_EQ(insn.string_io, string_io);
  EXPECT_EQ(insn.rep, rep);
}

TEST(Disassembler, PortOutputOfEachWidth) {
  expect_decodes({0xee}, "out dx, al");
  expect_decodes({0x66, 0xef}, "out dx, ax");
  expect_decodes({0xef}, "out dx, eax");
  expect_decodes({0xe6, 0x80}, "out 0x80, al");
}

TEST(Disassembler, PortInput) {
  expect_decodes({0xec}, "in al, dx");
  expect_decodes({0x66, 0xed}, "in ax, dx");
}

TEST(Disassembler, StringIoWithAndWithoutRep) {
  expect_decodes({0xf3, 0x66, 0x6f}, "rep outsw dx, word ptr [rsi]", true, true);
  expect_decodes({0xf3, 0x66, 0x6d}, "rep insw word ptr [rdi], dx", true, true);
  expect_decodes({0x6e}, "outsb dx, byte ptr [rsi]", true, false);
  expect_decodes({0x6d}, "insd dword ptr [rdi], dx", true, false);
}

TEST(Disassembler, RepOnAStringMoveIsNotStringIo) {
  expect_decodes({0xf3, 0x48, 0xa5}, "rep movsq qword ptr [rdi], qword ptr [rsi]", false, true);
}

TEST(Disassembler, MandatoryF3PrefixIsNotRep) {
  expect_decodes({0xf3, 0x0f, 0xb8, 0xc0}, "popcnt eax, eax");
  expect_decodes({0xf3, 0x90}, "pause");
}

TEST(Disassembler, MmioStoreAndHalt) {
  expect_decodes({0xc7, 0x00, 0x78, 0x56, 0x34, 0x12}, "mov dword ptr [rax], 0x12345678");
  expect_decodes({0xf4}, "hlt");
}

TEST(Disassembler, DecodesOnlyTheFirstInstruction) {
  const DecodedInstruction insn = decode({0x66, 0xef, 0xf4, 0xf4});
  EXPECT_TRUE(insn.valid);
  EXPECT_EQ(insn.text, "out dx, ax");
  EXPECT_EQ(insn.length, 2u);
}

TEST(Disassembler, RelativeTargetsUseTheAddress) {
  // jmp rel8 +0: the target is the next instruction.
  EXPECT_EQ(decode({0xeb, 0x00}).text, "jmp 0x100022");
}

TEST(Disassembler, EmptyAndTruncatedBytesAreNotValid) {
  for (const std::vector<std::uint8_t>& bytes : std::vector<std::vector<std::uint8_t>>{
           {}, {0x66}, {0xe6}, {0xc7, 0x00, 0x78, 0x56, 0x34}, {0x0f}, {0xf3, 0x66}}) {
    SCOPED_TRACE(hex_bytes(bytes));
    const DecodedInstruction insn = decode(bytes);
    EXPECT_FALSE(insn.valid);
    EXPECT_EQ(insn.text, "(undecodable)");
    EXPECT_EQ(insn.length, 0u);
    EXPECT_FALSE(insn.string_io);
    EXPECT_FALSE(insn.rep);
  }
}

TEST(Disassembler, HexBytes) {
  const std::vector<std::uint8_t> bytes{0x66, 0xef, 0x00, 0xa5};
  EXPECT_EQ(hex_bytes(bytes), "66 ef 00 a5");
  EXPECT_EQ(hex_bytes({}), "");
}

TEST(Disassembler, HandlesAreIndependent) {
  const X86Disassembler a;
  {
    const X86Disassembler b;
    const std::vector<std::uint8_t> hlt{0xf4};
    EXPECT_EQ(b.decode(hlt, 0).text, "hlt");
  }
  const std::vector<std::uint8_t> out{0xee};
  EXPECT_EQ(a.decode(out, 0).text, "out dx, al");
}

}  // namespace
}  // namespace vpio

namespace vpio {
namespace {

TEST(DisassemblerMemoryOperand, BaseIndexScaleDisplacementAndSize) {
  const X86Disassembler d;
  const std::uint8_t store[] = {0x48, 0x89, 0x5c, 0xd0, 0x10};  // mov [rax+rdx*8+0x10], rbx
  const DecodedInstruction insn = d.decode(store, 0x1000);
  ASSERT_TRUE(insn.memory);
  EXPECT_EQ(insn.memory->base, 0);
  EXPECT_EQ(insn.memory->index, 2);
  EXPECT_EQ(insn.memory->scale, 8u);
  EXPECT_EQ(insn.memory->displacement, 0x10);
  EXPECT_EQ(insn.memory->size, 8u);
  EXPECT_TRUE(insn.memory->written);
  std::uint64_t gpr[16] = {};
  gpr[0] = 0xd000'0000;
  gpr[2] = 3;
  EXPECT_EQ(insn.memory->address(gpr, 0x1005), 0xd000'0000u + 3 * 8 + 0x10);
}

TEST(DisassemblerMemoryOperand, LoadsAreNotWritten) {
  const X86Disassembler d;
  const std::uint8_t load[] = {0x8b, 0x58, 0x08};  // mov ebx, [rax+8]
  const DecodedInstruction insn = d.decode(load, 0x1000);
  ASSERT_TRUE(insn.memory);
  EXPECT_FALSE(insn.memory->written);
  EXPECT_EQ(insn.memory->size, 4u);
  const std::uint8_t out[] = {0xee};
  EXPECT_FALSE(d.decode(out, 0x1000).memory);
}

TEST(DisassemblerMemoryOperand, RipRelativeAddressSizeAndSegments) {
  const X86Disassembler d;
  std::uint64_t gpr[16] = {};
  gpr[0] = 0x1'0000'0010;                                                    // rax, above 4 GiB
  const std::uint8_t rip_relative[] = {0x89, 0x05, 0x10, 0x00, 0x00, 0x00};  // mov [rip+0x10], eax
  const DecodedInstruction r = d.decode(rip_relative, 0x2000);
  ASSERT_TRUE(r.memory);
  EXPECT_EQ(r.memory->base, MemoryOperand::kRip);
  EXPECT_EQ(r.memory->address(gpr, 0x2006), 0x2016u);
  const std::uint8_t short_address[] = {0x67, 0x89, 0x18};  // mov [eax], ebx
  const DecodedInstruction s = d.decode(short_address, 0x2000);
  ASSERT_TRUE(s.memory);
  EXPECT_EQ(s.memory->address_bytes, 4u);
  EXPECT_EQ(s.memory->address(gpr, 0x2003), 0x10u);
  const std::uint8_t fs[] = {0x64, 0x89, 0x18};  // mov fs:[rax], ebx
  const DecodedInstruction f = d.decode(fs, 0x2000);
  ASSERT_TRUE(f.memory);
  EXPECT_FALSE(f.memory->address(gpr, 0x2003)) << "fs adds a base vpio does not know";
}

}  // namespace
}  // namespace vpio

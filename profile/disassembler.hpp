// x86-64 disassembly of one guest instruction with capstone: the text an exit
// profile prints beside a site, and whether the instruction is string I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace vpio {

// An explicit memory operand: base + index * scale + displacement. Registers
// are numbered as the encoding numbers them (rax 0, rcx 1, ... r15 15).
struct MemoryOperand {
  static constexpr int kNone = -1;
  static constexpr int kRip = 16;  // rip-relative: the base is the next instruction's address
  int base = kNone;
  int index = kNone;
  unsigned scale = 1;
  std::int64_t displacement = 0;
  unsigned size = 0;           // bytes accessed
  unsigned address_bytes = 8;  // 4 with an address-size prefix
  bool fs_or_gs = false;       // a segment whose base the address adds
  bool written = false;        // the instruction writes it

  // The linear address for `gpr` (in encoding order) and the address of the
  // instruction after this one; nullopt for an fs/gs operand.
  std::optional<std::uint64_t> address(const std::uint64_t (&gpr)[16],
                                       std::uint64_t next_rip) const noexcept;
};

struct DecodedInstruction {
  bool valid = false;      // capstone decoded an instruction
  std::string text;        // Intel syntax ("out dx, ax"); "(undecodable)" when !valid
  std::size_t length = 0;  // bytes of the instruction; 0 when !valid
  bool string_io = false;  // ins/outs of any width, with or without rep
  bool rep = false;        // a rep/repe/repne prefix capstone applied to the instruction
  // in/out/ins/outs as capstone read them (profile/io_site.hpp checks this
  // against its own decode: capstone 4 misreads `66 f3 6f` as outsd).
  bool port_io = false;
  bool port_in = false;
  unsigned port_element_bytes = 0;
  std::optional<MemoryOperand> memory;  // its first explicit memory operand
};

// A capstone handle in 64-bit mode with instruction details on. decode() is
// const but capstone keeps its last error in the handle: one disassembler per
// thread.
class X86Disassembler {
 public:
  // Throws std::runtime_error naming capstone's error if cs_open fails.
  X86Disassembler();
  ~X86Disassembler();
  X86Disassembler(const X86Disassembler&) = delete;
  X86Disassembler& operator=(const X86Disassembler&) = delete;

  // The first instruction in `bytes`, as if it sat at `address` (which only
  // matters for relative branch targets). Never throws for bad input: empty or
  // truncated bytes give valid == false.
  DecodedInstruction decode(std::span<const std::uint8_t> bytes, std::uint64_t address) const;

 private:
  std::size_t handle_ = 0;  // capstone's csh, kept out of this header
};

// Bytes as lower-case hex pairs separated by spaces: "66 ef"; "" for none.
std::string hex_bytes(std::span<const std::uint8_t> bytes);

}  // namespace vpio

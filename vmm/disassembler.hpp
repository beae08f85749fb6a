// x86-64 disassembly of one guest instruction with capstone: the text an exit
// profile prints beside a site, and whether the instruction is string I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace vpio {

struct DecodedInstruction {
  bool valid = false;      // capstone decoded an instruction
  std::string text;        // Intel syntax ("out dx, ax"); "(undecodable)" when !valid
  std::size_t length = 0;  // bytes of the instruction; 0 when !valid
  bool string_io = false;  // ins/outs of any width, with or without rep
  bool rep = false;        // a rep/repe/repne prefix capstone applied to the instruction
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

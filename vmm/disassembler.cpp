// The capstone side of X86Disassembler: open, decode one instruction, close.
#include "vmm/disassembler.hpp"

#include <capstone/capstone.h>

#include <memory>
#include <stdexcept>
#include <type_traits>

namespace vpio {
namespace {

static_assert(std::is_same_v<csh, std::size_t>, "the header keeps capstone's csh as a size_t");

constexpr const char* kUndecodable = "(undecodable)";

bool is_string_io(unsigned id) noexcept {
  switch (id) {
    case X86_INS_INSB:
    case X86_INS_INSW:
    case X86_INS_INSD:
    case X86_INS_OUTSB:
    case X86_INS_OUTSW:
    case X86_INS_OUTSD: return true;
    default: return false;
  }
}

// Capstone reports the rep group in prefix[0] only where the prefix means
// rep (string instructions), not where F3/F2 is a mandatory opcode prefix
// (popcnt, pause).
bool has_rep(const cs_x86& x86) noexcept {
  const std::uint8_t group1 = x86.prefix[0];
  return group1 == X86_PREFIX_REP || group1 == X86_PREFIX_REPE || group1 == X86_PREFIX_REPNE;
}

struct InsnDeleter {
  std::size_t count;
  void operator()(cs_insn* insn) const noexcept { cs_free(insn, count); }
};

}  // namespace

X86Disassembler::X86Disassembler() {
  csh handle = 0;
  const cs_err opened = cs_open(CS_ARCH_X86, CS_MODE_64, &handle);
  if (opened != CS_ERR_OK)
    throw std::runtime_error(std::string("capstone cs_open (x86, 64-bit): ") + cs_strerror(opened));
  const cs_err detail = cs_option(handle, CS_OPT_DETAIL, CS_OPT_ON);
  if (detail != CS_ERR_OK) {
    cs_close(&handle);
    throw std::runtime_error(std::string("capstone cs_option (detail): ") + cs_strerror(detail));
  }
  handle_ = handle;
}

X86Disassembler::~X86Disassembler() {
  csh handle = handle_;
  cs_close(&handle);
}

DecodedInstruction X86Disassembler::decode(std::span<const std::uint8_t> bytes,
                                           std::uint64_t address) const {
  DecodedInstruction out;
  out.text = kUndecodable;
  if (bytes.empty()) return out;
  cs_insn* raw = nullptr;
  const std::size_t count = cs_disasm(handle_, bytes.data(), bytes.size(), address, 1, &raw);
  if (count == 0) return out;
  const std::unique_ptr<cs_insn, InsnDeleter> insn(raw, InsnDeleter{count});
  out.valid = true;
  out.text = insn->mnemonic;
  if (insn->op_str[0] != '\0') out.text += std::string(" ") + insn->op_str;
  out.length = insn->size;
  out.string_io = is_string_io(insn->id);
  out.rep = insn->detail != nullptr && has_rep(insn->detail->x86);
  return out;
}

std::string hex_bytes(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 3);
  for (const std::uint8_t b : bytes) {
    if (!out.empty()) out += ' ';
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}

}  // namespace vpio

// The capstone side of X86Disassembler: open, decode one instruction, close.
#include "profile/disassembler.hpp"

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

// capstone's element size of a port I/O instruction; 0 when `id` is none.
unsigned port_element_bytes(unsigned id, const cs_x86& x86) noexcept {
  switch (id) {
    case X86_INS_INSB:
    case X86_INS_OUTSB: return 1;
    case X86_INS_INSW:
    case X86_INS_OUTSW: return 2;
    case X86_INS_INSD:
    case X86_INS_OUTSD: return 4;
    // The accumulator is the first operand of in, the second of out.
    case X86_INS_IN: return x86.op_count >= 1 ? x86.operands[0].size : 0;
    case X86_INS_OUT: return x86.op_count >= 2 ? x86.operands[1].size : 0;
    default: return 0;
  }
}

// Capstone reports the rep group in prefix[0] only where the prefix means
// rep (string instructions), not where F3/F2 is a mandatory opcode prefix
// (popcnt, pause).
bool has_rep(const cs_x86& x86) noexcept {
  const std::uint8_t group1 = x86.prefix[0];
  return group1 == X86_PREFIX_REP || group1 == X86_PREFIX_REPE || group1 == X86_PREFIX_REPNE;
}

// A 64- or 32-bit general register's number in encoding order.
int register_number(x86_reg reg) noexcept {
  switch (reg) {
    case X86_REG_RAX:
    case X86_REG_EAX: return 0;
    case X86_REG_RCX:
    case X86_REG_ECX: return 1;
    case X86_REG_RDX:
    case X86_REG_EDX: return 2;
    case X86_REG_RBX:
    case X86_REG_EBX: return 3;
    case X86_REG_RSP:
    case X86_REG_ESP: return 4;
    case X86_REG_RBP:
    case X86_REG_EBP: return 5;
    case X86_REG_RSI:
    case X86_REG_ESI: return 6;
    case X86_REG_RDI:
    case X86_REG_EDI: return 7;
    case X86_REG_R8:
    case X86_REG_R8D: return 8;
    case X86_REG_R9:
    case X86_REG_R9D: return 9;
    case X86_REG_R10:
    case X86_REG_R10D: return 10;
    case X86_REG_R11:
    case X86_REG_R11D: return 11;
    case X86_REG_R12:
    case X86_REG_R12D: return 12;
    case X86_REG_R13:
    case X86_REG_R13D: return 13;
    case X86_REG_R14:
    case X86_REG_R14D: return 14;
    case X86_REG_R15:
    case X86_REG_R15D: return 15;
    case X86_REG_RIP:
    case X86_REG_EIP: return MemoryOperand::kRip;
    default: return MemoryOperand::kNone;
  }
}

std::optional<MemoryOperand> first_memory_operand(const cs_x86& x86) noexcept {
  for (unsigned i = 0; i < x86.op_count; ++i) {
    const cs_x86_op& op = x86.operands[i];
    if (op.type != X86_OP_MEM) continue;
    MemoryOperand m;
    m.base = register_number(op.mem.base);
    m.index = register_number(op.mem.index);
    m.scale = op.mem.scale > 0 ? static_cast<unsigned>(op.mem.scale) : 1;
    m.displacement = op.mem.disp;
    m.size = op.size;
    m.address_bytes = x86.addr_size == 4 ? 4 : 8;
    m.fs_or_gs = op.mem.segment == X86_REG_FS || op.mem.segment == X86_REG_GS;
    m.written = (op.access & CS_AC_WRITE) != 0;
    return m;
  }
  return std::nullopt;
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
  if (insn->detail != nullptr) {
    out.memory = first_memory_operand(insn->detail->x86);
    out.port_element_bytes = port_element_bytes(insn->id, insn->detail->x86);
    out.port_io = out.port_element_bytes != 0;
    out.port_in = insn->id == X86_INS_IN || insn->id == X86_INS_INSB || insn->id == X86_INS_INSW ||
                  insn->id == X86_INS_INSD;
  }
  return out;
}

std::optional<std::uint64_t> MemoryOperand::address(const std::uint64_t (&gpr)[16],
                                                    std::uint64_t next_rip) const noexcept {
  if (fs_or_gs) return std::nullopt;
  auto value = [&](int reg) -> std::uint64_t {
    if (reg == kRip) return next_rip;
    return reg >= 0 && reg < 16 ? gpr[reg] : 0;
  };
  std::uint64_t linear = static_cast<std::uint64_t>(displacement) + value(base) +
                         (index == kNone ? 0 : value(index) * scale);
  if (address_bytes == 4) linear &= 0xffff'ffffULL;
  return linear;
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

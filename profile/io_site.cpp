// Decoding port I/O encodings by hand (twelve opcodes and their prefixes) and
// placing an I/O exit at its instruction from the code around rip.
#include "profile/io_site.hpp"

#include <algorithm>

#include "profile/disassembler.hpp"

namespace vpio {
namespace {

// Legacy prefixes that can precede a port I/O instruction. Lock (F0) cannot:
// it makes in/out #UD, so an F0 ends the search as "not port I/O".
constexpr std::uint8_t kOperandSize = 0x66;
constexpr std::uint8_t kAddressSize = 0x67;
constexpr std::uint8_t kRepne = 0xf2;
constexpr std::uint8_t kRep = 0xf3;
constexpr std::uint8_t kSegmentEs = 0x26, kSegmentCs = 0x2e, kSegmentSs = 0x36, kSegmentDs = 0x3e;
constexpr std::uint8_t kSegmentFs = 0x64, kSegmentGs = 0x65;
constexpr std::uint8_t kRexFirst = 0x40, kRexLast = 0x4f;

// The opcodes: ins/outs 6C-6F, in/out with imm8 E4-E7, with dx EC-EF. Within
// each group of four, bit 0 picks byte (0) or word/dword (1) and bit 1 picks
// in (0) or out (1).
constexpr std::uint8_t kInsb = 0x6c, kOutsd = 0x6f;
constexpr std::uint8_t kInImmediate = 0xe4, kOutImmediate = 0xe7;
constexpr std::uint8_t kInDx = 0xec, kOutDx = 0xef;
constexpr std::uint8_t kWideBit = 0x01, kOutBit = 0x02;

constexpr unsigned kBytesPerDword = 4, kBytesPerWord = 2, kBytesPerByte = 1;
constexpr std::uint64_t kLow32 = 0xffff'ffffULL;

bool in_range(std::uint8_t b, std::uint8_t first, std::uint8_t last) noexcept {
  return b >= first && b <= last;
}

const char* accumulator(unsigned bytes) noexcept {
  return bytes == kBytesPerByte ? "al" : bytes == kBytesPerWord ? "ax" : "eax";
}

const char* size_word(unsigned bytes) noexcept {
  return bytes == kBytesPerByte ? "byte" : bytes == kBytesPerWord ? "word" : "dword";
}

const char* size_suffix(unsigned bytes) noexcept {
  return bytes == kBytesPerByte ? "b" : bytes == kBytesPerWord ? "w" : "d";
}

// capstone prints immediates below 10 in decimal, the others in hex.
std::string immediate_text(unsigned value) {
  constexpr unsigned kLargestDecimal = 9;
  if (value <= kLargestDecimal) return std::to_string(value);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "0x";
  if (value >= 0x10) out += kDigits[value >> 4];
  out += kDigits[value & 0xf];
  return out;
}

bool matches(const PortIoInstruction& insn, const IoExitFacts& exit) noexcept {
  if (insn.in != exit.in || insn.element_bytes != exit.size) return false;
  const auto port = insn.port == PortIoInstruction::Port::immediate
                        ? std::uint16_t{insn.port_immediate}
                        : static_cast<std::uint16_t>(exit.rdx);
  if (port != exit.port) return false;
  // Only a rep string op moves more than one element in one exit.
  return exit.count <= 1 || insn.rep;
}

std::uint64_t count_register(const PortIoInstruction& insn, std::uint64_t rcx) noexcept {
  return insn.address_bytes == kBytesPerDword ? rcx & kLow32 : rcx;
}

// The instruction that ends at rip and makes this access. The shortest such
// wins, as for MMIO stores: a longer one would take bytes of the previous
// instruction for prefixes. Except that a rep in front of a string op is
// taken when the count register reads 0: a run that has finished is the one
// case where a KVM may leave rip past a rep ins/outs, and the F3 is then far
// more likely the instruction's own than the last byte of the one before.
std::optional<PortIoInstruction> ending_at(std::span<const std::uint8_t> before,
                                           const IoExitFacts& exit) noexcept {
  std::optional<PortIoInstruction> shortest;
  const std::size_t longest = std::min<std::size_t>(before.size(), PortIoInstruction::kMaxLength);
  for (std::size_t length = 1; length <= longest; ++length) {
    const auto insn = decode_port_io(before.last(length));
    if (!insn || insn->length != length || !matches(*insn, exit)) continue;
    if (!shortest) {
      shortest = insn;
      if (!insn->string || insn->rep) break;
      continue;
    }
    if (insn->rep && count_register(*insn, exit.rcx) == 0) return insn;
  }
  return shortest;
}

}  // namespace

std::optional<PortIoInstruction> decode_port_io(std::span<const std::uint8_t> bytes) noexcept {
  bool operand16 = false, address32 = false, rep = false;
  auto segment = PortIoInstruction::Segment::none;
  const std::size_t limit = std::min<std::size_t>(bytes.size(), PortIoInstruction::kMaxLength);
  for (std::size_t i = 0; i < limit; ++i) {
    const std::uint8_t b = bytes[i];
    switch (b) {
      case kOperandSize: operand16 = true; continue;
      case kAddressSize: address32 = true; continue;
      // F2 repeats ins/outs exactly as F3 does: only cmps and scas test ZF.
      case kRepne:
      case kRep: rep = true; continue;
      // In 64-bit mode es, cs, ss and ds have base 0; the last override counts.
      case kSegmentEs:
      case kSegmentCs:
      case kSegmentSs:
      case kSegmentDs: segment = PortIoInstruction::Segment::none; continue;
      case kSegmentFs: segment = PortIoInstruction::Segment::fs; continue;
      case kSegmentGs: segment = PortIoInstruction::Segment::gs; continue;
      default: break;
    }
    // Port I/O has no 64-bit form and ignores REX (Intel SDM vol. 1, 7.3.12):
    // REX.W does not cancel a 66 here, whatever it does elsewhere.
    if (in_range(b, kRexFirst, kRexLast)) continue;
    const bool string = in_range(b, kInsb, kOutsd);
    const bool immediate = in_range(b, kInImmediate, kOutImmediate);
    if (!string && !immediate && !in_range(b, kInDx, kOutDx)) return std::nullopt;
    const std::size_t length = i + 1 + (immediate ? 1 : 0);
    if (length > limit) return std::nullopt;
    PortIoInstruction insn;
    insn.length = static_cast<std::uint8_t>(length);
    insn.in = (b & kOutBit) == 0;
    insn.string = string;
    insn.rep = string && rep;
    insn.element_bytes = static_cast<std::uint8_t>((b & kWideBit) == 0 ? kBytesPerByte
                                                   : operand16         ? kBytesPerWord
                                                                       : kBytesPerDword);
    insn.port = immediate ? PortIoInstruction::Port::immediate : PortIoInstruction::Port::dx;
    insn.port_immediate = immediate ? bytes[i + 1] : std::uint8_t{0};
    insn.address_bytes = static_cast<std::uint8_t>(string && address32 ? kBytesPerDword : 8);
    insn.segment = string && !insn.in ? segment : PortIoInstruction::Segment::none;
    return insn;
  }
  return std::nullopt;
}

std::string PortIoInstruction::text() const {
  if (!string) {
    const std::string port_text = port == Port::dx ? "dx" : immediate_text(port_immediate);
    return in ? std::string("in ") + accumulator(element_bytes) + ", " + port_text
              : "out " + port_text + ", " + accumulator(element_bytes);
  }
  std::string out = rep ? "rep " : "";
  out += in ? "ins" : "outs";
  out += size_suffix(element_bytes);
  std::string memory = std::string(size_word(element_bytes)) + " ptr ";
  if (segment == Segment::fs) memory += "fs:";
  if (segment == Segment::gs) memory += "gs:";
  const bool narrow = address_bytes == kBytesPerDword;
  memory += in ? (narrow ? "[edi]" : "[rdi]") : (narrow ? "[esi]" : "[rsi]");
  return out + (in ? " " + memory + ", dx" : " dx, " + memory);
}

bool disassembler_agrees(const DecodedInstruction& decoded,
                         const PortIoInstruction& insn) noexcept {
  if (!decoded.valid || !decoded.port_io || decoded.length != insn.length) return false;
  if (decoded.port_in != insn.in || decoded.port_element_bytes != insn.element_bytes) return false;
  if (decoded.string_io != insn.string || decoded.rep != insn.rep) return false;
  return !insn.string || (decoded.memory && decoded.memory->address_bytes == insn.address_bytes);
}

const char* io_rip_name(IoRip rip) noexcept { return rip == IoRip::past ? "past" : "on"; }

std::optional<IoPlacement> IoSitePlacer::place(std::span<const std::uint8_t> before,
                                               std::span<const std::uint8_t> at,
                                               const IoExitFacts& exit) noexcept {
  std::optional<PortIoInstruction> on = decode_port_io(at);
  if (on && !matches(*on, exit)) on.reset();
  const std::optional<PortIoInstruction> past = ending_at(before, exit);
  auto placed = [&](IoRip rip, const PortIoInstruction& insn, bool unambiguous) {
    if (unambiguous) ++seen_[kind(insn.in, insn.string)][static_cast<unsigned>(rip)];
    return IoPlacement{rip, insn};
  };
  if (on && past) {
    // Both fit (`ee ee`: rip on the second, or past the first). Take the
    // convention this run's unambiguous exits of the same kind showed more
    // often; "on" when there were none, or as many of each: it is what SVM
    // and VMX do. Ambiguous placements are not counted as evidence.
    const std::uint64_t for_on = seen_[kind(on->in, on->string)][static_cast<unsigned>(IoRip::on)];
    const std::uint64_t for_past =
        seen_[kind(past->in, past->string)][static_cast<unsigned>(IoRip::past)];
    return for_past > for_on ? placed(IoRip::past, *past, false) : placed(IoRip::on, *on, false);
  }
  if (on) return placed(IoRip::on, *on, true);
  if (past) return placed(IoRip::past, *past, true);
  return std::nullopt;
}

}  // namespace vpio

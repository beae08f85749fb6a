// Port I/O instructions, exactly: a decoder of their encodings (capstone 4
// misreads some prefix orders), and the placement of an I/O exit at the
// instruction that made it, whichever side of it the KVM left rip.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace vpio {

struct DecodedInstruction;

// in/out/ins/outs as the CPU executes them in 64-bit mode.
struct PortIoInstruction {
  static constexpr unsigned kMaxLength = 15;  // the architectural limit of any instruction
  enum class Port : std::uint8_t { immediate, dx };
  enum class Segment : std::uint8_t { none, fs, gs };  // the only overrides with an effect

  std::uint8_t length = 0;         // bytes, prefixes included
  bool in = false;                 // in/ins: from the port
  bool string = false;             // ins/outs
  bool rep = false;                // a string op with F3 or F2 (both repeat ins/outs)
  std::uint8_t element_bytes = 0;  // 1, 2 or 4
  Port port = Port::dx;
  std::uint8_t port_immediate = 0;  // Port::immediate only
  std::uint8_t address_bytes = 8;   // string ops: 4 with 67 (esi/edi and ecx)
  Segment segment = Segment::none;  // outs only: ins always writes es:[rdi]

  // Intel syntax in capstone's spelling: "out dx, ax", "in al, 0x80",
  // "rep outsw dx, word ptr [rsi]", "insb byte ptr [edi], dx".
  std::string text() const;
};

// The port I/O instruction at the start of `bytes` (legacy prefixes, an
// optional REX, one of E4-E7, EC-EF, 6C-6F), or nullopt when they do not
// start with one or stop before its end.
std::optional<PortIoInstruction> decode_port_io(std::span<const std::uint8_t> bytes) noexcept;

// Whether capstone's decode of the same bytes says what `insn` says (same
// length, direction, element size, string and rep). Where it does not, the
// profile shows insn.text() instead and keeps capstone's text beside it.
bool disassembler_agrees(const DecodedInstruction& decoded, const PortIoInstruction& insn) noexcept;

// One KVM_EXIT_IO, as the placement needs it.
struct IoExitFacts {
  std::uint16_t port = 0;
  std::uint8_t size = 0;    // bytes per element
  bool in = false;          // KVM_EXIT_IO_IN
  std::uint32_t count = 1;  // elements in this exit
  std::uint64_t rdx = 0;    // at the exit: in/out/ins/outs never change dx
  std::uint64_t rcx = 0;    // at the exit: a finished rep run has counted it to 0
};

// Where a KVM left rip at an I/O exit: on the instruction (SVM, VMX, and
// string I/O mid-run) or just past it (PVM's instruction emulator after an
// `out`). See docs/kvm-notes.md, fact 8.
enum class IoRip : std::uint8_t { on, past };
const char* io_rip_name(IoRip rip) noexcept;

struct IoPlacement {
  IoRip rip = IoRip::on;
  PortIoInstruction instruction;
  // The instruction starts at the exit's rip minus this (0 when IoRip::on).
  std::uint8_t back() const noexcept { return rip == IoRip::past ? instruction.length : 0; }
};

// Places the I/O exits of one run. Stateful only in what it has seen: which
// rip convention the unambiguous exits of each kind showed.
class IoSitePlacer {
 public:
  // `before` holds the code bytes that end at rip (up to kMaxLength, fewer
  // when they could not be read), `at` those from rip on. Returns the
  // instruction at rip, or the one ending at rip, that makes exactly this
  // access: same direction and element size, the port in its immediate or in
  // dx, and a rep string op when the exit moves several elements. nullopt
  // when neither does.
  std::optional<IoPlacement> place(std::span<const std::uint8_t> before,
                                   std::span<const std::uint8_t> at,
                                   const IoExitFacts& exit) noexcept;

  // Unambiguous placements so far of one kind of instruction, by convention.
  std::uint64_t seen(bool in, bool string, IoRip rip) const noexcept {
    return seen_[kind(in, string)][static_cast<unsigned>(rip)];
  }

 private:
  static constexpr unsigned kind(bool in, bool string) noexcept {
    return (in ? 2u : 0u) | (string ? 1u : 0u);
  }
  std::array<std::array<std::uint64_t, 2>, 4> seen_{};
};

}  // namespace vpio

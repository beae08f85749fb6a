// The fuzz input format, both ways. Every byte string decodes: unknown kinds
// fold onto known ones and an op cut short by the end of the input is dropped.
#include "fuzz/access_stream.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include "hw/hex.hpp"

namespace vpio::fuzz {

using hw::hex;
namespace {

constexpr unsigned kStepBits = 5;  // op header: kind in the low 5 bits, steps above
constexpr std::uint8_t kKindMask = 0x1f;
constexpr unsigned kMaxHeaderSteps = 7;
constexpr std::uint8_t kHonestPhaseFlag = 0x80;  // honest op: "until a phase", not steps
// An honest op runs at most this many steps (about a frame): longer runs of
// the honest guest alone only cost time.
constexpr unsigned kMaxHonestSteps = 0x1f;
constexpr std::uint8_t kOffsetMask = 0x1f;
constexpr unsigned kSizeShift = 5;
constexpr std::array<unsigned, 4> kSizes = {1, 2, 4, 1};

// remote_dma and transmit take their addresses and counts compactly (near
// the transmit area, counts as lengths), so that random bytes program
// something the model lets through often enough; a flag takes them raw.
constexpr std::uint8_t kDmaWrite = 0x01;
constexpr std::uint8_t kRawAddress = 0x02;  // remote_dma: RSAR as 2 bytes
constexpr std::uint8_t kRawPage = 0x02;     // transmit: TPSR as is
constexpr std::uint8_t kRawCount = 0x04;    // RBCR or TBCR as 2 bytes
constexpr unsigned kNearShift = 3;          // remote_dma: RSAR's low 3 bits in the flags
constexpr std::uint8_t kThenWrite = 0x40;   // remote_dma: a length byte, that much written
constexpr std::uint16_t kNearAddress = 0x4000;
constexpr unsigned kNearStep = 8;
constexpr std::uint8_t kNearPage = 0x40;

unsigned size_code(unsigned size) noexcept { return size == 4 ? 2 : size == 2 ? 1 : 0; }

Fill decode_fill(std::uint8_t kind, std::uint8_t seed) noexcept {
  Fill f;
  f.kind = static_cast<Fill::Kind>(kind & 3);
  f.destination = static_cast<Station>((kind >> 2) & 3);
  f.source = static_cast<Station>((kind >> 4) & 3);
  f.seed = seed;
  return f;
}

}  // namespace

std::uint32_t decode_length(std::uint8_t code) noexcept {
  if (code < 128) return code;
  if (code < 192) return 128 + 8u * (code - 128u);     // ..632
  if (code < 240) return 640 + 64u * (code - 192u);    // ..3648
  if (code < 255) return 4096 + 768u * (code - 240u);  // ..14848
  return kMaxStringBytes;
}

std::uint8_t encode_length(std::uint32_t bytes) noexcept {
  std::uint8_t best = 0;
  for (unsigned code = 0; code < 256; ++code)
    if (decode_length(static_cast<std::uint8_t>(code)) <= bytes)
      best = static_cast<std::uint8_t>(code);
  return best;
}

// ---- Reading ----

std::optional<std::uint8_t> StreamReader::byte() noexcept {
  if (at_ >= input_.size()) return std::nullopt;
  return input_[at_++];
}

std::optional<std::uint16_t> StreamReader::length_code() noexcept {
  const auto code = byte();
  if (!code) return std::nullopt;
  return static_cast<std::uint16_t>(decode_length(*code));
}

std::optional<std::uint16_t> StreamReader::word() noexcept {
  const auto low = byte();
  const auto high = byte();
  if (!low || !high) return std::nullopt;
  return static_cast<std::uint16_t>(*low | (*high << 8));
}

CardLayout StreamReader::layout() noexcept {
  CardLayout layout;
  if (const auto b = byte()) {
    layout.hostile_first = (*b & 1) == 0;
    layout.reserved_areas = std::min(2u + ((*b >> 1) & 3u), 4u);
    layout.honest_probes = (*b & 8) != 0;
    layout.hostile_inits = (*b & 16) != 0;
    layout.polled_card = (*b & 32) != 0;
  }
  return layout;
}

std::optional<Op> StreamReader::next() noexcept {
  const auto head = byte();
  if (!head) return std::nullopt;
  Op op;
  op.kind = static_cast<OpKind>((*head & kKindMask) % kOpKinds);
  op.honest_steps = *head >> kStepBits;
  const auto access = [&]() -> bool {
    const auto b = byte();
    if (!b) return false;
    op.offset = *b & kOffsetMask;
    op.size = kSizes[(*b >> kSizeShift) & 3];
    return true;
  };
  const auto fill = [&]() -> bool {
    const auto kind = byte();
    const auto seed = byte();
    if (!kind || !seed) return false;
    op.fill = decode_fill(*kind, *seed);
    return true;
  };
  const auto length = [&]() -> bool {
    const auto b = byte();
    if (!b) return false;
    op.bytes = decode_length(*b);
    return true;
  };
  switch (op.kind) {
    case OpKind::write:
      if (!access()) return std::nullopt;
      for (unsigned lane = 0; lane < op.size; ++lane) {
        const auto b = byte();
        if (!b) return std::nullopt;
        op.value |= std::uint32_t{*b} << (8 * lane);
      }
      return op;
    case OpKind::read:
      if (!access()) return std::nullopt;
      return op;
    case OpKind::write_string:
    case OpKind::posted_write:
      if (!access() || !length() || !fill()) return std::nullopt;
      return op;
    case OpKind::read_string:
      if (!access() || !length()) return std::nullopt;
      return op;
    case OpKind::honest: {
      const auto b = byte();
      if (!b) return std::nullopt;
      if ((*b & kHonestPhaseFlag) != 0)
        op.phase = static_cast<HonestPhase>((*b & ~kHonestPhaseFlag) % kHonestPhases);
      else
        op.steps = *b & kMaxHonestSteps;
      return op;
    }
    case OpKind::wire_frame: {
      const auto b = byte();
      if (!b || !length()) return std::nullopt;
      op.fill.destination = static_cast<Station>(*b & 3);
      op.fill.seed = *b;
      return op;
    }
    case OpKind::init: {
      const auto b = byte();
      if (!b) return std::nullopt;
      op.value = *b;
      return op;
    }
    case OpKind::remote_dma: {
      const auto flags = byte();
      if (!flags) return std::nullopt;
      op.dma_write = (*flags & kDmaWrite) != 0;
      if ((*flags & kRawAddress) != 0) {
        const auto address = word();
        if (!address) return std::nullopt;
        op.address = *address;
      } else {
        const auto near = byte();
        if (!near) return std::nullopt;
        op.address = static_cast<std::uint16_t>(kNearAddress + *near * kNearStep +
                                                ((*flags >> kNearShift) & (kNearStep - 1)));
      }
      const auto count = (*flags & kRawCount) != 0 ? word() : length_code();
      if (!count) return std::nullopt;
      op.count = *count;
      if ((*flags & kThenWrite) != 0 && !length()) return std::nullopt;
      return op;
    }
    case OpKind::transmit: {
      const auto flags = byte();
      const auto tpsr = byte();
      if (!flags || !tpsr) return std::nullopt;
      const std::uint8_t page = (*flags & kRawPage) != 0 ? *tpsr : kNearPage + (*tpsr & 7);
      const auto tbcr = (*flags & kRawCount) != 0 ? word() : length_code();
      const auto cr = byte();
      if (!tbcr || !cr) return std::nullopt;
      op.address = static_cast<std::uint16_t>(page << 8);
      op.count = *tbcr;
      op.value = *cr;
      return op;
    }
    case OpKind::send_frame:
      if (!length() || !fill()) return std::nullopt;
      return op;
    case OpKind::count: break;
  }
  return std::nullopt;
}

// ---- Describing ----

namespace {

const char* station_name(Station s) {
  switch (s) {
    case Station::hostile: return "Station::hostile";
    case Station::honest: return "Station::honest";
    case Station::outside: return "Station::outside";
    case Station::broadcast: return "Station::broadcast";
  }
  return "?";
}

std::string fill_text(const Fill& f) {
  static constexpr const char* kKinds[] = {"constant", "counting", "frame", "noise"};
  return std::string("{Fill::Kind::") + kKinds[static_cast<unsigned>(f.kind) & 3] + ", " +
         station_name(f.destination) + ", " + station_name(f.source) + ", " + hex(f.seed) + "}";
}

const char* phase_text(HonestPhase p) {
  static constexpr const char* kPhases[] = {"initialising", "idle",         "dma_started",
                                            "mid_data",     "data_written", "transmitting"};
  return kPhases[static_cast<unsigned>(p) % kHonestPhases];
}

}  // namespace

std::string describe(const Op& op) {
  const std::string at = hex(op.offset) + ", " + std::to_string(op.size);
  switch (op.kind) {
    case OpKind::write: return "write(" + at + ", " + hex(op.value) + ")";
    case OpKind::read: return "read(" + at + ")";
    case OpKind::write_string:
      return "write_string(" + at + ", " + std::to_string(op.bytes) + ", " + fill_text(op.fill) +
             ")";
    case OpKind::posted_write:
      return "posted_write(" + at + ", " + std::to_string(op.bytes) + ", " + fill_text(op.fill) +
             ")";
    case OpKind::read_string: return "read_string(" + at + ", " + std::to_string(op.bytes) + ")";
    case OpKind::honest:
      return op.phase ? std::string("honest_until(HonestPhase::") + phase_text(*op.phase) + ")"
                      : "honest(" + std::to_string(op.steps) + ")";
    case OpKind::wire_frame:
      return std::string("wire_frame(") + station_name(op.fill.destination) + ", " +
             std::to_string(op.bytes) + ")";
    case OpKind::init: return "init(" + hex(op.value) + ")";
    case OpKind::remote_dma:
      return "remote_dma(" + hex(op.address) + ", " + std::to_string(op.count) + ", " +
             (op.dma_write ? "true" : "false") +
             (op.bytes != 0 ? ", " + std::to_string(op.bytes) : std::string()) + ")";
    case OpKind::transmit:
      return "transmit(" + hex(op.address >> 8) + ", " + std::to_string(op.count) + ", " +
             hex(op.value) + ")";
    case OpKind::send_frame:
      return "send_frame(" + std::to_string(op.bytes) + ", " + fill_text(op.fill) + ")";
    case OpKind::count: break;
  }
  return "?";
}

std::string describe(std::span<const std::uint8_t> input) {
  StreamReader reader(input);
  const CardLayout l = reader.layout();
  std::string text = std::string("StreamWriter w({.hostile_first = ") +
                     (l.hostile_first ? "true" : "false") +
                     ", .reserved_areas = " + std::to_string(l.reserved_areas) +
                     ", .honest_probes = " + (l.honest_probes ? "true" : "false") +
                     ", .hostile_inits = " + (l.hostile_inits ? "true" : "false") +
                     ", .polled_card = " + (l.polled_card ? "true" : "false") + "});\n";
  while (const auto op = reader.next()) {
    text += "w";
    if (op->honest_steps != 0) text += ".honest(" + std::to_string(op->honest_steps) + ")";
    text += "." + describe(*op) + ";\n";
  }
  return text;
}

// ---- Writing ----

StreamWriter::StreamWriter(CardLayout layout) {
  const unsigned reserved = std::clamp(layout.reserved_areas, 2u, 4u) - 2;
  bytes_.push_back(static_cast<std::uint8_t>(
      (layout.hostile_first ? 0 : 1) | reserved << 1 | (layout.honest_probes ? 8 : 0) |
      (layout.hostile_inits ? 16 : 0) | (layout.polled_card ? 32 : 0)));
}

void StreamWriter::header(OpKind kind) {
  while (pending_steps_ > kMaxHeaderSteps) {
    const unsigned steps = std::min(pending_steps_, kMaxHonestSteps);
    bytes_.push_back(static_cast<std::uint8_t>(OpKind::honest));
    bytes_.push_back(static_cast<std::uint8_t>(steps));
    pending_steps_ -= steps;
  }
  bytes_.push_back(
      static_cast<std::uint8_t>(static_cast<unsigned>(kind) | pending_steps_ << kStepBits));
  pending_steps_ = 0;
}

void StreamWriter::fill(const Fill& f) {
  bytes_.push_back(static_cast<std::uint8_t>(static_cast<unsigned>(f.kind) |
                                             static_cast<unsigned>(f.destination) << 2 |
                                             static_cast<unsigned>(f.source) << 4));
  bytes_.push_back(f.seed);
}

void StreamWriter::word(std::uint16_t w) {
  bytes_.push_back(static_cast<std::uint8_t>(w & 0xff));
  bytes_.push_back(static_cast<std::uint8_t>(w >> 8));
}

StreamWriter& StreamWriter::honest(unsigned steps) {
  pending_steps_ += steps;
  return *this;
}

StreamWriter& StreamWriter::honest_until(HonestPhase phase) {
  header(OpKind::honest);
  bytes_.push_back(static_cast<std::uint8_t>(kHonestPhaseFlag | static_cast<unsigned>(phase)));
  return *this;
}

StreamWriter& StreamWriter::write(std::uint16_t offset, unsigned size, std::uint32_t value) {
  header(OpKind::write);
  bytes_.push_back(
      static_cast<std::uint8_t>((offset & kOffsetMask) | size_code(size) << kSizeShift));
  for (unsigned lane = 0; lane < kSizes[size_code(size)]; ++lane)
    bytes_.push_back(static_cast<std::uint8_t>(value >> (8 * lane)));
  return *this;
}

StreamWriter& StreamWriter::read(std::uint16_t offset, unsigned size) {
  header(OpKind::read);
  bytes_.push_back(
      static_cast<std::uint8_t>((offset & kOffsetMask) | size_code(size) << kSizeShift));
  return *this;
}

StreamWriter& StreamWriter::write_string(std::uint16_t offset, unsigned size, std::uint32_t bytes,
                                         Fill f) {
  header(OpKind::write_string);
  bytes_.push_back(
      static_cast<std::uint8_t>((offset & kOffsetMask) | size_code(size) << kSizeShift));
  bytes_.push_back(encode_length(bytes));
  fill(f);
  return *this;
}

StreamWriter& StreamWriter::read_string(std::uint16_t offset, unsigned size, std::uint32_t bytes) {
  header(OpKind::read_string);
  bytes_.push_back(
      static_cast<std::uint8_t>((offset & kOffsetMask) | size_code(size) << kSizeShift));
  bytes_.push_back(encode_length(bytes));
  return *this;
}

StreamWriter& StreamWriter::posted_write(std::uint16_t offset, unsigned size, std::uint32_t bytes,
                                         Fill f) {
  header(OpKind::posted_write);
  bytes_.push_back(
      static_cast<std::uint8_t>((offset & kOffsetMask) | size_code(size) << kSizeShift));
  bytes_.push_back(encode_length(bytes));
  fill(f);
  return *this;
}

StreamWriter& StreamWriter::wire_frame(Station destination, std::uint32_t bytes) {
  header(OpKind::wire_frame);
  bytes_.push_back(static_cast<std::uint8_t>(destination));
  bytes_.push_back(encode_length(bytes));
  return *this;
}

StreamWriter& StreamWriter::init(std::uint32_t options) {
  header(OpKind::init);
  bytes_.push_back(static_cast<std::uint8_t>(options));
  return *this;
}

// A count as a length code when one decodes to it exactly, else raw.
void StreamWriter::count(std::uint8_t& flags, std::uint16_t value, std::vector<std::uint8_t>& out) {
  const std::uint8_t code = encode_length(value);
  if (decode_length(code) == value) {
    out.push_back(code);
  } else {
    flags |= kRawCount;
    out.push_back(static_cast<std::uint8_t>(value & 0xff));
    out.push_back(static_cast<std::uint8_t>(value >> 8));
  }
}

StreamWriter& StreamWriter::remote_dma(std::uint16_t address, std::uint16_t count_bytes, bool write,
                                       std::uint32_t then_write) {
  header(OpKind::remote_dma);
  std::uint8_t flags = write ? kDmaWrite : 0;
  if (then_write != 0) flags |= kThenWrite;
  std::vector<std::uint8_t> rest;
  const unsigned near = (address - kNearAddress) / kNearStep;
  if (address >= kNearAddress && near <= 0xff) {
    flags |= static_cast<std::uint8_t>(((address - kNearAddress) % kNearStep) << kNearShift);
    rest.push_back(static_cast<std::uint8_t>(near));
  } else {
    flags |= kRawAddress;
    rest.push_back(static_cast<std::uint8_t>(address & 0xff));
    rest.push_back(static_cast<std::uint8_t>(address >> 8));
  }
  count(flags, count_bytes, rest);
  if (then_write != 0) rest.push_back(encode_length(then_write));
  bytes_.push_back(flags);
  bytes_.insert(bytes_.end(), rest.begin(), rest.end());
  return *this;
}

StreamWriter& StreamWriter::transmit(std::uint8_t tpsr, std::uint16_t tbcr, std::uint8_t cr) {
  header(OpKind::transmit);
  std::uint8_t flags = 0;
  std::vector<std::uint8_t> rest;
  if (tpsr >= kNearPage && tpsr < kNearPage + 8) {
    rest.push_back(static_cast<std::uint8_t>(tpsr - kNearPage));
  } else {
    flags |= kRawPage;
    rest.push_back(tpsr);
  }
  count(flags, tbcr, rest);
  rest.push_back(cr);
  bytes_.push_back(flags);
  bytes_.insert(bytes_.end(), rest.begin(), rest.end());
  return *this;
}

StreamWriter& StreamWriter::send_frame(std::uint32_t bytes, Fill f) {
  header(OpKind::send_frame);
  bytes_.push_back(encode_length(bytes));
  fill(f);
  return *this;
}

}  // namespace vpio::fuzz

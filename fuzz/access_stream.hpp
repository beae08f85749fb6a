// The fuzz input: a hostile guest's access stream as bytes, with the points
// where the honest guest sharing the card takes its steps. One encoder
// (StreamWriter: seeds are written as code) and one decoder (StreamReader:
// what the fuzzer feeds the harness). docs/fuzzing.md describes the format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace vpio::fuzz {

// The input's first byte: where the two guests' transmit areas lie on the
// card, and how many areas the monitor reserves before its receive ring.
struct CardLayout {
  bool hostile_first = true;    // the hostile guest's area is the card's first
  unsigned reserved_areas = 2;  // 2..4: with 2 the ring follows the second area
  bool honest_probes = false;   // the honest guest resets and reads its PROM first
  bool hostile_inits = false;   // the hostile guest runs init (no probe) before the ops
};

// Who a frame the hostile guest builds names as its source or destination.
enum class Station : std::uint8_t { hostile, honest, outside, broadcast };

// The contents of a string write.
struct Fill {
  enum class Kind : std::uint8_t {
    constant,  // every byte `seed`
    counting,  // seed, seed + 1, ...
    frame,     // an Ethernet header (destination, source), then counting bytes
    noise,     // pseudo-random bytes from the seed
  };
  Kind kind = Kind::constant;
  Station destination = Station::outside;
  Station source = Station::hostile;
  std::uint8_t seed = 0;
};

// The honest guest's places in its script that an input may run it to.
enum class HonestPhase : std::uint8_t {
  initialising,  // probe and init, before its first frame
  idle,          // between two frames
  dma_started,   // its remote write runs on the card, nothing written yet
  mid_data,      // part of the frame written through the direct data port
  data_written,  // all written, not yet transmitted
  transmitting,  // CR.TXP written, PTX not yet seen
};
inline constexpr unsigned kHonestPhases = 6;

enum class OpKind : std::uint8_t {
  // One port access each.
  write,  // size 1, 2 or 4 at any offset 0x00..0x1f
  read,
  write_string,  // rep outs: `bytes` of data, `size` per element
  read_string,   // rep ins
  posted_write,  // writes KVM queued without an exit (coalesced PIO), handed on later
  // The honest guest runs (`steps` accesses, or until it reaches `phase`).
  honest,
  // A frame from the wire reaches the card; the monitor drains its ring.
  wire_frame,
  // A driver's sequences, each a series of single accesses (shortcuts for
  // the fuzzer; every access is a step of its own).
  init,        // probe (reset, PROM read) and init (ring, PAR, start)
  remote_dma,  // CR abort, RBCR, RSAR, CR start read/write (then maybe some data)
  transmit,    // TBCR, TPSR, then CR = `value`
  send_frame,  // the whole of a driver's send: DMA, data, RDC, transmit, PTX
  count
};
inline constexpr unsigned kOpKinds = static_cast<unsigned>(OpKind::count);

struct Op {
  unsigned honest_steps = 0;  // honest accesses to run before this op (0..7)
  OpKind kind = OpKind::read;
  std::uint16_t offset = 0;   // window offset (write, read, strings)
  unsigned size = 1;          // 1, 2 or 4
  std::uint32_t value = 0;    // write: the value; transmit: CR; init: options
  std::uint32_t bytes = 0;    // strings, wire_frame, send_frame, remote_dma's then-write: bytes
  std::uint16_t address = 0;  // remote_dma: RSAR; transmit: TPSR in the high byte
  std::uint16_t count = 0;    // remote_dma: RBCR; transmit: TBCR
  bool dma_write = false;     // remote_dma
  Fill fill;                  // write_string, posted_write, send_frame; wire_frame's addresses
  // honest: run this many steps, or (when set) until this phase.
  unsigned steps = 0;
  std::optional<HonestPhase> phase;
};

// init options (Op::value).
inline constexpr std::uint32_t kInitByteMode = 0x01;  // DCR without WTS
inline constexpr std::uint32_t kInitNoProbe = 0x02;   // skip reset and PROM read

// String lengths take one byte on a rough log scale, so that short strings
// are exact and the longest reach 16 KiB: 0..127 as is, then steps of 8, 64
// and 768 bytes, and 255 is 16 KiB (one random code in 16 is 4 KiB or more:
// they are slow).
std::uint32_t decode_length(std::uint8_t code) noexcept;
std::uint8_t encode_length(std::uint32_t bytes) noexcept;  // the nearest not above
inline constexpr std::uint32_t kMaxStringBytes = 16 * 1024;

// One op as a line of StreamWriter code (without the honest steps before
// it), and a whole input as the program that writes it: how a crash file
// is read before it becomes a unit test.
std::string describe(const Op& op);
std::string describe(std::span<const std::uint8_t> input);

class StreamReader {
 public:
  explicit StreamReader(std::span<const std::uint8_t> input) noexcept : input_(input) {}
  CardLayout layout() noexcept;       // the first byte (defaults when empty)
  std::optional<Op> next() noexcept;  // nothing once the input ends

 private:
  std::optional<std::uint8_t> byte() noexcept;
  std::optional<std::uint16_t> word() noexcept;
  std::optional<std::uint16_t> length_code() noexcept;
  std::span<const std::uint8_t> input_;
  std::size_t at_ = 0;
};

// Builds inputs op by op; each op first lets the honest guest run the steps
// asked for with honest() since the previous op.
class StreamWriter {
 public:
  explicit StreamWriter(CardLayout layout = {});
  StreamWriter& honest(unsigned steps);  // before the next op (added as ops past 7)
  StreamWriter& honest_until(HonestPhase phase);
  StreamWriter& write(std::uint16_t offset, unsigned size, std::uint32_t value);
  StreamWriter& out(std::uint16_t offset, std::uint8_t value) { return write(offset, 1, value); }
  StreamWriter& read(std::uint16_t offset, unsigned size = 1);
  StreamWriter& write_string(std::uint16_t offset, unsigned size, std::uint32_t bytes, Fill fill);
  StreamWriter& read_string(std::uint16_t offset, unsigned size, std::uint32_t bytes);
  StreamWriter& posted_write(std::uint16_t offset, unsigned size, std::uint32_t bytes, Fill fill);
  StreamWriter& wire_frame(Station destination, std::uint32_t bytes);
  StreamWriter& init(std::uint32_t options = 0);
  // then_write: that many bytes (counting) written through the data port
  // right after, e.g. part of the count, leaving the DMA unfinished.
  StreamWriter& remote_dma(std::uint16_t address, std::uint16_t count, bool write,
                           std::uint32_t then_write = 0);
  StreamWriter& transmit(std::uint8_t tpsr, std::uint16_t tbcr, std::uint8_t cr);
  StreamWriter& send_frame(std::uint32_t bytes, Fill fill);
  const std::vector<std::uint8_t>& bytes() const noexcept { return bytes_; }

 private:
  void header(OpKind kind);
  void fill(const Fill& f);
  static void count(std::uint8_t& flags, std::uint16_t value, std::vector<std::uint8_t>& out);
  void word(std::uint16_t w);
  std::vector<std::uint8_t> bytes_;
  unsigned pending_steps_ = 0;
};

}  // namespace vpio::fuzz

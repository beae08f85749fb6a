// The seed corpus: issue 13's attacks and some normal traffic, each a short
// program in the input format (fuzz/access_stream.hpp).
#include "fuzz/seeds.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <utility>

#include "fuzz/access_stream.hpp"
#include "devices/ne2000/ne2000.hpp"

namespace vpio::fuzz {
namespace reg = devices::ne2000;
namespace {

constexpr std::uint16_t kDataPort = 0x10;
constexpr std::uint16_t kResetPort = 0x1f;
constexpr std::uint8_t kRunningPage0 = reg::kCrNoDma | reg::kCrStart;
constexpr std::uint8_t kTransmit = kRunningPage0 | reg::kCrTransmit;
constexpr std::uint16_t kTxArea = 0x4000;

Fill frame_from(Station source, Station destination = Station::outside, std::uint8_t seed = 0x11) {
  return {Fill::Kind::frame, destination, source, seed};
}

// Issue 13, finding 1: an unfinished 2-byte remote write keeps the data port
// direct; RBCR 0xffff written behind it; a transmit (CR `cr`) loads the
// guest's card context; 16 KiB read and written through the data port.
std::vector<std::uint8_t> escape(std::uint8_t cr) {
  StreamWriter w({.hostile_first = true, .reserved_areas = 4, .honest_probes = true});
  w.init().send_frame(64, frame_from(Station::hostile));
  w.honest_until(HonestPhase::data_written);  // the honest frame waits on the card
  w.remote_dma(kTxArea, 2, true);
  w.out(reg::kRbcr0, 0xff).out(reg::kRbcr1, 0xff);
  w.out(reg::kTpsr, 0x40).out(reg::kTbcr0, 64).out(reg::kTbcr1, 0);
  w.out(reg::kCr, cr);
  w.read_string(kDataPort, 2, 16 * 1024);
  w.write_string(kDataPort, 2, 16 * 1024, {Fill::Kind::constant, {}, {}, 0xee});
  w.honest_until(HonestPhase::idle);
  return w.bytes();
}

// The same escape in its fewest ops: a remote write left half done, its
// count rewritten, a transmit with no DMA command, a write past the range.
std::vector<std::uint8_t> escape_minimal() {
  StreamWriter w(
      {.hostile_first = true, .reserved_areas = 2, .honest_probes = false, .hostile_inits = true});
  w.remote_dma(kTxArea + 0x100, 64, true, 32);
  w.out(reg::kRbcr0, 0xff);
  w.transmit(0x40, 60, 0x06);
  w.write_string(kDataPort, 2, 100, {Fill::Kind::constant, {}, {}, 0xee});
  w.honest_until(HonestPhase::idle);
  return w.bytes();
}

// Finding 2: a wide access covering the reset port while the honest
// guest's transmit is in flight.
std::vector<std::uint8_t> wide_reset(std::uint16_t offset, unsigned size, bool read) {
  StreamWriter w({.hostile_first = false, .reserved_areas = 2, .honest_probes = false});
  w.init().send_frame(100, frame_from(Station::hostile));
  w.honest_until(HonestPhase::mid_data);
  if (read)
    w.read(offset, size);
  else
    w.write(offset, size, 0);
  w.honest_until(HonestPhase::idle);
  w.send_frame(100, frame_from(Station::hostile));
  return w.bytes();
}

// Finding 3: runts. The whole frame is written, then sent with a TBCR of
// `tbcr`: no whole Ethernet header below 14.
std::vector<std::uint8_t> runt(std::uint16_t tbcr) {
  StreamWriter w;
  w.init();
  w.honest_until(HonestPhase::idle);
  w.remote_dma(kTxArea, 60, true);
  w.write_string(kDataPort, 2, 60, frame_from(Station::hostile));
  w.read(reg::kIsr).out(reg::kIsr, reg::kIsrRdc);
  w.transmit(0x40, tbcr, kTransmit);
  w.read(reg::kIsr).out(reg::kIsr, reg::kIsrPtx | reg::kIsrTxe);
  w.send_frame(tbcr, frame_from(Station::honest));  // a runt that names the other guest
  w.honest(30);
  return w.bytes();
}

// Normal traffic: both guests send frames of several sizes, the hostile
// guest between each phase of the honest guest's send.
std::vector<std::uint8_t> both_send() {
  StreamWriter w;
  w.init();
  for (const HonestPhase p : {HonestPhase::idle, HonestPhase::dma_started, HonestPhase::mid_data,
                              HonestPhase::data_written, HonestPhase::transmitting}) {
    w.honest_until(p);
    w.send_frame(60 + 200 * static_cast<unsigned>(p), frame_from(Station::hostile));
  }
  w.send_frame(1514, frame_from(Station::hostile, Station::honest));
  return w.bytes();
}

// Normal traffic with receiving: frames from the wire for both guests and
// broadcast; the hostile guest reads its ring header by remote DMA.
std::vector<std::uint8_t> receive(bool polled) {
  StreamWriter w({.hostile_first = false,
                  .reserved_areas = 3,
                  .honest_probes = true,
                  .hostile_inits = false,
                  .polled_card = polled});
  w.init();
  w.honest(20);
  w.wire_frame(Station::hostile, 100);
  w.wire_frame(Station::broadcast, 1514);
  w.honest(10);
  w.wire_frame(Station::honest, 60);
  w.read(reg::kIsr);  // a polled card is drained now
  w.remote_dma(0x4700, 4, false);
  w.read_string(kDataPort, 2, 4);
  w.out(reg::kIsr, reg::kIsrRdc);
  w.honest_until(HonestPhase::mid_data);
  w.wire_frame(Station::outside, 300);
  w.honest_until(HonestPhase::idle);
  return w.bytes();
}

// A forged source, an unfinished DMA the honest guest has to pass, accesses
// straddling the data port, and posted writes, while the honest guest's
// remote write runs.
std::vector<std::uint8_t> hostile_mix() {
  StreamWriter w;
  w.init();
  w.honest_until(HonestPhase::data_written);
  w.send_frame(80, frame_from(Station::honest));
  w.remote_dma(kTxArea, 200, true);
  w.write_string(kDataPort, 2, 20, {Fill::Kind::counting, {}, {}, 1});
  w.honest_until(HonestPhase::mid_data);  // needs the card: the hostile DMA is stalled
  w.remote_dma(kTxArea + 0x5f0, 16, true);
  w.write(0x0e, 4, 0x11223344);
  w.write(0x0f, 2, 0x5566);
  w.read(0x0f, 2);
  w.posted_write(kDataPort, 2, 64, {Fill::Kind::constant, {}, {}, 0x99});
  w.read(reg::kIsr);
  w.honest_until(HonestPhase::idle);
  return w.bytes();
}

// Byte mode, odd counts, and remote reads at the ends of the transmit area.
std::vector<std::uint8_t> byte_mode() {
  StreamWriter w;
  w.init(kInitByteMode);
  w.honest_until(HonestPhase::dma_started);
  w.remote_dma(kTxArea + 0x5ff, 1, false);
  w.read(kDataPort, 4);
  w.remote_dma(kTxArea, 0x600, false);
  w.read_string(kDataPort, 4, 0x604);
  w.remote_dma(kTxArea + 3, 7, true);
  w.write_string(kDataPort, 1, 9, {Fill::Kind::noise, {}, {}, 7});
  w.honest_until(HonestPhase::transmitting);
  w.write(kResetPort, 1, 0);
  w.honest_until(HonestPhase::idle);
  return w.bytes();
}

// One op, encoded on its own (the layout byte dropped).
std::vector<std::uint8_t> op(const std::function<void(StreamWriter&)>& add) {
  StreamWriter w;
  add(w);
  return {w.bytes().begin() + 1, w.bytes().end()};
}

std::vector<std::pair<std::string, std::vector<std::uint8_t>>> dictionary() {
  using W = StreamWriter;
  std::vector<std::pair<std::string, std::vector<std::uint8_t>>> words;
  const auto add = [&](std::string name, const std::function<void(W&)>& f) {
    words.emplace_back(std::move(name), op(f));
  };
  for (const std::uint8_t cr : std::initializer_list<std::uint8_t>{0x06, 0x1e, 0x26, 0x3e}) {
    add("transmit_60_cr" + std::to_string(cr), [=](W& w) { w.transmit(0x40, 60, cr); });
    add("transmit_14_cr" + std::to_string(cr), [=](W& w) { w.transmit(0x40, 14, cr); });
  }
  add("transmit_1514", [](W& w) { w.transmit(0x40, 1514, kTransmit); });
  for (const bool write : {true, false}) {
    const std::string dir = write ? "write" : "read";
    add("dma_" + dir + "_2", [=](W& w) { w.remote_dma(kTxArea, 2, write); });
    add("dma_" + dir + "_64_half", [=](W& w) { w.remote_dma(kTxArea, 64, write, 32); });
    add("dma_" + dir + "_60", [=](W& w) { w.remote_dma(kTxArea, 60, write); });
    add("dma_" + dir + "_end", [=](W& w) { w.remote_dma(kTxArea + 0x5fe, 2, write); });
    add("dma_" + dir + "_area", [=](W& w) { w.remote_dma(kTxArea, 0x600, write); });
  }
  for (const std::uint16_t offset : {reg::kRbcr0, reg::kRbcr1, reg::kRsar0, reg::kRsar1}) {
    add("out_" + std::to_string(offset) + "_ff", [=](W& w) { w.out(offset, 0xff); });
    add("out_" + std::to_string(offset) + "_0", [=](W& w) { w.out(offset, 0); });
  }
  for (const std::uint8_t cr : std::initializer_list<std::uint8_t>{0x12, 0x0a, 0x22, 0x21, 0x02}) {
    add("cr_" + std::to_string(cr), [=](W& w) { w.out(reg::kCr, cr); });
  }
  add("data_write_64",
      [](W& w) { w.write_string(kDataPort, 2, 64, frame_from(Station::hostile)); });
  add("data_write_16k", [](W& w) {
    w.write_string(kDataPort, 2, 16 * 1024, {Fill::Kind::constant, {}, {}, 0xee});
  });
  add("data_write_32", [](W& w) { w.write(kDataPort, 4, 0xeeeeeeee); });
  add("data_read_16k", [](W& w) { w.read_string(kDataPort, 2, 16 * 1024); });
  add("send_own", [](W& w) { w.send_frame(60, frame_from(Station::hostile)); });
  add("send_forged", [](W& w) { w.send_frame(60, frame_from(Station::honest)); });
  add("reset_outw", [](W& w) { w.write(0x1e, 2, 0); });
  add("reset_outl", [](W& w) { w.write(0x1c, 4, 0); });
  add("reset_inw", [](W& w) { w.read(0x1e, 2); });
  add("isr_ack_rdc", [](W& w) { w.out(reg::kIsr, reg::kIsrRdc); });
  add("init", [](W& w) { w.init(kInitNoProbe); });
  for (unsigned p = 1; p < kHonestPhases; ++p)
    add("honest_until_" + std::to_string(p),
        [=](W& w) { w.honest_until(static_cast<HonestPhase>(p)); });
  add("wire_frame", [](W& w) { w.wire_frame(Station::hostile, 60); });
  return words;
}

}  // namespace

std::vector<Seed> seeds() {
  return {
      {"escape-cr06", escape(0x06)},
      {"escape-cr1e", escape(0x1e)},
      {"escape-minimal", escape_minimal()},
      {"wide-reset-outw-1e", wide_reset(0x1e, 2, false)},
      {"wide-reset-outl-1c", wide_reset(0x1c, 4, false)},
      {"wide-reset-inw-1e", wide_reset(0x1e, 2, true)},
      {"runt-tbcr5", runt(5)},
      {"runt-tbcr10", runt(10)},
      {"traffic-both-send", both_send()},
      {"traffic-receive", receive(false)},
      {"traffic-receive-polled", receive(true)},
      {"hostile-mix", hostile_mix()},
      {"byte-mode", byte_mode()},
  };
}

bool write_seeds(const std::string& dir) {
  for (const Seed& s : seeds()) {
    const std::string path = dir + "/" + s.name;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) {
      std::fprintf(stderr, "write-seeds: %s: %s\n", path.c_str(), std::strerror(errno));
      return false;
    }
    const bool ok = std::fwrite(s.input.data(), 1, s.input.size(), f) == s.input.size();
    if (std::fclose(f) != 0 || !ok) {
      std::fprintf(stderr, "write-seeds: %s: write failed\n", path.c_str());
      return false;
    }
    std::printf("%s (%zu bytes)\n", path.c_str(), s.input.size());
  }
  return true;
}

}  // namespace vpio::fuzz

namespace vpio::fuzz {

bool write_dictionary(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "write-dict: %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  std::fprintf(f,
               "# Single ops of the isolation fuzzer's input format (fuzz/seeds.cpp,\n"
               "# written by fuzz_isolation --write-dict=FILE): libFuzzer -dict=.\n");
  for (const auto& [name, bytes] : dictionary()) {
    std::fprintf(f, "%s=\"", name.c_str());
    for (const std::uint8_t b : bytes) std::fprintf(f, "\\x%02x", b);
    std::fprintf(f, "\"\n");
  }
  return std::fclose(f) == 0;
}

}  // namespace vpio::fuzz

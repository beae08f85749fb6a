// The isolation harness: the card, the monitor with an honest and a hostile
// guest, the honest guest's script, the hostile guest's ops, the invariants.
#include "hw/bytes.hpp"
#include "fuzz/isolation_harness.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace vpio::fuzz {
namespace reg = devices::ne2000;
using devices::CardRange;
using Guest = devices::Ne2000Monitor::Guest;

namespace {

constexpr std::uint16_t kDataPort = devices::Ne2000::kDataPort;
constexpr std::uint16_t kResetPort = devices::Ne2000::kResetPort;
constexpr std::uint16_t kDataPortSpan = devices::Ne2000Model::kDataPortSpan;

// The stock driver's settings (guests/ne2000/ne2000.h).
constexpr std::uint8_t kStoppedPage0 = reg::kCrNoDma | reg::kCrStop;
constexpr std::uint8_t kStoppedPage1 = reg::kCrPage1 | reg::kCrNoDma | reg::kCrStop;
constexpr std::uint8_t kRunningPage0 = reg::kCrNoDma | reg::kCrStart;
constexpr std::uint8_t kDriverDcr = reg::kDcrWordTransfer | reg::kDcrNormal | reg::kDcrFifo8Bytes;
constexpr std::uint8_t kTxPage = 0x40;  // the transmit area, as each guest sees it
constexpr std::uint8_t kRxStart = 0x46, kRxStop = 0x80;
constexpr std::uint8_t kEtherType0 = 0x88, kEtherType1 = 0xb5;  // local experimental
constexpr std::size_t kHeaderBytes = 14;
constexpr std::size_t kMacBytes = 6;

// The honest guest writes its frame in rep outsw chunks of these sizes (the
// last repeated), so hostile accesses land early and late in its DMA.
constexpr std::array<std::uint16_t, 6> kChunkBytes = {2, 12, 50, 192, 768, 1536};
// ISR reads a wait may take: the chip and the monitor finish at once, so an
// honest guest that polls more than this is being held up.
constexpr unsigned kHonestPolls = 4;
constexpr unsigned kHostilePolls = 3;
constexpr unsigned kMaxHonestRun = 128;  // steps of one run to a phase
// A card may move a whole 32-bit access past the count it was given
// (QEMU's NE2000 does); the model keeps this slack inside the area.
constexpr std::uint32_t kCardOverreach = devices::Ne2000Model::kCardOverreach;

constexpr const char* kDirectRange =
    "1 (direct accesses, and the card DMA a guest's step makes, stay inside the validated range "
    "and the guest's transmit area)";
constexpr const char* kCardState =
    "2 (card state outside the hostile guest's transmit area changes only by the monitor and the "
    "honest guest)";
constexpr const char* kHonestIntact =
    "3 (the honest guest's frames reach the wire intact, in order, and it gets no machine check)";
constexpr const char* kWireFrames =
    "4 (every frame on the wire has an Ethernet header and its sender's source MAC)";
constexpr const char* kShareHeld =
    "5 (every DMA target the model passes lies in the guest's share, as the core checks it)";

using hw::hi;
using hw::lo;

std::string hex(unsigned v, int digits = 0) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%0*x", digits, v);
  return text;
}

bool has_source(std::span<const std::uint8_t> frame, const hw::MacAddress& mac) {
  return frame.size() >= 2 * kMacBytes &&
         std::equal(mac.bytes.begin(), mac.bytes.end(), frame.begin() + kMacBytes);
}

const char* phase_name(HonestPhase p) {
  switch (p) {
    case HonestPhase::initialising: return "initialising";
    case HonestPhase::idle: return "idle";
    case HonestPhase::dma_started: return "dma_started";
    case HonestPhase::mid_data: return "mid_data";
    case HonestPhase::data_written: return "data_written";
    case HonestPhase::transmitting: return "transmitting";
  }
  return "?";
}

// The honest guest's k-th frame, to the outside, to the hostile guest or
// broadcast (both looped back to the hostile guest): 60..259 bytes, every
// third one 60..1514 (long frames cost time in every input that has them).
Bytes honest_frame(unsigned k) {
  const std::size_t length =
      hw::kMinFrameBytes + (k % 3 == 2 ? (k * 397u) % (hw::kMaxFrameBytes - 59) : (k * 53u) % 200);
  Bytes frame(length);
  for (std::size_t i = 0; i < length; ++i) frame[i] = static_cast<std::uint8_t>(k * 31 + i * 7);
  const hw::MacAddress& destination = k % 8 == 5
                                          ? hw::MacAddress{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
                                      : k % 4 == 3 ? kHostileMac
                                                   : kOutsideMac;
  std::copy(destination.bytes.begin(), destination.bytes.end(), frame.begin());
  std::copy(kHonestMac.bytes.begin(), kHonestMac.bytes.end(), frame.begin() + kMacBytes);
  frame[12] = kEtherType0;
  frame[13] = kEtherType1;
  frame[14] = lo(k);
  frame[15] = hi(k);
  return frame;
}

// A string op's length. Past the data port's span each element is a hooked
// register access of its own, as slow as KVM makes it; a few hundred of
// them already repeat a counting fill's every value: longer ones only cost
// time.
std::uint32_t string_bytes(const Op& op) {
  constexpr std::uint32_t kMaxRegisterStringBytes = 256;
  const bool data_port = op.offset >= kDataPort && op.offset < kDataPort + kDataPortSpan;
  return data_port ? op.bytes : std::min(op.bytes, kMaxRegisterStringBytes);
}

}  // namespace

// ---- The recording card ----

void RecordingCard::begin_step() noexcept {
  accessed_ = false;
  memory_written_ = false;
  register_accesses_ = 0;
  touches_.clear();
}

template <typename Access>
void RecordingCard::noted(std::uint16_t offset, unsigned size, bool write, Access&& access) {
  accessed_ = true;
  const bool data_port = offset <= kDataPort && offset + size > kDataPort;
  if (offset < kDataPort || offset + size > kDataPort + kDataPortSpan) ++register_accesses_;
  if (!data_port) {
    access();
    return;
  }
  DataPortTouch t = before_touch(write);
  access();
  after_touch(t);
  if (write) memory_written_ = true;
}

// Apart from noted(), so that the card images copied here are not on the
// stack of every card access (ASan poisons a frame's locals on each call).
[[gnu::noinline]] DataPortTouch RecordingCard::before_touch(bool write) const {
  const devices::Ne2000State s = card_.chip().save();
  DataPortTouch t;
  t.write = write;
  t.honest_meanwhile = honest_meanwhile;
  t.address_before = s.remote_address;
  t.count_before = s.remote_count;
  t.page_start = s.page_start;
  t.page_stop = s.page_stop;
  t.words = (s.data_config & reg::kDcrWordTransfer) != 0;
  return t;
}

[[gnu::noinline]] void RecordingCard::after_touch(DataPortTouch t) {
  const devices::Ne2000State s = card_.chip().save();
  t.address_after = s.remote_address;
  t.count_after = s.remote_count;
  touches_.push_back(t);
}

std::uint32_t RecordingCard::read(std::uint16_t offset, unsigned size) {
  if (offset == reg::kIsr && before_isr_read) before_isr_read();
  std::uint32_t value = 0;
  noted(offset, size, false, [&] { value = card_.read(offset, size); });
  return value;
}

void RecordingCard::write(std::uint16_t offset, unsigned size, std::uint32_t value) {
  noted(offset, size, true, [&] { card_.write(offset, size, value); });
}

void RecordingCard::read_string(std::uint16_t offset, unsigned size, std::span<std::uint8_t> data) {
  noted(offset, size, false, [&] { card_.read_string(offset, size, data); });
}

void RecordingCard::write_string(std::uint16_t offset, unsigned size,
                                 std::span<const std::uint8_t> data) {
  noted(offset, size, true, [&] { card_.write_string(offset, size, data); });
}

void WireRecorder::deliver(std::span<const std::uint8_t> frame) {
  sent_.push_back({Bytes(frame.begin(), frame.end()), chip_.save().transmit_page});
}

// ---- The honest driver's script ----

void HonestDriver::out(HonestPhase p, std::uint16_t offset, std::uint8_t value) {
  Access a;
  a.kind = Access::Kind::out;
  a.phase = p;
  a.offset = offset;
  a.value = value;
  add(a);
}

void HonestDriver::in(HonestPhase p, std::uint16_t offset) {
  Access a;
  a.kind = Access::Kind::in;
  a.phase = p;
  a.offset = offset;
  add(a);
}

// ne_probe (guests/ne2000/ne2000.c): the DP8390 check, a reset, the PROM.
void HonestDriver::script_probe() {
  constexpr HonestPhase p = HonestPhase::initialising;
  in(p, reg::kCr);
  out(p, reg::kCr, kStoppedPage1);
  in(p, reg::kMar0 + 5);
  out(p, reg::kMar0 + 5, 0xff);
  out(p, reg::kCr, kStoppedPage0);
  in(p, reg::kCntr0);
  in(p, reg::kCntr0);
  out(p, reg::kCr, kStoppedPage1);
  out(p, reg::kMar0 + 5, 0);
  out(p, reg::kCr, kStoppedPage0);
  in(p, kResetPort);
  out(p, kResetPort, 0);
  Access reset_wait;
  reset_wait.kind = Access::Kind::wait_isr;
  reset_wait.phase = p;
  reset_wait.offset = reg::kIsr;
  reset_wait.value = reg::kIsrRst;
  reset_wait.ack_all = true;
  add(reset_wait);
  out(p, reg::kCr, kStoppedPage0);
  out(p, reg::kDcr, kDriverDcr);
  out(p, reg::kRbcr0, 0);
  out(p, reg::kRbcr1, 0);
  out(p, reg::kImr, 0);
  out(p, reg::kIsr, 0xff);
  out(p, reg::kRcr, reg::kRcrMonitor);
  out(p, reg::kTcr, reg::kTcrInternalLoopback);
  out(p, reg::kRbcr0, reg::kPromBytes);
  out(p, reg::kRbcr1, 0);
  out(p, reg::kRsar0, 0);
  out(p, reg::kRsar1, 0);
  out(p, reg::kCr, reg::kCrRemoteRead | reg::kCrStart);
  Access prom;
  prom.kind = Access::Kind::read_prom;
  prom.phase = p;
  prom.offset = kDataPort;
  add(prom);
  out(p, reg::kIsr, reg::kIsrRdc);
  out(p, reg::kCr, kStoppedPage0);
}

// ne_init.
void HonestDriver::script_init(bool probe) {
  constexpr HonestPhase p = HonestPhase::initialising;
  if (probe) script_probe();
  out(p, reg::kCr, kStoppedPage0);
  out(p, reg::kDcr, kDriverDcr);
  out(p, reg::kRbcr0, 0);
  out(p, reg::kRbcr1, 0);
  out(p, reg::kRcr, reg::kRcrMonitor);
  out(p, reg::kTcr, reg::kTcrInternalLoopback);
  out(p, reg::kTpsr, kTxPage);
  out(p, reg::kPstart, kRxStart);
  out(p, reg::kBnry, kRxStart);
  out(p, reg::kPstop, kRxStop);
  out(p, reg::kIsr, 0xff);
  out(p, reg::kImr, 0);
  out(p, reg::kCr, kStoppedPage1);
  for (unsigned i = 0; i < kMacBytes; ++i)
    out(p, static_cast<std::uint16_t>(reg::kPar0 + i), kHonestMac.bytes[i]);
  out(p, reg::kCurr, kRxStart + 1);
  for (unsigned i = 0; i < 8; ++i) out(p, static_cast<std::uint16_t>(reg::kMar0 + i), 0);
  out(p, reg::kCr, kStoppedPage0);
  out(p, reg::kIsr, 0xff);
  out(p, reg::kImr, 0);
  out(p, reg::kCr, kRunningPage0);
  out(p, reg::kTcr, 0);
  out(p, reg::kRcr, reg::kRcrBroadcast);
}

// ne_send: the remote write in chunks, RDC, the transmit, PTX.
void HonestDriver::script_frame() {
  const Bytes frame = honest_frame(frame_number_);
  image_ = frame;
  if (image_.size() % 2 != 0) image_.push_back(0);
  wire_.assign(image_.begin(), image_.begin() + static_cast<std::ptrdiff_t>(
                                                    std::max(frame.size(), hw::kMinFrameBytes)));
  const auto n = static_cast<std::uint16_t>(image_.size());
  constexpr HonestPhase idle = HonestPhase::idle;
  out(idle, reg::kIsr, reg::kIsrPtx | reg::kIsrTxe);
  out(idle, reg::kCr, kRunningPage0);
  out(idle, reg::kIsr, reg::kIsrRdc);
  out(idle, reg::kCr, kRunningPage0);
  out(idle, reg::kRbcr0, lo(n));
  out(idle, reg::kRbcr1, hi(n));
  out(idle, reg::kRsar0, 0);
  out(idle, reg::kRsar1, kTxPage);
  out(idle, reg::kCr, reg::kCrRemoteWrite | reg::kCrStart);
  std::uint16_t at = 0;
  for (unsigned chunk = 0; at < n; ++chunk) {
    Access a;
    a.kind = Access::Kind::data;
    a.offset = kDataPort;
    a.phase = chunk == 0 ? HonestPhase::dma_started : HonestPhase::mid_data;
    a.data_offset = at;
    a.data_bytes = std::min<std::uint16_t>(kChunkBytes[std::min<std::size_t>(chunk, 5)],
                                           static_cast<std::uint16_t>(n - at));
    add(a);
    at = static_cast<std::uint16_t>(at + a.data_bytes);
  }
  Access rdc;
  rdc.kind = Access::Kind::wait_isr;
  rdc.phase = HonestPhase::data_written;
  rdc.offset = reg::kIsr;
  rdc.value = reg::kIsrRdc;
  add(rdc);
  const auto wire = static_cast<std::uint16_t>(std::max(frame.size(), hw::kMinFrameBytes));
  out(HonestPhase::data_written, reg::kTbcr0, lo(wire));
  out(HonestPhase::data_written, reg::kTbcr1, hi(wire));
  out(HonestPhase::data_written, reg::kTpsr, kTxPage);
  out(HonestPhase::data_written, reg::kCr, kRunningPage0 | reg::kCrTransmit);
  script_.back().transmits = true;
  Access ptx;
  ptx.kind = Access::Kind::wait_isr;
  ptx.phase = HonestPhase::transmitting;
  ptx.offset = reg::kIsr;
  ptx.value = reg::kIsrPtx | reg::kIsrTxe;
  add(ptx);
}

void HonestDriver::pop() {
  const bool in_frame = script_.front().phase != HonestPhase::initialising;
  script_.pop_front();
  polls = 0;
  if (!script_.empty()) return;
  if (in_frame) {
    ++frames_completed_;
    ++frame_number_;
  }
  script_frame();
}

std::vector<HonestDriver::Access> HonestDriver::take_pending_data() {
  std::vector<Access> pending;
  while (!script_.empty() && script_.front().kind == Access::Kind::data) {
    pending.push_back(script_.front());
    script_.pop_front();
  }
  return pending;
}

// ---- The harness ----

IsolationHarness::IsolationHarness(CardLayout layout)
    : chip_(kCardMac), card_(chip_), wire_(chip_.chip()), driver_(layout.honest_probes) {
  trace_ = std::getenv("VPIO_FUZZ_TRACE") != nullptr;
  on_breach = [](const std::string& message) {
    std::fputs(message.c_str(), stderr);
    std::fflush(stderr);
    std::abort();
  };
  chip_.chip().set_transmit_sink(wire_);
  devices::MonitorConfig config;
  config.max_guests = layout.reserved_areas;
  config.queue_frames = 8;
  // A guest whose remote DMA holds the card when another needs it loses it
  // at once (remote_dma_stalled): the honest guest never waits behind the
  // hostile one, and the honest guest's own DMA is finished meanwhile.
  config.sharing.operation_stall_limit = std::chrono::milliseconds(0);
  // No receive thread: the harness drains, so an input runs the same way
  // every time (and a thread per input would cost most of its time).
  config.sharing.run_service_thread = false;
  // A polled card (a real ISA card's interrupt does not reach userspace):
  // every ISR read of a guest makes the monitor look at the card, and drain
  // it (no interval: an input must not depend on the clock).
  if (layout.polled_card) {
    config.sharing.device_interrupts = false;
    config.sharing.wait_check_interval = std::chrono::microseconds(0);
  }
  monitor_ = std::make_unique<devices::Ne2000Monitor>(card_, config);
  const auto add = [&](const char* name, const hw::MacAddress& mac,
                       std::vector<std::uint64_t>* checks) {
    devices::GuestCallbacks callbacks;
    callbacks.violation = [checks](const dmm::ViolationReport& r) {
      checks->push_back(r.code);
    };
    return &monitor_->add_guest(name, mac, std::move(callbacks));
  };
  if (layout.hostile_first) {
    hostile_ = add("hostile", kHostileMac, &hostile_checks_);
    honest_ = add("honest", kHonestMac, &honest_checks_);
  } else {
    honest_ = add("honest", kHonestMac, &honest_checks_);
    hostile_ = add("hostile", kHostileMac, &hostile_checks_);
  }
  polled_ = layout.polled_card;
  ring_start_ = static_cast<std::uint8_t>(reg::kFirstMemoryPage +
                                          layout.reserved_areas * honest_->layout().tx_pages);
  card_.before_isr_read = [this] { honest_finishes_dma_meanwhile(); };
  monitor_registers_ = chip_.chip().save();
  expected_memory_.assign(monitor_registers_.memory.begin(), monitor_registers_.memory.end());
  expected_prom_ = monitor_registers_.prom;
  if (layout.hostile_inits) {
    // A driver's init, and a frame of its own loaded into its transmit area
    // (so that a transmit passes the source check), not yet sent.
    hostile_init(kInitNoProbe);
    Fill own{Fill::Kind::frame, Station::outside, Station::hostile, 0};
    hostile_remote_dma(std::uint16_t{kTxPage} << 8, hw::kMinFrameBytes, true);
    hostile_write_string(kDataPort, 2, fill(own, hw::kMinFrameBytes), false);
    hostile_wait_isr(reg::kIsrRdc);
  }
}

IsolationHarness::~IsolationHarness() {
  card_.before_isr_read = nullptr;
  monitor_->stop();
}

std::uint32_t IsolationHarness::area_start(const Guest& g) const noexcept {
  return std::uint32_t{g.layout().card_tx_page} << 8;
}

std::uint32_t IsolationHarness::area_end(const Guest& g) const noexcept {
  return area_start(g) + (std::uint32_t{g.layout().tx_pages} << 8);
}

const hw::MacAddress& IsolationHarness::mac_of(Station s) const noexcept {
  static constexpr hw::MacAddress kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  switch (s) {
    case Station::hostile: return kHostileMac;
    case Station::honest: return kHonestMac;
    case Station::outside: return kOutsideMac;
    case Station::broadcast: return kBroadcast;
  }
  return kOutsideMac;
}

Bytes IsolationHarness::fill(const Fill& f, std::uint32_t bytes) const {
  Bytes data(bytes);
  switch (f.kind) {
    case Fill::Kind::constant: std::fill(data.begin(), data.end(), f.seed); break;
    case Fill::Kind::counting:
    case Fill::Kind::frame:
      for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(f.seed + i);
      break;
    case Fill::Kind::noise: {
      std::uint32_t x = 0x9e3779b9u ^ f.seed;
      for (auto& b : data) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b = static_cast<std::uint8_t>(x);
      }
      break;
    }
  }
  if (f.kind == Fill::Kind::frame) {
    Bytes header(kHeaderBytes);
    const hw::MacAddress& d = mac_of(f.destination);
    const hw::MacAddress& s = mac_of(f.source);
    std::copy(d.bytes.begin(), d.bytes.end(), header.begin());
    std::copy(s.bytes.begin(), s.bytes.end(), header.begin() + kMacBytes);
    header[12] = kEtherType0;
    header[13] = kEtherType1;
    std::copy_n(header.begin(), std::min(header.size(), data.size()), data.begin());
  }
  return data;
}

// ---- Ops ----

void IsolationHarness::run(const Op& op) {
  honest_steps(op.honest_steps);
  hostile_op(op);
}

void IsolationHarness::hostile_op(const Op& op) {
  switch (op.kind) {
    case OpKind::write: hostile_write(op.offset, op.size, op.value); break;
    case OpKind::read: hostile_read(op.offset, op.size); break;
    case OpKind::write_string:
      hostile_write_string(op.offset, op.size, fill(op.fill, string_bytes(op)), false);
      break;
    case OpKind::posted_write:
      hostile_write_string(op.offset, op.size, fill(op.fill, string_bytes(op)), true);
      break;
    case OpKind::read_string: hostile_read_string(op.offset, op.size, string_bytes(op)); break;
    case OpKind::honest:
      if (op.phase)
        honest_until(*op.phase);
      else
        honest_steps(op.steps);
      break;
    case OpKind::wire_frame: wire_frame(op.fill.destination, op.bytes); break;
    case OpKind::init: hostile_init(op.value); break;
    case OpKind::remote_dma:
      hostile_remote_dma(op.address, op.count, op.dma_write);
      if (op.bytes != 0) {
        const Fill counting{Fill::Kind::counting, Station::hostile, Station::hostile, 0};
        hostile_write_string(kDataPort, 2, fill(counting, op.bytes), false);
      }
      break;
    case OpKind::transmit:
      hostile_transmit(op.address, op.count, static_cast<std::uint8_t>(op.value));
      break;
    case OpKind::send_frame: hostile_send(op.bytes, op.fill); break;
    case OpKind::count: break;
  }
}

void IsolationHarness::finish() {
  if (driver_.phase() != HonestPhase::initialising) honest_until(HonestPhase::idle);
  const unsigned done = driver_.frames_completed();
  for (unsigned i = 0; i < 2 * kMaxHonestRun && driver_.frames_completed() == done; ++i)
    honest_step();
  if (driver_.frames_completed() == done)
    breach(kHonestIntact, "the honest guest sent no frame in " + std::to_string(2 * kMaxHonestRun) +
                              " steps at the end");
  if (honest_frames_on_wire_ != driver_.frames_completed())
    breach(kHonestIntact, "the honest guest completed " +
                              std::to_string(driver_.frames_completed()) +
                              " frames, the wire has " + std::to_string(honest_frames_on_wire_));
}

template <typename Access>
void IsolationHarness::hostile_step(const char* what, std::uint16_t offset, unsigned size,
                                    std::uint32_t bytes, Access&& access) {
  begin_step(Actor::hostile, what);
  access_offset_ = offset;
  access_size_ = size;
  access_bytes_ = bytes;
  range_before_ = hostile_->card_dma_range();
  access();
  hostile_direct_ = hostile_->window().last_path() != IoPath::hooked;
  end_step();
}

void IsolationHarness::hostile_write(std::uint16_t offset, unsigned size, std::uint32_t value) {
  hostile_step("write", offset, size, 0, [&] {
    access_value_ = value;
    hostile_->window().port_write(offset, size, value);
  });
}

std::uint32_t IsolationHarness::hostile_read(std::uint16_t offset, unsigned size) {
  std::uint32_t value = 0;
  hostile_step("read", offset, size, 0, [&] {
    access_read_ = true;
    value = hostile_->window().port_read(offset, size);
    access_value_ = value;
  });
  return value;
}

void IsolationHarness::hostile_write_string(std::uint16_t offset, unsigned size,
                                            std::span<const std::uint8_t> data, bool posted) {
  hostile_step(posted ? "posted write" : "write string", offset, size,
               static_cast<std::uint32_t>(data.size()), [&] {
                 if (posted)
                   hostile_->window().port_write_posted(offset, size, data);
                 else
                   hostile_->window().port_write_string(offset, size, data);
               });
}

void IsolationHarness::hostile_read_string(std::uint16_t offset, unsigned size,
                                           std::uint32_t bytes) {
  Bytes data(bytes);
  hostile_step("read string", offset, size, bytes, [&] {
    access_read_ = true;
    hostile_->window().port_read_string(offset, size, data);
  });
}

std::uint8_t IsolationHarness::hostile_wait_isr(std::uint8_t bits) {
  for (unsigned poll = 0; poll < kHostilePolls; ++poll) {
    const auto seen = static_cast<std::uint8_t>(hostile_read(reg::kIsr, 1) & bits);
    if (seen != 0) {
      hostile_write(reg::kIsr, 1, seen);
      return seen;
    }
  }
  return 0;
}

// A driver's probe and init on the hostile guest's own card, in word or
// byte mode, with its own MAC in PAR.
void IsolationHarness::hostile_init(std::uint32_t options) {
  const auto out = [&](std::uint16_t offset, std::uint8_t v) { hostile_write(offset, 1, v); };
  const std::uint8_t dcr = (options & kInitByteMode) != 0
                               ? static_cast<std::uint8_t>(kDriverDcr & ~reg::kDcrWordTransfer)
                               : kDriverDcr;
  if ((options & kInitNoProbe) == 0) {
    out(kResetPort, static_cast<std::uint8_t>(hostile_read(kResetPort, 1)));
    hostile_wait_isr(reg::kIsrRst);
    out(reg::kCr, kStoppedPage0);
    out(reg::kDcr, dcr);
    out(reg::kRbcr0, reg::kPromBytes);
    out(reg::kRbcr1, 0);
    out(reg::kRsar0, 0);
    out(reg::kRsar1, 0);
    out(reg::kCr, reg::kCrRemoteRead | reg::kCrStart);
    hostile_read_string(kDataPort, 2, reg::kPromBytes);
    out(reg::kIsr, reg::kIsrRdc);
  }
  out(reg::kCr, kStoppedPage0);
  out(reg::kDcr, dcr);
  out(reg::kRbcr0, 0);
  out(reg::kRbcr1, 0);
  out(reg::kTpsr, kTxPage);
  out(reg::kPstart, kRxStart);
  out(reg::kBnry, kRxStart);
  out(reg::kPstop, kRxStop);
  out(reg::kIsr, 0xff);
  out(reg::kCr, kStoppedPage1);
  for (unsigned i = 0; i < kMacBytes; ++i)
    out(static_cast<std::uint16_t>(reg::kPar0 + i), kHostileMac.bytes[i]);
  out(reg::kCurr, kRxStart + 1);
  out(reg::kCr, kStoppedPage0);
  out(reg::kCr, kRunningPage0);
  out(reg::kTcr, 0);
  out(reg::kRcr, reg::kRcrBroadcast);
}

void IsolationHarness::hostile_remote_dma(std::uint16_t address, std::uint16_t count, bool write) {
  hostile_write(reg::kCr, 1, kRunningPage0);
  hostile_write(reg::kRbcr0, 1, lo(count));
  hostile_write(reg::kRbcr1, 1, hi(count));
  hostile_write(reg::kRsar0, 1, lo(address));
  hostile_write(reg::kRsar1, 1, hi(address));
  hostile_write(reg::kCr, 1, (write ? reg::kCrRemoteWrite : reg::kCrRemoteRead) | reg::kCrStart);
}

void IsolationHarness::hostile_transmit(std::uint16_t tpsr_address, std::uint16_t tbcr,
                                        std::uint8_t cr) {
  hostile_write(reg::kTbcr0, 1, lo(tbcr));
  hostile_write(reg::kTbcr1, 1, hi(tbcr));
  hostile_write(reg::kTpsr, 1, hi(tpsr_address));
  hostile_write(reg::kCr, 1, cr);
}

// ne_send with a frame of the hostile guest's making (any source, any
// length: a runt, or past its transmit area).
void IsolationHarness::hostile_send(std::uint32_t bytes, const Fill& f) {
  Bytes image = fill(f, bytes);
  if (image.size() % 2 != 0) image.push_back(0);
  hostile_write(reg::kIsr, 1, reg::kIsrPtx | reg::kIsrTxe);
  hostile_write(reg::kCr, 1, kRunningPage0);
  hostile_write(reg::kIsr, 1, reg::kIsrRdc);
  hostile_remote_dma(std::uint16_t{kTxPage} << 8, static_cast<std::uint16_t>(image.size()), true);
  hostile_write_string(kDataPort, 2, image, false);
  hostile_wait_isr(reg::kIsrRdc);
  hostile_transmit(std::uint16_t{kTxPage} << 8, static_cast<std::uint16_t>(bytes),
                   kRunningPage0 | reg::kCrTransmit);
  hostile_wait_isr(reg::kIsrPtx | reg::kIsrTxe);
}

void IsolationHarness::wire_frame(Station destination, std::uint32_t bytes) {
  begin_step(Actor::monitor, "wire frame");
  access_bytes_ = bytes;
  Fill f;
  f.kind = Fill::Kind::frame;
  f.destination = destination;
  f.source = Station::outside;
  f.seed = static_cast<std::uint8_t>(bytes);
  chip_.chip().deliver(fill(f, bytes));
  // The card stored it in the monitor's ring: the reference follows.
  const devices::Ne2000State s = chip_.chip().save();
  const std::size_t ring = (std::size_t{ring_start_} << 8) - reg::kMemoryStart;
  std::copy(s.memory.begin() + static_cast<std::ptrdiff_t>(ring), s.memory.end(),
            expected_memory_.begin() + static_cast<std::ptrdiff_t>(ring));
  monitor_registers_.current_page = s.current_page;
  // A polled card keeps the frame until a guest's ISR read has the monitor
  // drain it; otherwise its interrupt would have the monitor drain now.
  if (!polled_) {
    monitor_->drain_now();
    monitor_registers_.boundary = chip_.chip().save().boundary;
  }
  end_step();
}

// ---- The honest guest ----

void IsolationHarness::honest_steps(unsigned n) {
  for (unsigned i = 0; i < n; ++i) honest_step();
}

void IsolationHarness::honest_until(HonestPhase phase) {
  if (phase == HonestPhase::initialising) return;
  for (unsigned i = 0; i < kMaxHonestRun && driver_.phase() != phase; ++i) honest_step();
}

void IsolationHarness::honest_data(const HonestDriver::Access& a, bool on_card_directly) {
  const auto chunk =
      std::span<const std::uint8_t>(driver_.image()).subspan(a.data_offset, a.data_bytes);
  if (on_card_directly)
    card_.write_string(kDataPort, 2, chunk);
  else
    honest_->window().port_write_string(kDataPort, 2, chunk);
  const std::size_t at = area_start(*honest_) - reg::kMemoryStart + a.data_offset;
  std::copy(chunk.begin(), chunk.end(), expected_memory_.begin() + static_cast<std::ptrdiff_t>(at));
}

void IsolationHarness::honest_finishes_dma_meanwhile() {
  if (actor_ == Actor::honest || honest_->window().writes_hooked(kDataPort)) return;
  card_.honest_meanwhile = true;
  for (const auto& a : driver_.take_pending_data()) {
    honest_data(a, true);
    honest_ran_meanwhile_ = true;
  }
  card_.honest_meanwhile = false;
}

void IsolationHarness::honest_step() {
  const HonestDriver::Access a = driver_.next();
  PassthroughWindow& w = honest_->window();
  begin_step(Actor::honest, "honest");
  access_offset_ = a.offset;
  access_size_ = 1;
  std::uint8_t isr = 0;
  switch (a.kind) {
    case HonestDriver::Access::Kind::out:
      access_value_ = a.value;
      honest_transmit_step_ = a.transmits;
      w.port_write(a.offset, 1, a.value);
      break;
    case HonestDriver::Access::Kind::in:
      access_read_ = true;
      access_value_ = w.port_read(a.offset, 1);
      break;
    case HonestDriver::Access::Kind::read_prom: {
      std::array<std::uint8_t, reg::kPromBytes> prom{};
      w.port_read_string(kDataPort, 2, prom);
      for (unsigned i = 0; i < kMacBytes; ++i)
        if (prom[2 * i] != kHonestMac.bytes[i] || prom[2 * i + 1] != kHonestMac.bytes[i])
          honest_failure_ = "the honest guest's PROM does not hold its MAC (byte " +
                            std::to_string(i) + ": " + hex(prom[2 * i]) + ")";
      break;
    }
    case HonestDriver::Access::Kind::wait_isr:
      access_read_ = true;
      isr = static_cast<std::uint8_t>(w.port_read(reg::kIsr, 1));
      access_value_ = isr;
      break;
    case HonestDriver::Access::Kind::data:
      access_offset_ = kDataPort;
      access_size_ = 2;
      access_bytes_ = a.data_bytes;
      honest_data(a, false);
      break;
  }
  if (a.kind == HonestDriver::Access::Kind::wait_isr) {
    const auto seen = static_cast<std::uint8_t>(isr & a.value);
    if (seen == 0 && ++driver_.polls > kHonestPolls)
      honest_failure_ = "the honest guest read ISR " + std::to_string(driver_.polls) +
                        " times waiting for " + hex(a.value) + " (ISR " + hex(isr) + ")";
    if ((seen & reg::kIsrTxe) != 0) honest_failure_ = "the honest guest's transmit failed (TXE)";
    if ((seen & reg::kIsrPtx) != 0 && honest_frames_on_wire_ != driver_.frame_number() + 1)
      honest_failure_ = "the honest guest saw PTX for frame " +
                        std::to_string(driver_.frame_number()) + " but the wire has " +
                        std::to_string(honest_frames_on_wire_) + " of its frames";
  }
  end_step();
  if (a.kind == HonestDriver::Access::Kind::wait_isr) {
    const auto seen = static_cast<std::uint8_t>(isr & a.value);
    if (seen != 0) {
      HonestDriver::Access ack;
      ack.kind = HonestDriver::Access::Kind::out;
      ack.phase = a.phase;
      ack.offset = reg::kIsr;
      ack.value = a.ack_all ? std::uint8_t{0xff} : seen;
      driver_.replace_front(ack);
      driver_.polls = 0;
    }
    return;
  }
  driver_.pop();
}

// ---- Invariants ----

void IsolationHarness::begin_step(Actor actor, const char* what) {
  ++step_;
  actor_ = actor;
  what_ = what;
  access_offset_ = 0;
  access_size_ = 0;
  access_value_ = 0;
  access_bytes_ = 0;
  access_read_ = false;
  honest_transmit_step_ = false;
  honest_ran_meanwhile_ = false;
  hostile_direct_ = false;
  card_.begin_step();
}

void IsolationHarness::end_step() {
  if (trace_) {
    const PassthroughWindow& w = (actor_ == Actor::honest ? honest_ : hostile_)->window();
    std::fprintf(stderr, "step %llu: %s %s offset %s size %u value %s bytes %u: %s%s%s\n",
                 static_cast<unsigned long long>(step_),
                 actor_ == Actor::honest    ? "honest"
                 : actor_ == Actor::hostile ? "hostile"
                                            : "monitor",
                 what_, hex(access_offset_, 2).c_str(), access_size_, hex(access_value_).c_str(),
                 access_bytes_,
                 actor_ == Actor::monitor             ? "-"
                 : w.last_path() == IoPath::hooked    ? "hooked"
                 : w.last_path() == IoPath::coalesced ? "posted"
                                                      : "direct",
                 hostile_checks_.size() > traced_checks_ ? ", hostile machine check" : "",
                 honest_ran_meanwhile_ ? ", the honest guest finished its DMA meanwhile" : "");
    traced_checks_ = hostile_checks_.size();
    const std::uint64_t drained = monitor_->stats().frames_drained;
    if (drained != traced_drained_)
      std::fprintf(stderr, "  the monitor drained %llu frames from the card\n",
                   static_cast<unsigned long long>(drained - traced_drained_));
    traced_drained_ = drained;
  }
  // A guest's read that covers ISR (a byte at +0x07, or a wider read from
  // below it) may have the monitor of a polled card drain it.
  may_drain_ = polled_ && actor_ != Actor::monitor && access_read_ &&
               access_offset_ <= reg::kIsr && reg::kIsr < access_offset_ + access_size_;
  if (actor_ != Actor::monitor) check_data_port_touches();
  check_card_state();
  check_wire();
  check_honest();
  // The core re-checks every target the model passed against the guest's
  // share; one outside is a model bug, even though the core caught it.
  if (const auto refused = monitor_->stats().targets_refused; refused != 0)
    breach(kShareHeld, std::to_string(refused) +
                           " DMA target(s) the model passed lie outside the guest's share");
  if (honest_transmit_step_ && honest_frames_on_wire_ != driver_.frame_number() + 1)
    breach(kHonestIntact, "the honest guest's transmit of frame " +
                              std::to_string(driver_.frame_number()) + " put no frame on the wire");
}

// Invariant 1. In a guest's step the card's data port moves bytes only in
// that guest's transmit area (the monitor's reads for it included, but for
// the byte a word read drops), apart from the honest guest's own writes
// finishing while another waited. A
// hostile step writes card memory (direct, or through the monitor) only in
// the range the model validated for its running DMA, plus what a card may
// move past the count; only the data port's span goes direct.
void IsolationHarness::check_data_port_touches() {
  const Guest& owner = actor_ == Actor::honest ? *honest_ : *hostile_;
  const bool hostile = actor_ == Actor::hostile;
  const bool direct = hostile && hostile_direct_;
  if (direct) {
    if (access_offset_ < kDataPort || access_offset_ + access_size_ > kDataPort + kDataPortSpan ||
        card_.register_accesses() != 0)
      breach(kDirectRange, "an access at offset " + hex(access_offset_, 2) + " size " +
                               std::to_string(access_size_) +
                               " went direct past the data port's span");
    if (!range_before_)
      breach(kDirectRange, "the data port was direct with no remote DMA validated for the guest");
  }
  for (const DataPortTouch& t : card_.touches()) {
    const Guest& g = t.honest_meanwhile ? *honest_ : owner;
    std::uint32_t low = area_start(g), high = area_end(g);
    // Writes in a data-port step are the guest's DMA: bounded by the range
    // validated for it. Those of a register step are the monitor's own (a
    // frame sent as a copy from the guest's pages past its area, written at
    // the area's start and put back): bounded by the area alone.
    const bool data_port_step = access_offset_ + access_size_ > kDataPort;
    const bool bounded_by_range = hostile && t.write && !t.honest_meanwhile && data_port_step;
    if (bounded_by_range) {
      if (!range_before_)
        breach(kDirectRange, std::string("the card's data port took a ") +
                                 (direct ? "direct" : "hooked") +
                                 " write with no remote DMA validated for the guest");
      low = std::max<std::uint32_t>(low, range_before_->address);
      high = std::min<std::uint32_t>(
          high, std::uint32_t{range_before_->address} + range_before_->bytes + kCardOverreach);
    }
    const unsigned width = t.words ? 2 : 1;
    // The monitor reads card memory in words and drops the byte past an odd
    // range's end: that byte may lie past the area, and goes nowhere.
    if (!t.write && !direct) high += width - 1;
    std::uint32_t moved = 0;
    if (t.count_before != 0) {
      if (t.count_after > t.count_before)
        breach(kDirectRange, "a data-port access raised the card's remote byte count from " +
                                 hex(t.count_before) + " to " + hex(t.count_after));
      moved = t.count_after != 0 ? std::uint32_t{t.count_before} - t.count_after
                                 : (std::uint32_t{t.count_before} + width - 1) / width * width;
    }
    // The card's address runs up from RSAR and wraps from PSTOP to PSTART:
    // at most two runs of bytes, each inside the area (or range) or, for a
    // drain's reads, inside the monitor's receive ring.
    const std::uint32_t start = t.address_before;
    const std::uint32_t stop = std::uint32_t{t.page_stop} << 8;
    const std::uint32_t first = start < stop ? std::min(moved, stop - start) : moved;
    const std::uint32_t wrapped_start = std::uint32_t{t.page_start} << 8;
    const bool ring_read = !t.write && may_drain_;
    const auto allowed = [&](std::uint32_t from, std::uint32_t to) {
      return (from >= low && to <= high) || (ring_read && from >= std::uint32_t{ring_start_} << 8 &&
                                             to <= reg::kMemoryStart + reg::kMemoryBytes);
    };
    std::optional<std::uint32_t> outside;
    if (first > 0 && !allowed(start, start + first)) outside = start;
    if (!outside && moved > first && !allowed(wrapped_start, wrapped_start + moved - first))
      outside = wrapped_start;
    if (outside) {
      std::string where = (t.honest_meanwhile ? "the honest guest's" : "the step's guest's") +
                          std::string(" area ") + hex(area_start(g), 4) + ".." +
                          hex(area_end(g), 4);
      if (bounded_by_range)
        where +=
            ", validated " + hex(range_before_->address, 4) + " + " + hex(range_before_->bytes);
      breach(kDirectRange,
             std::string("a ") + (direct ? "direct " : "") + (t.write ? "write" : "read") +
                 " through the card's data port touched card bytes from " + hex(*outside, 4) +
                 " (" + where + "; card RSAR " + hex(t.address_before, 4) + " RBCR " +
                 hex(t.count_before) + ", " + std::to_string(moved) + " bytes moved)");
    }
  }
}

// Invariant 2: the card's memory outside the hostile guest's transmit area
// holds what the honest guest wrote and the wire brought, its PROM is
// intact, and the registers the monitor owns hold what it programmed.
void IsolationHarness::check_card_state() {
  if (card_.accessed() || actor_ == Actor::monitor) compare_card_state();
}

[[gnu::noinline]] void IsolationHarness::compare_card_state() {
  const devices::Ne2000State s = chip_.chip().save();
  if (card_.memory_written() || actor_ == Actor::monitor) {
    const std::size_t skip_from = area_start(*hostile_) - reg::kMemoryStart;
    const std::size_t skip_to = area_end(*hostile_) - reg::kMemoryStart;
    const auto differs = [&](std::size_t from, std::size_t to) {
      return std::memcmp(s.memory.data() + from, expected_memory_.data() + from, to - from) != 0;
    };
    if (differs(0, skip_from) || differs(skip_to, reg::kMemoryBytes)) {
      std::size_t at = 0;
      while ((at >= skip_from && at < skip_to) || s.memory[at] == expected_memory_[at]) ++at;
      const std::uint32_t address = static_cast<std::uint32_t>(reg::kMemoryStart + at);
      const char* owner = address >= area_start(*honest_) && address < area_end(*honest_)
                              ? "the honest guest's transmit area"
                          : address >= std::uint32_t{ring_start_} << 8
                              ? "the monitor's receive ring"
                              : "an unused transmit area";
      breach(kCardState, "card byte " + hex(address, 4) + " (" + owner + ") is " +
                             hex(s.memory[at], 2) + ", expected " + hex(expected_memory_[at], 2));
    }
  }
  if (s.prom != expected_prom_) breach(kCardState, "the card's PROM changed");
  if (may_drain_) monitor_registers_.boundary = s.boundary;  // the drain moved it
  const devices::Ne2000State& m = monitor_registers_;
  const auto reg_check = [&](const char* name, unsigned got, unsigned want) {
    if (got != want)
      breach(kCardState, std::string("the card's ") + name + " is " + hex(got) +
                             ", the monitor set " + hex(want));
  };
  reg_check("PSTART", s.page_start, m.page_start);
  reg_check("PSTOP", s.page_stop, m.page_stop);
  reg_check("BNRY", s.boundary, m.boundary);
  reg_check("CURR", s.current_page, m.current_page);
  reg_check("RCR", s.receive_config, m.receive_config);
  reg_check("TCR", s.transmit_config, m.transmit_config);
  reg_check("IMR", s.interrupt_mask, m.interrupt_mask);
  reg_check("CR run state", s.command & (reg::kCrStart | reg::kCrStop),
            m.command & (reg::kCrStart | reg::kCrStop));
  if (s.physical_address != m.physical_address) breach(kCardState, "the card's PAR changed");
  if (s.multicast_filter != m.multicast_filter) breach(kCardState, "the card's MAR changed");
}

// Invariants 3 and 4 on what went out since the last step.
void IsolationHarness::check_wire() {
  const auto& sent = wire_.sent();
  for (; wire_checked_ < sent.size(); ++wire_checked_) {
    const WireRecorder::Sent& s = sent[wire_checked_];
    const std::string which = "wire frame " + std::to_string(wire_checked_) + " (" +
                              std::to_string(s.frame.size()) + " bytes from card page " +
                              hex(s.transmit_page, 2) + ")";
    if (s.frame.size() < kHeaderBytes) breach(kWireFrames, which + " has no whole Ethernet header");
    const std::uint32_t start = std::uint32_t{s.transmit_page} << 8;
    const std::uint32_t end = start + static_cast<std::uint32_t>(s.frame.size());
    const auto inside = [&](const Guest& g) {
      return start >= area_start(g) && end <= area_end(g);
    };
    if (has_source(s.frame, kHostileMac)) {
      if (!inside(*hostile_))
        breach(kWireFrames, which + " has the hostile guest's source but left its transmit area");
      continue;
    }
    if (!has_source(s.frame, kHonestMac))
      breach(kWireFrames, which + " has the source " +
                              hw::MacAddress{{s.frame[6], s.frame[7], s.frame[8], s.frame[9],
                                              s.frame[10], s.frame[11]}}
                                  .to_string() +
                              ", neither guest's");
    if (actor_ != Actor::honest || !honest_transmit_step_)
      breach(kHonestIntact, which +
                                " has the honest guest's source but the honest guest did not "
                                "transmit it");
    if (honest_frames_on_wire_ != driver_.frame_number())
      breach(kHonestIntact, which + " is a second frame for the honest guest's frame " +
                                std::to_string(driver_.frame_number()));
    if (!inside(*honest_)) breach(kHonestIntact, which + " left the honest guest's transmit area");
    const Bytes& wanted = driver_.wire_frame();
    if (s.frame != wanted) {
      const auto [got_at, wanted_at] =
          std::mismatch(s.frame.begin(), s.frame.end(), wanted.begin(), wanted.end());
      const auto at = static_cast<std::size_t>(got_at - s.frame.begin());
      breach(kHonestIntact, which + " differs from the honest guest's frame " +
                                std::to_string(driver_.frame_number()) + " (" +
                                std::to_string(wanted.size()) + " bytes) at byte " +
                                std::to_string(at) +
                                (got_at != s.frame.end() && wanted_at != wanted.end()
                                     ? ": " + hex(*got_at, 2) + ", sent " + hex(*wanted_at, 2)
                                     : std::string(": length")));
    }
    ++honest_frames_on_wire_;
  }
}

void IsolationHarness::check_honest() {
  if (!honest_checks_.empty())
    breach(kHonestIntact,
           "the honest guest got a machine check, code " +
               std::to_string(honest_checks_.front()) + " (" +
               std::string(devices::violation_name(
                   static_cast<devices::Violation>(honest_checks_.front()))) +
               ")");
  if (!honest_failure_.empty()) breach(kHonestIntact, honest_failure_);
}

std::string IsolationHarness::state() {
  const devices::Ne2000State s = chip_.chip().save();
  std::ostringstream out;
  out << "  card: CR " << hex(s.command, 2) << " DCR " << hex(s.data_config, 2) << " RSAR "
      << hex(s.remote_address, 4) << " RBCR " << hex(s.remote_count) << " TPSR "
      << hex(s.transmit_page, 2) << " TBCR " << hex(s.transmit_count) << " PSTART "
      << hex(s.page_start, 2) << " PSTOP " << hex(s.page_stop, 2) << " CURR "
      << hex(s.current_page, 2) << " BNRY " << hex(s.boundary, 2) << " ISR "
      << hex(s.interrupt_status, 2) << "\n";
  out << "  transmit areas: hostile " << hex(area_start(*hostile_), 4) << ".."
      << hex(area_end(*hostile_), 4) << ", honest " << hex(area_start(*honest_), 4) << ".."
      << hex(area_end(*honest_), 4) << ", receive ring from " << hex(unsigned{ring_start_} << 8, 4)
      << "\n";
  out << "  data port writes: hostile "
      << (hostile_->window().writes_hooked(kDataPort) ? "hooked" : "direct") << ", honest "
      << (honest_->window().writes_hooked(kDataPort) ? "hooked" : "direct");
  if (range_before_)
    out << "; hostile's validated DMA before the step " << hex(range_before_->address, 4) << " + "
        << hex(range_before_->bytes);
  out << "\n  honest guest: " << phase_name(driver_.phase()) << ", frame " << driver_.frame_number()
      << ", " << driver_.frames_completed() << " completed, " << honest_frames_on_wire_
      << " on the wire, " << honest_checks_.size() << " machine checks\n";
  out << "  hostile guest: machine checks";
  if (hostile_checks_.empty()) out << " none";
  for (const std::uint64_t code : hostile_checks_) out << " " << code;
  out << "; wire frames " << wire_.sent().size() << "\n";
  return out.str();
}

void IsolationHarness::breach(const char* invariant, const std::string& detail) {
  std::ostringstream out;
  out << "\nvpio fuzz: ISOLATION INVARIANT BROKEN: " << invariant << "\n  at step " << step_ << ": "
      << (actor_ == Actor::honest    ? "honest"
          : actor_ == Actor::hostile ? "hostile"
                                     : "monitor")
      << " " << what_ << " offset " << hex(access_offset_, 2) << " size " << access_size_
      << " value " << hex(access_value_) << " bytes " << access_bytes_ << "\n  " << detail << "\n"
      << state() << "  (replay with VPIO_FUZZ_TRACE=1 to see every step)\n";
  on_breach(out.str());
  std::abort();  // on_breach must not return
}

}  // namespace vpio::fuzz

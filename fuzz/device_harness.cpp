// The device-generic isolation harness.
#include "fuzz/device_harness.hpp"

#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>
#include <vector>

#include "devices/registry.hpp"
#include "tests/conformance/frames.hpp"
#include "tests/conformance/guest_driver.hpp"

namespace vpio::fuzzing {
namespace {

using conformance::Bytes;
using conformance::destination_of;
using conformance::make_frame;
using conformance::source_of;

const hw::MacAddress kHostile{{0x52, 0x54, 0x00, 0xf0, 0x00, 0x0a}};
const hw::MacAddress kHonest{{0x52, 0x54, 0x00, 0xf0, 0x00, 0x0b}};
const hw::MacAddress kStation{{0x52, 0x54, 0x00, 0xf0, 0x00, 0x0c}};
const hw::MacAddress kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
constexpr unsigned kMaxOps = 512;
// Services that the honest guest's last frames may take to come through.
constexpr unsigned kSettleRounds = 64;
// Each guest's RAM: room for a bus master's rings and slots.
constexpr std::size_t kGuestRamBytes = 128 << 10;

// Guest RAM for a run, zeroed: kept from run to run (one run at a time on a
// thread), because a fresh 128 KiB per guest and input cost the harness
// about a third of its time in page faults and unmaps.
std::vector<std::uint8_t>& zeroed_ram(unsigned guest) {
  thread_local std::array<std::vector<std::uint8_t>, 2> kept;
  std::vector<std::uint8_t>& ram = kept.at(guest);
  ram.assign(kGuestRamBytes, 0);
  return ram;
}

dmm::GuestMemory ram_view(std::vector<std::uint8_t>& ram) {
  return dmm::GuestMemory({dmm::RamRange{0, ram.size(), ram.data(), 0}});
}

class Wire final : public hw::FrameSink {
 public:
  void deliver(std::span<const std::uint8_t> frame) override {
    frames.emplace_back(frame.begin(), frame.end());
  }
  std::vector<Bytes> frames;
};

// The input, read a byte at a time; 0 past its end.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> input) : input_(input) {}
  bool done() const { return at_ >= input_.size(); }
  std::uint8_t byte() { return at_ < input_.size() ? input_[at_++] : 0; }
  std::uint32_t word() {
    std::uint32_t v = 0;
    for (unsigned i = 0; i < 4; ++i) v |= std::uint32_t{byte()} << (8 * i);
    return v;
  }

 private:
  std::span<const std::uint8_t> input_;
  std::size_t at_ = 0;
};

class Run {
 public:
  explicit Run(const devices::NicKind& kind, const conformance::ConformanceDevice& device)
      : device_(device), card_(kind.make_stand_in(kStation)) {
    card_->network_chip().set_transmit_sink(&wire_);
    devices::NicMonitorOptions options;
    options.sharers = 2;
    options.stall_limit = std::chrono::milliseconds(0);
    options.service_thread = false;
    monitor_ = kind.make_monitor(*card_, options);
    dmm::GuestCallbacks hostile_calls;
    hostile_calls.ram = ram_view(hostile_ram_);
    hostile_ = &monitor_->add_guest("hostile", kHostile, hostile_calls);
    dmm::GuestCallbacks honest_calls;
    honest_calls.ram = ram_view(honest_ram_);
    honest_calls.violation = [this](const dmm::ViolationReport& r) {
      if (broken_.empty())
        broken_ = "1: the honest guest got a machine check (code " + std::to_string(r.code) + ")";
    };
    honest_ = &monitor_->add_guest("honest", kHonest, honest_calls);
    driver_ = device.driver(honest_->window(), honest_ram_);
    if (!driver_->open()) broken_ = "the honest guest's driver could not open its card";
  }
  ~Run() { monitor_->stop(); }

  std::string run(std::span<const std::uint8_t> input) {
    Reader in(input);
    for (unsigned op = 0; op < kMaxOps && !in.done() && broken_.empty(); ++op) step(in);
    if (broken_.empty()) finish();
    return broken_;
  }

 private:
  void step(Reader& in) {
    const std::uint8_t what = in.byte();
    PassthroughWindow& w = hostile_->window();
    const auto offset = static_cast<std::uint16_t>(in.byte() % w.ports());
    const unsigned size = 1u << ((what >> 4) % 3);
    switch (what & 0x7) {
      case 0: (void)w.port_read(offset, size); break;
      case 1:
      case 2: w.port_write(offset, size, in.word()); break;
      case 3: {
        Bytes data((in.byte() % 32 + 1) * size);
        for (auto& b : data) b = in.byte();
        if ((what & 0x8) != 0)
          w.port_write_string(offset, size, data);
        else
          w.port_read_string(offset, size, data);
        break;
      }
      case 4: honest_send(offset, what >> 3); break;
      case 5: wire_sends(offset, what >> 3); break;
      case 6: honest_service(); break;
      default: monitor_->service_now(); break;
    }
  }

  // The honest guest sends to the wire, to the hostile guest or to all.
  void honest_send(unsigned size_code, unsigned to) {
    const hw::MacAddress& destination = to % 3 == 0   ? kStation
                                        : to % 3 == 1 ? kHostile
                                                      : kBroadcast;
    if (destination == kHostile || destination == kBroadcast) ++for_hostile_;
    const Bytes frame =
        make_frame(destination, kHonest, carried_size(device_, 60 + size_code * 57 % 1455),
                   static_cast<unsigned>(sent_.size()));
    for (unsigned round = 0; !driver_->send(frame); ++round) {
      if (round == kSettleRounds) {
        broken_ = "3: the honest guest's driver stayed busy";
        return;
      }
      honest_service();
    }
    sent_.push_back(frame);
    honest_service();
  }

  // The wire sends a frame to the honest guest, the hostile one or both.
  void wire_sends(unsigned size_code, unsigned to) {
    const hw::MacAddress& destination = to % 3 == 0 ? kHonest : to % 3 == 1 ? kHostile : kBroadcast;
    const Bytes frame =
        make_frame(destination, kStation, carried_size(device_, 60 + size_code * 57 % 1455),
                   static_cast<unsigned>(to_honest_.size()));
    if (destination != kHostile) to_honest_.push_back(frame);
    if (destination != kHonest) ++for_hostile_;
    card_->network_chip().deliver(frame);
    monitor_->service_now();
    honest_service();
  }

  void honest_service() {
    driver_->service();
    for (Bytes& f : driver_->take_received()) received_.push_back(std::move(f));
  }

  void finish() {
    honest_send(0, 0);
    for (unsigned round = 0; round < kSettleRounds; ++round) {
      monitor_->service_now();
      honest_service();
    }
    if (!broken_.empty()) return;
    std::vector<Bytes> honest_on_wire;
    for (const Bytes& f : wire_.frames) {
      if (f.size() < 14)
        return breach("2: a frame of " + std::to_string(f.size()) + " bytes on the wire");
      const hw::MacAddress source = source_of(f);
      if (source == kHonest)
        honest_on_wire.push_back(f);
      else if (source != kHostile)
        return breach("2: a frame on the wire from " + source.to_string());
    }
    if (honest_on_wire != sent_)
      return breach("3: the honest guest sent " + std::to_string(sent_.size()) +
                    " frames; the wire got " + std::to_string(honest_on_wire.size()) +
                    " under its MAC, not all of them intact");
    std::vector<Bytes> from_station;
    for (const Bytes& f : received_) {
      const hw::MacAddress destination = destination_of(f);
      if (destination != kHonest && !destination.is_group())
        return breach("4: the honest guest received a frame for " + destination.to_string());
      if (source_of(f) == kStation) from_station.push_back(f);
    }
    if (from_station != to_honest_)
      return breach("3: the wire sent the honest guest " + std::to_string(to_honest_.size()) +
                    " frames; it received " + std::to_string(from_station.size()) +
                    ", not all of them intact");
    const dmm::Report hostile = hostile_->report();
    const std::uint64_t heard = hostile.count("frames_received") +
                                hostile.count("frames_filtered") + hostile.count("frames_missed") +
                                hostile.count("queue_drops") + hostile.count("frames_queued");
    if (heard > for_hostile_)
      return breach("4: the hostile guest heard " + std::to_string(heard) + " frames; " +
                    std::to_string(for_hostile_) + " were for it");
    if (const auto refused = monitor_->report().count("targets_refused"); refused != 0)
      return breach("5: the core refused " + std::to_string(refused) + " targets the model passed");
    if (!driver_->complaints().empty())
      return breach("1: the honest guest's driver complained: " + driver_->complaints().front());
  }

  void breach(std::string what) {
    if (broken_.empty()) broken_ = std::move(what);
  }

  const conformance::ConformanceDevice device_;
  // Each guest's RAM (a bus master's buffers), outliving the monitor.
  std::vector<std::uint8_t>& hostile_ram_ = zeroed_ram(0);
  std::vector<std::uint8_t>& honest_ram_ = zeroed_ram(1);
  Wire wire_;
  std::unique_ptr<hw::StandInDevice> card_;
  std::unique_ptr<dmm::nic::NicMonitor> monitor_;
  dmm::SharedGuest* hostile_ = nullptr;
  dmm::SharedGuest* honest_ = nullptr;
  std::unique_ptr<conformance::GuestDriver> driver_;
  std::vector<Bytes> sent_;        // by the honest guest
  std::vector<Bytes> to_honest_;   // by the wire, for the honest guest
  std::vector<Bytes> received_;    // by the honest guest
  std::uint64_t for_hostile_ = 0;  // frames addressed to the hostile guest (or all)
  std::string broken_;
};

}  // namespace

std::string run_device_input(std::string_view device, std::span<const std::uint8_t> input) {
  const devices::NicKind* kind = devices::find_nic_kind(device);
  if (kind == nullptr)
    throw std::invalid_argument("no device '" + std::string(device) + "' in the table");
  for (const conformance::ConformanceDevice& d : conformance::conformance_devices())
    if (d.kind == device) {
      Run run(*kind, d);
      return run.run(input);
    }
  throw std::invalid_argument("device '" + std::string(device) + "' has no conformance driver");
}

}  // namespace vpio::fuzzing

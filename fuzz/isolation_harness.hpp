// The isolation harness: a hostile guest's access stream (fuzz/access_stream)
// against the real model, monitor and chip, beside an honest guest that
// sends frames through the same card, with the isolation invariants checked
// after every single port access (docs/fuzzing.md). Both guests go through
// their PassthroughWindow as a vCPU thread does, so the direct/hooked split
// and the gate are the real ones. Knows nothing of libFuzzer or KVM.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "devices/ne2000/ne2000_model.hpp"
#include "devices/ne2000/ne2000_monitor.hpp"
#include "fuzz/access_stream.hpp"
#include "devices/ne2000/chip_device.hpp"
#include "devices/ne2000/ne2000.hpp"

namespace vpio::fuzz {

using Bytes = std::vector<std::uint8_t>;

inline constexpr hw::MacAddress kCardMac{{0x52, 0x54, 0x00, 0x00, 0x00, 0xc0}};
inline constexpr hw::MacAddress kHostileMac{{0x52, 0x54, 0x00, 0x00, 0x00, 0x0a}};
inline constexpr hw::MacAddress kHonestMac{{0x52, 0x54, 0x00, 0x00, 0x00, 0x0b}};
inline constexpr hw::MacAddress kOutsideMac{{0x52, 0x54, 0x00, 0x00, 0x00, 0x5e}};

// Who runs the access under way: the monitor's own work (a drain) and the
// hostile guest may have to wait for the honest guest's remote DMA.
enum class Actor : std::uint8_t { honest, hostile, monitor };

// One data-port access as the card saw it: its remote DMA registers before
// and after, and how it wraps.
struct DataPortTouch {
  bool write = false;
  bool honest_meanwhile = false;  // the honest guest's writes while another waited
  std::uint16_t address_before = 0, count_before = 0;
  std::uint16_t address_after = 0, count_after = 0;
  std::uint8_t page_start = 0, page_stop = 0;
  bool words = false;  // DCR.WTS on the card
};

// The card as the monitor and the windows reach it: vpio's chip, with every
// access noted for the invariants. Its interrupt is never delivered (the
// harness drains the card itself), so the monitor's receive thread never
// runs during an input and each input runs the same way every time.
class RecordingCard final : public hw::PhysicalDevice {
 public:
  explicit RecordingCard(devices::ChipDevice& card) : card_(card) {}

  // Called before each card ISR read, with the monitor's lock held: a
  // waiter polling for another guest's remote DMA to end.
  std::function<void()> before_isr_read;

  void begin_step() noexcept;
  bool accessed() const noexcept { return accessed_; }
  bool memory_written() const noexcept { return memory_written_; }
  const std::vector<DataPortTouch>& touches() const noexcept { return touches_; }
  // Card accesses in this step that cover a port outside the data port's
  // span (+0x10..+0x13): registers, the reset port.
  unsigned register_accesses() const noexcept { return register_accesses_; }
  // Accesses made while set are the honest guest's (see DataPortTouch).
  bool honest_meanwhile = false;

  std::string describe() const override { return card_.describe(); }
  std::uint32_t read(std::uint16_t offset, unsigned size) override;
  void write(std::uint16_t offset, unsigned size, std::uint32_t value) override;
  void read_string(std::uint16_t offset, unsigned size, std::span<std::uint8_t> data) override;
  void write_string(std::uint16_t offset, unsigned size,
                    std::span<const std::uint8_t> data) override;
  void set_interrupt_handler(std::function<void()>) override {}

 private:
  template <typename Access>
  void noted(std::uint16_t offset, unsigned size, bool write, Access&& access);
  DataPortTouch before_touch(bool write) const;
  void after_touch(DataPortTouch t);

  devices::ChipDevice& card_;
  bool accessed_ = false;
  bool memory_written_ = false;
  unsigned register_accesses_ = 0;
  std::vector<DataPortTouch> touches_;
};

// Frames the card put on the wire, with the pages it sent each from.
class WireRecorder final : public hw::FrameSink {
 public:
  struct Sent {
    Bytes frame;
    std::uint8_t transmit_page = 0;
  };
  explicit WireRecorder(devices::Ne2000& chip) : chip_(chip) {}
  void deliver(std::span<const std::uint8_t> frame) override;
  const std::vector<Sent>& sent() const noexcept { return sent_; }

 private:
  devices::Ne2000& chip_;
  std::vector<Sent> sent_;
};

// A stock NE2000 driver (guests/ne2000/) as a script of single port
// accesses: probe, init, then frame after frame, each a remote write into
// its transmit area in a few rep outsw chunks, RDC, transmit, PTX.
class HonestDriver {
 public:
  struct Access {
    enum class Kind : std::uint8_t { out, in, read_prom, wait_isr, data };
    Kind kind = Kind::out;
    HonestPhase phase = HonestPhase::initialising;  // where the driver is before it
    std::uint16_t offset = 0;
    std::uint8_t value = 0;  // out: the value; wait_isr: the bits waited for
    bool ack_all = false;    // wait_isr: acknowledge with 0xff, not what was seen
    bool transmits = false;  // the CR write that sends the frame
    std::uint16_t data_offset = 0, data_bytes = 0;  // data: the chunk of the image
  };

  // probe: a reset and the PROM read before init, as at boot.
  explicit HonestDriver(bool probe) { script_init(probe); }
  const Access& next() const noexcept { return script_.front(); }
  void pop();  // the front access ran; the script goes on (frame after frame)
  void replace_front(const Access& a) { script_.front() = a; }
  HonestPhase phase() const noexcept { return script_.front().phase; }
  unsigned frame_number() const noexcept { return frame_number_; }
  unsigned frames_completed() const noexcept { return frames_completed_; }
  const Bytes& image() const noexcept { return image_; }      // the frame being sent, as DMA'd
  const Bytes& wire_frame() const noexcept { return wire_; }  // what the wire must carry for it
  // The data chunks not yet written, from the front of the script (empty
  // unless the remote write into the transmit area is under way).
  std::vector<Access> take_pending_data();
  unsigned polls = 0;  // ISR reads of the wait under way

 private:
  void script_init(bool probe);
  void script_probe();
  void script_frame();
  void add(Access a) { script_.push_back(a); }
  void out(HonestPhase p, std::uint16_t offset, std::uint8_t value);
  void in(HonestPhase p, std::uint16_t offset);

  std::deque<Access> script_;
  unsigned frame_number_ = 0;      // the frame being (or next to be) sent
  unsigned frames_completed_ = 0;  // PTX seen
  Bytes image_;
  Bytes wire_;
};

class IsolationHarness {
 public:
  explicit IsolationHarness(CardLayout layout);
  ~IsolationHarness();
  IsolationHarness(const IsolationHarness&) = delete;
  IsolationHarness& operator=(const IsolationHarness&) = delete;

  // The honest steps the op asks for, then the op; invariants after each access.
  void run(const Op& op);
  // The honest guest ends the frame under way and sends one more, so every
  // input ends with a whole frame sent after whatever the hostile guest did.
  void finish();

  std::uint64_t steps() const noexcept { return step_; }
  // An invariant broke: the message names it, the step and the state. The
  // default prints it and aborts (libFuzzer keeps the input).
  std::function<void(const std::string&)> on_breach;

 private:
  // The hostile guest's accesses, each one step.
  void hostile_write(std::uint16_t offset, unsigned size, std::uint32_t value);
  std::uint32_t hostile_read(std::uint16_t offset, unsigned size);
  void hostile_write_string(std::uint16_t offset, unsigned size, std::span<const std::uint8_t> d,
                            bool posted);
  void hostile_read_string(std::uint16_t offset, unsigned size, std::uint32_t bytes);
  void hostile_op(const Op& op);
  void hostile_init(std::uint32_t options);
  void hostile_remote_dma(std::uint16_t address, std::uint16_t count, bool write);
  void hostile_transmit(std::uint16_t tpsr_address, std::uint16_t tbcr, std::uint8_t cr);
  void hostile_send(std::uint32_t bytes, const Fill& fill);
  std::uint8_t hostile_wait_isr(std::uint8_t bits);
  template <typename Access>
  void hostile_step(const char* what, std::uint16_t offset, unsigned size, std::uint32_t bytes,
                    Access&& access);

  // The honest guest's next access, one step.
  void honest_step();
  void honest_steps(unsigned n);
  void honest_until(HonestPhase phase);
  void honest_data(const HonestDriver::Access& a, bool on_card_directly);
  // A waiter polls the card while the honest guest's remote write runs:
  // the honest guest's vCPU writes the rest of its frame meanwhile.
  void honest_finishes_dma_meanwhile();

  void wire_frame(Station destination, std::uint32_t bytes);

  // Invariants.
  void begin_step(Actor actor, const char* what);
  void end_step();
  void check_data_port_touches();
  void check_card_state();
  void compare_card_state();
  void check_wire();
  void check_honest();
  [[noreturn]] void breach(const char* invariant, const std::string& detail);
  std::string state();

  Bytes fill(const Fill& f, std::uint32_t bytes) const;
  const hw::MacAddress& mac_of(Station s) const noexcept;
  std::uint32_t area_start(const devices::Ne2000Monitor::Guest& g) const noexcept;
  std::uint32_t area_end(const devices::Ne2000Monitor::Guest& g) const noexcept;

  devices::ChipDevice chip_;
  RecordingCard card_;
  WireRecorder wire_;
  std::unique_ptr<devices::Ne2000Monitor> monitor_;
  devices::Ne2000Monitor::Guest* hostile_ = nullptr;
  devices::Ne2000Monitor::Guest* honest_ = nullptr;
  std::vector<std::uint64_t> hostile_checks_;  // the violation codes the monitor reported
  std::vector<std::uint64_t> honest_checks_;
  HonestDriver driver_;  // after the members its construction needs

  // Reference state of the card: what only the monitor and the honest guest
  // may change.
  std::vector<std::uint8_t> expected_memory_;
  std::array<std::uint8_t, devices::ne2000::kPromBytes> expected_prom_{};
  devices::Ne2000State monitor_registers_;  // the registers the monitor programmed
  std::uint8_t ring_start_ = 0;        // the monitor's receive ring, from this page
  bool polled_ = false;                // the card's interrupt is not delivered: polled

  // The step under way.
  std::uint64_t step_ = 0;
  Actor actor_ = Actor::honest;
  const char* what_ = "";
  std::uint16_t access_offset_ = 0;
  unsigned access_size_ = 0;
  std::uint32_t access_value_ = 0;  // written, or read
  std::uint32_t access_bytes_ = 0;
  bool access_read_ = false;
  bool may_drain_ = false;  // the step may have had the monitor drain a polled card
  std::optional<devices::CardRange> range_before_;  // the hostile's validated DMA
  bool hostile_direct_ = false;  // the hostile access went direct (or was posted)
  bool honest_transmit_step_ = false;
  bool honest_ran_meanwhile_ = false;
  std::size_t wire_checked_ = 0;
  unsigned honest_frames_on_wire_ = 0;
  std::string honest_failure_;
  bool trace_ = false;  // VPIO_FUZZ_TRACE: every step on stderr
  std::size_t traced_checks_ = 0;
  std::uint64_t traced_drained_ = 0;
};

}  // namespace vpio::fuzz

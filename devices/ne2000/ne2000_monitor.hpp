// The NE2000's side of the Device Modeling Monitor (docs/vpio.md): one
// physical NE2000 shared by several guests, on the device-generic core
// (dmm/shared_device.hpp: the gate, the guests' windows, ownership of the
// card for a checked DMA, context-switch counting, violations, the service
// thread) and the shared NIC machinery (dmm/nic/: queues, demultiplexing,
// loopback). Each guest sees a whole card through a PassthroughWindow; its
// accesses are hooked except writes to the data port while its own remote
// write runs on the card. This part:
//  - keeps each guest's card in a shadow (a Ne2000 of its own: registers,
//    PROM with the guest's MAC, virtual receive ring, ISR/IMR and IRQ line);
//  - runs what must touch the card on the card: remote DMA in the guest's
//    transmit area (translated by the model) and transmits, one guest at a
//    time, switching the card's guest context (CardContext) only
//    when the model says the card is reusable;
//  - refuses what the model finds illegitimate, and reports it for that
//    guest only (the VMM makes it a machine check);
//  - owns the card's receive ring (promiscuous), drains it, and hands each
//    frame to the demultiplexer; the shadows' rings are its receivers.
// Knows nothing of KVM: guests are reached through the callbacks they give.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "devices/ne2000/ne2000_model.hpp"
#include "dmm/nic/frame_demux.hpp"
#include "dmm/nic/nic_monitor.hpp"
#include "dmm/shared_device.hpp"
#include "devices/ne2000/ne2000.hpp"
#include "hw/physical_device.hpp"

namespace vpio::devices {

// The card's 64 pages of memory: each guest's transmit area, then the
// monitor's receive ring of at least kMinRingPages.
inline constexpr unsigned kCardMemoryPages = 64;
inline constexpr unsigned kMinRingPages = 12;      // two maximal frames
inline constexpr unsigned kMinTxPages = 6;         // one maximal frame
inline constexpr unsigned kTwoBufferTxPages = 12;  // lib8390's and FreeBSD ed's ping-pong

// The transmit area a card gives each of `guests` by default: two buffers
// where that leaves the ring its pages (up to 4 guests), else one.
unsigned default_tx_pages(unsigned guests) noexcept;

struct MonitorConfig {
  std::size_t queue_frames = 64;              // per-guest receive queue bound
  std::uint8_t tx_pages = kTwoBufferTxPages;  // transmit area per guest, in 256-byte pages
  unsigned max_guests = 4;                    // transmit areas reserved below the receive ring
  // What every shared device has (dmm::SharingConfig): for the NE2000, the
  // checked operation is a guest's remote DMA (aborted past the stall
  // limit, with a machine check), servicing the card is draining its
  // receive ring, and a card whose interrupt does not reach userspace (a
  // real ISA card, its ISR polled) is also looked at when a guest reads its
  // own ISR, so that frames do not wait for the next poll. With no service
  // thread, the ring is drained only by drain_now() (fuzz/).
  dmm::SharingConfig sharing;
};

using dmm::GuestCallbacks;

struct GuestStats {
  std::uint64_t context_switches = 0;  // the card's context switched to this guest
  std::uint64_t violations = 0;
  std::uint64_t frames_sent = 0;      // transmitted on the card
  std::uint64_t frames_received = 0;  // stored in the guest's ring
  std::uint64_t frames_filtered = 0;  // handed over but refused by the guest's filter
  // Arrived while the guest's card could not receive (stopped, looped back,
  // no ring): missed, as a card of its own would have missed them.
  std::uint64_t frames_missed = 0;
  std::uint64_t queue_drops = 0;    // dropped because the guest's queue was full
  std::uint64_t frames_queued = 0;  // waiting now
};

struct MonitorStats {
  std::uint64_t frames_drained = 0;    // read from the card's ring
  std::uint64_t frames_unclaimed = 0;  // for no guest on this card
  std::uint64_t frames_looped = 0;     // sent by one guest to others on this card
  std::uint64_t ring_resyncs = 0;      // card ring headers that made no sense
  std::uint64_t context_switches = 0;
  std::uint64_t switch_nanoseconds = 0;  // spent in context switches
  std::uint64_t drains = 0;
  std::uint64_t wait_checks = 0;  // looks at the card when a guest waited (polled cards)
  // DMA targets the core checked against the guests' shares, and of them
  // outside (the model's bug caught: 0 unless the model is wrong).
  std::uint64_t targets_checked = 0;
  std::uint64_t targets_refused = 0;
};

class Ne2000Monitor final : public dmm::nic::NicMonitor, private dmm::DeviceDriver {
 public:
  class Guest;

  // Takes the card over: resets and programs it (promiscuous receive into the
  // ring above the guests' transmit areas) and starts the receive thread.
  Ne2000Monitor(hw::PhysicalDevice& card, MonitorConfig config = {});
  Ne2000Monitor(const Ne2000Monitor&) = delete;
  Ne2000Monitor& operator=(const Ne2000Monitor&) = delete;
  ~Ne2000Monitor() override;

  std::string describe_card() const;
  const MonitorConfig& config() const noexcept { return config_; }
  // Stops the receive thread and every callback into guests. Idempotent.
  void stop() override;

  MonitorStats stats() const;
  // dmm::Monitor: the card's description and stats() by name.
  std::string describe_device() const override { return describe_card(); }
  dmm::Report report() const override;
  const std::vector<std::unique_ptr<Guest>>& guests() const noexcept { return guests_; }
  // Drains the card's ring now (tests; the thread does it otherwise).
  void drain_now();
  void service_now() override { drain_now(); }

  class Guest final : public dmm::SharedGuest, public dmm::nic::FrameReceiver {
   public:
    const hw::MacAddress& mac() const noexcept override { return mac_; }
    GuestStats stats() const;
    // stats() by name, and the guest's MAC.
    dmm::Report report() const override;
    GuestLayout layout() const noexcept { return model_.layout(); }
    // The card range the model validated for the guest's remote write that
    // runs on the card now (its data port's writes are direct), if any.
    std::optional<CardRange> card_dma_range() const;

    std::uint32_t hooked_read(std::uint16_t offset, unsigned size) noexcept override;
    void hooked_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept override;
    void hooked_read_string(std::uint16_t offset, unsigned size,
                            std::span<std::uint8_t> data) noexcept override;
    void hooked_write_string(std::uint16_t offset, unsigned size,
                             std::span<const std::uint8_t> data) noexcept override;

    // Its own card (the shadow) receiving what the monitor hands it.
    bool receiving() const override { return shadow_.receiving(); }
    bool can_store(std::size_t frame_bytes) const override {
      return shadow_.can_store(frame_bytes);
    }
    bool store(std::span<const std::uint8_t> frame) override;

   private:
    friend class Ne2000Monitor;
    Guest(Ne2000Monitor& monitor, std::string name, hw::MacAddress mac,
          GuestLayout layout, GuestCallbacks callbacks);

    Ne2000Monitor& monitor_;
    hw::MacAddress mac_;
    Ne2000Model model_;
    Ne2000 shadow_;
    std::size_t demux_index_ = 0;
    std::uint64_t frames_sent_ = 0;
    CardContext loaded_context_;          // as last written to the card
    std::optional<CardRange> dma_range_;  // while it owns the card's DMA
  };

  // A new guest with a card of this MAC. Throws std::invalid_argument when
  // the card has no room for another transmit area or the MAC is taken.
  // (After Guest: a covariant return type must be complete.)
  Guest& add_guest(std::string name, hw::MacAddress mac, GuestCallbacks callbacks) override;

 private:
  using Lock = dmm::SharedDevice::Lock;
  using Clock = dmm::SharedDevice::Clock;

  // The core's questions (dmm::DeviceDriver).
  bool operation_ended(dmm::SharedGuest& owner) override;
  dmm::ViolationReport stop_stalled_operation(dmm::SharedGuest& owner) override;
  void service() override;
  bool has_events() override;

  Guest* dma_owner() const noexcept { return static_cast<Guest*>(core_.operation_owner()); }

  bool write_byte_locked(Lock& lock, Guest& g, std::uint16_t offset, std::uint8_t value);
  void reset_locked(Guest& g);
  void copy_from_card_locked(Guest& g, const Decision& d);
  void card_dma_write_locked(Guest& g, std::span<const std::uint8_t> bytes);
  void violation_locked(Guest& g, Verdict verdict, std::uint16_t offset);
  bool acquire_card_locked(Lock& lock, Guest& g);
  void load_context_locked(Guest& g);
  void start_card_dma_locked(Guest& g, const Decision& d);
  void abort_card_dma_locked(Guest& g);
  void release_card_dma_locked();
  void sync_hooks_locked(Guest& g);
  bool transmit_locked(Guest& g, const Decision& d);
  bool transmit_copy_locked(Guest& g, const Decision& d);

  void card_write(std::uint16_t offset, std::uint8_t value);
  std::uint8_t card_read(std::uint16_t offset);
  void card_read_memory(std::uint16_t address, std::span<std::uint8_t> out);
  void card_write_memory(std::uint16_t address, std::span<const std::uint8_t> bytes);
  void program_card_dma(std::uint16_t address, std::uint16_t bytes, std::uint8_t command);
  std::uint8_t wait_card_isr(std::uint8_t bits);
  void program_card_locked();
  void drain_locked();
  void demux_locked(std::span<const std::uint8_t> frame, const Guest* from);

  hw::PhysicalDevice& card_;
  MonitorConfig config_;
  dmm::SharedDevice core_;      // the gate, ownership of the card, the service thread
  dmm::nic::FrameDemux demux_;  // per-guest receive queues, loopback between guests
  std::vector<std::unique_ptr<Guest>> guests_;
  Guest* loaded_ = nullptr;  // whose context the card holds (nullptr: the monitor's)
  std::uint8_t ring_start_ = 0;
  std::uint8_t next_page_ = 0;  // the next frame to read from the card's ring
  MonitorStats stats_;          // the card's own counts; the core keeps the rest
};

}  // namespace vpio::devices

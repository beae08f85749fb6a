// The RTL8139's side of the Device Modeling Monitor: one physical RTL8139
// shared by several guests, on the device-generic core (dmm/shared_device.hpp)
// and the shared NIC machinery (dmm/nic/), through the base of monitors
// whose guests' cards are shadows (dmm/nic/shadow_nic_monitor.hpp). The
// card is a bus master:
//  - its DMA reaches an I/O virtual address space the monitor lays out
//    (dmm::IovaSpace): each guest's RAM at a window of its own below 4 GiB,
//    and the monitor's receive ring; nothing else, so even a wrong
//    translation cannot make the card touch what is not mapped;
//  - each guest's card is a shadow (an Rtl8139 of its own, with the guest's
//    MAC), whose DMA reaches only that guest's RAM at guest-physical
//    addresses: every register write lands there once the model passed it;
//  - a frame the shadow sends (read from the guest's slot) is sent by the
//    card, programmed with the slot's DMA address in the guest's window,
//    after the core has checked the target against the guest's share;
//  - the card's receive ring is the monitor's (promiscuous): it drains it
//    and hands each frame to the demultiplexer, whose receivers are the
//    shadows, which write it into their guest's ring.
// The card holds no guest's state between transmits: the guest context is
// empty, and a switch between guests is only counted.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "devices/rtl8139/rtl8139.hpp"
#include "devices/rtl8139/rtl8139_model.hpp"
#include "dmm/iova_space.hpp"
#include "dmm/nic/shadow_nic_monitor.hpp"
#include "hw/page_buffer.hpp"
#include "hw/physical_device.hpp"

namespace vpio::devices {

using Rtl8139MonitorConfig = dmm::nic::ShadowNicConfig;

class Rtl8139Monitor final : public dmm::nic::ShadowNicMonitor {
 public:
  class Guest;

  // Takes the card over: gives its DMA the monitor's address space, resets
  // it, points its ring at the monitor's, makes it promiscuous, starts the
  // core.
  Rtl8139Monitor(hw::PhysicalDevice& card, Rtl8139MonitorConfig config = {});
  ~Rtl8139Monitor() override;

  // DMAs the card tried outside what the monitor mapped (the IOMMU's log).
  std::uint64_t iommu_faults() const { return iova_.faults(); }

  class Guest final : public dmm::SharedGuest,
                      public dmm::nic::FrameReceiver,
                      private HookedMmioHandler {
   public:
    const hw::MacAddress& mac() const noexcept override { return mac_; }
    dmm::Report report() const override;

    std::uint32_t hooked_read(std::uint16_t offset, unsigned size) noexcept override;
    void hooked_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept override;
    void hooked_read_string(std::uint16_t offset, unsigned size,
                            std::span<std::uint8_t> data) noexcept override;
    void hooked_write_string(std::uint16_t offset, unsigned size,
                             std::span<const std::uint8_t> data) noexcept override;
    // The MMIO window is the same registers.
    std::uint64_t hooked_mmio_read(std::uint32_t offset, unsigned size) noexcept override;
    void hooked_mmio_write(std::uint32_t offset, unsigned size,
                           std::uint64_t value) noexcept override;

    bool receiving() const override { return shadow_.receiving(); }
    bool can_store(std::size_t bytes) const override { return shadow_.can_store(bytes); }
    bool store(std::span<const std::uint8_t> frame) override { return shadow_.store(frame); }
    void held_back() override { shadow_.ring_overflowed(); }

   private:
    friend class Rtl8139Monitor;
    // The shadow's view of its guest's RAM, noting where each frame it
    // sends was read from; and where those frames go (to the monitor).
    class ShadowBus final : public hw::DmaBus {
     public:
      explicit ShadowBus(const dmm::GuestMemory& ram) : ram_(ram) {}
      bool dma_read(std::uint64_t address, std::span<std::uint8_t> out) override;
      bool dma_write(std::uint64_t address, std::span<const std::uint8_t> in) override {
        return ram_.dma_write(address, in);
      }
      std::vector<std::pair<std::uint64_t, std::uint64_t>> reads;  // address, bytes

     private:
      dmm::GuestRamBus ram_;
    };
    class ShadowSink final : public hw::FrameSink {
     public:
      void deliver(std::span<const std::uint8_t> frame) override {
        frames.emplace_back(frame.begin(), frame.end());
      }
      std::vector<std::vector<std::uint8_t>> frames;
    };

    Guest(Rtl8139Monitor& monitor, std::string name, hw::MacAddress mac,
          dmm::GuestCallbacks callbacks, dmm::GuestMemory ram);
    void write_locked(dmm::SharedDevice::Lock& lock, std::uint16_t offset, unsigned size,
                      std::uint32_t value, bool in_mmio);

    Rtl8139Monitor& monitor_;
    hw::MacAddress mac_;
    dmm::GuestMemory ram_;  // with each range's DMA address in the card's space
    Rtl8139Model model_;
    ShadowBus shadow_bus_;
    ShadowSink shadow_sink_;
    Rtl8139 shadow_;
    std::size_t demux_index_ = 0;
    std::uint64_t frames_sent_ = 0;
  };

  // After Guest: a covariant return type must be complete.
  Guest& add_guest(std::string name, hw::MacAddress mac, dmm::GuestCallbacks callbacks) override;

 private:
  // dmm::DeviceDriver (a transmit never outlives its access: the base
  // answers the other two).
  void service() override;
  bool has_events() override;
  std::vector<std::pair<std::string, std::uint64_t>> device_counts_locked() const override;

  // Sends on the card the frame `g`'s shadow read at guest-physical
  // `address`; `offset` is the access that made the shadow send it.
  void transmit_locked(dmm::SharedDevice::Lock& lock, Guest& g, std::uint64_t address,
                       std::span<const std::uint8_t> frame, std::uint16_t offset, bool in_mmio);
  void start_card();
  void reset_receiver();

  dmm::IovaSpace iova_;
  hw::PageBuffer ring_;  // the card's receive ring, the monitor's: whole pages for an IOMMU
  std::uint64_t ring_iova_ = 0;
  std::uint32_t ring_read_ = 0;  // where the next frame starts in it
  unsigned card_slot_ = 0;       // the card's next transmit slot
  std::vector<std::unique_ptr<Guest>> guests_;
  std::uint64_t card_aborts_ = 0, ring_resets_ = 0;
};

}  // namespace vpio::devices

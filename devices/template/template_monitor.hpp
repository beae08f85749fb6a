// The template device's side of the Device Modeling Monitor: one physical
// template card shared by several guests, on the device-generic core
// (dmm/shared_device.hpp) and the shared NIC machinery (dmm/nic/), through
// the base of monitors whose guests' cards are shadows
// (dmm/nic/shadow_nic_monitor.hpp). Each
// guest sees a whole card through its window, every access hooked
// (TemplateModel: question 3). This part:
//  - keeps each guest's card in a shadow (a TemplateNic of its own, with
//    the guest's MAC): everything the guest writes lands there;
//  - runs a send the model passed on the card (after the core has checked
//    its target against the guest's share), then on the shadow, which tells
//    the guest the send ended;
//  - owns the card's receive queue (promiscuous), drains it, and hands each
//    frame to the demultiplexer; the shadows are its receivers.
// The card holds no guest's state between sends: its declared guest
// context is empty, and a switch between guests is only counted.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "devices/template/template_model.hpp"
#include "devices/template/template_nic.hpp"
#include "dmm/nic/shadow_nic_monitor.hpp"

namespace vpio::devices {

using TemplateMonitorConfig = dmm::nic::ShadowNicConfig;

class TemplateMonitor final : public dmm::nic::ShadowNicMonitor {
 public:
  class Guest;

  // Takes the card over: resets it, makes it promiscuous, starts the core.
  TemplateMonitor(hw::PhysicalDevice& card, TemplateMonitorConfig config = {});
  ~TemplateMonitor() override;

  class Guest final : public dmm::SharedGuest,
                      public dmm::nic::FrameReceiver,
                      private HookedMmioHandler {
   public:
    const hw::MacAddress& mac() const noexcept override { return shadow_.mac(); }
    dmm::Report report() const override;

    std::uint32_t hooked_read(std::uint16_t offset, unsigned size) noexcept override;
    void hooked_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept override;
    void hooked_read_string(std::uint16_t offset, unsigned size,
                            std::span<std::uint8_t> data) noexcept override;
    void hooked_write_string(std::uint16_t offset, unsigned size,
                             std::span<const std::uint8_t> data) noexcept override;

    // The MMIO window (when the guest has it placed): page 0 is the
    // registers, served as the port window's; page 1 the transmit buffer,
    // written on the shadow with the model watching.
    std::uint64_t hooked_mmio_read(std::uint32_t offset, unsigned size) noexcept override;
    void hooked_mmio_write(std::uint32_t offset, unsigned size, std::uint64_t value) noexcept override;

    bool receiving() const override { return true; }
    bool can_store(std::size_t) const override { return shadow_.has_room(); }
    bool store(std::span<const std::uint8_t> frame) override { return shadow_.accept(frame); }

   private:
    friend class TemplateMonitor;
    Guest(TemplateMonitor& monitor, std::string name, hw::MacAddress mac,
          dmm::GuestCallbacks callbacks);

    TemplateMonitor& monitor_;
    TemplateModel model_;
    TemplateNic shadow_;
    std::size_t demux_index_ = 0;
    std::uint64_t frames_sent_ = 0;
  };

  // After Guest: a covariant return type must be complete.
  Guest& add_guest(std::string name, hw::MacAddress mac, dmm::GuestCallbacks callbacks) override;

 private:
  using Lock = dmm::SharedDevice::Lock;

  // dmm::DeviceDriver (a send never outlives its access: the base answers
  // the other two).
  void service() override;
  bool has_events() override;

  // Each byte of a guest's write; false when it was refused (the rest of
  // the access is dropped with it).
  // `in_mmio`: it came through the MMIO window's register page.
  bool write_byte_locked(Lock& lock, Guest& g, std::uint16_t offset, std::uint8_t value,
                         bool in_mmio = false);
  void send_locked(Guest& g, const TemplateDecision& d);

  std::vector<std::unique_ptr<Guest>> guests_;
};

}  // namespace vpio::devices

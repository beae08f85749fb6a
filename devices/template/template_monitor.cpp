// The template device's side of the Device Modeling Monitor.
#include "devices/template/template_monitor.hpp"

#include <stdexcept>

namespace vpio::devices {
namespace reg = template_nic;

// ---- Guests ----

TemplateMonitor::Guest::Guest(TemplateMonitor& monitor, std::string name, hw::MacAddress mac,
                              dmm::GuestCallbacks callbacks)
    : dmm::SharedGuest(monitor.core_, std::move(name), std::move(callbacks), reg::kWindowPorts,
                       this),
      monitor_(monitor),
      model_(mac),
      shadow_(mac) {
  shadow_.set_irq_line(hw::on_rising_edge(this->callbacks().raise_irq));
  // A send makes the card read its transmit buffer, which is the sender's
  // while its send runs under the gate: that is the guest's whole share.
  set_share(dmm::DmaShare::device_range(0, reg::kTxBufferBytes));
  set_hooked(model_.hooked());
}

dmm::Report TemplateMonitor::Guest::report() const {
  std::lock_guard lock(monitor_.core_.gate());
  return dmm::nic::guest_report(mac(), monitor_.core_.counts_locked(*this), frames_sent_,
                                monitor_.demux_.counts(demux_index_));
}

std::uint32_t TemplateMonitor::Guest::hooked_read(std::uint16_t offset, unsigned size) noexcept {
  Lock lock(monitor_.core_.gate());
  // A guest polling its STATUS is waiting: a card whose interrupt is
  // polled is looked at now.
  if (offset <= reg::kStatus && reg::kStatus < offset + size) monitor_.core_.check_on_wait_locked();
  return shadow_.read(offset, size);
}

void TemplateMonitor::Guest::hooked_read_string(std::uint16_t offset, unsigned size,
                                                std::span<std::uint8_t> data) noexcept {
  Lock lock(monitor_.core_.gate());
  shadow_.read_string(offset, size, data);
}

void TemplateMonitor::Guest::hooked_write(std::uint16_t offset, unsigned size,
                                          std::uint32_t value) noexcept {
  Lock lock(monitor_.core_.gate());
  for (unsigned i = 0; i < size; ++i)
    if (!monitor_.write_byte_locked(lock, *this, static_cast<std::uint16_t>(offset + i),
                                    static_cast<std::uint8_t>(value >> (8 * i))))
      return;
}

void TemplateMonitor::Guest::hooked_write_string(std::uint16_t offset, unsigned size,
                                                 std::span<const std::uint8_t> data) noexcept {
  Lock lock(monitor_.core_.gate());
  for (std::size_t i = 0; i + size <= data.size(); i += size)
    for (unsigned b = 0; b < size; ++b)
      if (!monitor_.write_byte_locked(lock, *this, static_cast<std::uint16_t>(offset + b),
                                      data[i + b]))
        return;
}

std::uint64_t TemplateMonitor::Guest::hooked_mmio_read(std::uint32_t offset,
                                                       unsigned size) noexcept {
  Lock lock(monitor_.core_.gate());
  if (offset < hw::kMmioPageBytes && offset <= reg::kStatus && reg::kStatus < offset + size)
    monitor_.core_.check_on_wait_locked();
  return shadow_.mmio_read(offset, size);
}

void TemplateMonitor::Guest::hooked_mmio_write(std::uint32_t offset, unsigned size,
                                               std::uint64_t value) noexcept {
  Lock lock(monitor_.core_.gate());
  constexpr std::uint32_t kBuffer = reg::kMmioTxPage * hw::kMmioPageBytes;
  for (unsigned i = 0; i < size; ++i) {
    const std::uint32_t at = offset + i;
    const auto byte = static_cast<std::uint8_t>(value >> (8 * i));
    if (at >= kBuffer) {
      model_.on_buffer_write(at - kBuffer, byte);
      shadow_.mmio_write(at, 1, byte);
    } else if (at < reg::kWindowPorts) {
      if (!monitor_.write_byte_locked(lock, *this, static_cast<std::uint16_t>(at), byte, true))
        return;
    }  // the rest of the register page ignores writes
  }
}

// ---- The monitor ----

TemplateMonitor::TemplateMonitor(hw::PhysicalDevice& card, TemplateMonitorConfig config)
    : ShadowNicMonitor(card, config) {
  card_.write(reg::kCmd, 1, reg::kCmdReset);
  card_.write(reg::kConfig, 1, reg::kConfigPromiscuous);
  card_.write(reg::kImr, 1, reg::kStatusReceived);
  start();
}

TemplateMonitor::~TemplateMonitor() { core_.stop(); }

TemplateMonitor::Guest& TemplateMonitor::add_guest(std::string name, hw::MacAddress mac,
                                                   dmm::GuestCallbacks callbacks) {
  Lock lock(core_.gate());
  check_new_guest("template monitor", name, mac, guests_, config_.max_guests, card_.describe());
  guests_.push_back(
      std::unique_ptr<Guest>(new Guest(*this, std::move(name), mac, std::move(callbacks))));
  guests_.back()->demux_index_ = demux_.add(*guests_.back());
  return *guests_.back();
}

bool TemplateMonitor::write_byte_locked(Lock& lock, Guest& g, std::uint16_t offset,
                                        std::uint8_t value, bool in_mmio) {
  const TemplateDecision d = g.model_.on_write(offset, value);
  if (d.action == TemplateDecision::Action::refuse) {
    core_.violation_locked(g,
                           {static_cast<std::uint16_t>(d.violation), d.address, offset, in_mmio});
    return false;
  }
  if (d.action == TemplateDecision::Action::send) {
    if (!core_.wait_free_locked(lock, &g)) return false;
    if (!core_.check_targets_locked(g, {&d.target, 1}, offset, in_mmio)) return false;
    send_locked(g, d);
  }
  g.shadow_.write(offset, 1, value);
  // A frame dropped from the guest's queue makes room for what waits.
  if (offset == reg::kCmd && (value & (reg::kCmdNext | reg::kCmdReset)) != 0)
    demux_.flush(g.demux_index_);
  return true;
}

// The frame is the guest's shadow's transmit buffer, which the model has
// seen written byte by byte: it goes into the card's buffer (whose pointer
// every send and the reset leave at 0) and out.
void TemplateMonitor::send_locked(Guest& g, const TemplateDecision& d) {
  const auto started = dmm::SharedDevice::Clock::now();
  core_.context_loaded_locked(g, started);  // no context: the switch is counted only
  const std::vector<std::uint8_t> frame = g.shadow_.tx_bytes(d.target.bytes);
  card_.write(reg::kLen, 2, static_cast<std::uint32_t>(frame.size()));
  card_.write_string(
      reg::kData, 2,
      frame.size() % 2 == 0 ? std::span(frame) : std::span(frame).first(frame.size() - 1));
  if (frame.size() % 2 != 0) card_.write(reg::kData, 1, frame.back());
  card_.write(reg::kCmd, 1, reg::kCmdSend);
  if ((card_.read(reg::kStatus, 1) & reg::kStatusSent) != 0) ++g.frames_sent_;
  card_.write(reg::kStatus, 1, reg::kStatusSent);
  loop_back(frame, g);
}

bool TemplateMonitor::has_events() {
  return (card_.read(reg::kStatus, 1) & reg::kStatusReceived) != 0;
}

void TemplateMonitor::service() {
  for (std::size_t n = 0; n < reg::kRxQueueFrames && has_events(); ++n) {
    const std::uint32_t bytes = card_.read(reg::kLen, 2);
    std::vector<std::uint8_t> frame(bytes);
    card_.read_string(reg::kData, 1, frame);
    card_.write(reg::kCmd, 1, reg::kCmdNext);
    drained(frame, hw::kMaxFrameBytes);
  }
  card_.write(reg::kStatus, 1, reg::kStatusReceived);
  demux_.flush_all();
}

}  // namespace vpio::devices

// The RTL8139's side of the Device Modeling Monitor.
#include "devices/rtl8139/rtl8139_monitor.hpp"

#include <algorithm>
#include <cstring>
#include <exception>

namespace vpio::devices {

using namespace rtl8139;

namespace {

// The card's own setup: a 32 KiB ring with room past it (NoWrap), every
// frame (promiscuous: the monitor demultiplexes), interrupts for received
// frames and a full ring only.
constexpr std::uint32_t kRingBytes = 32768;
constexpr std::uint32_t kRingRunOn = kRxHeaderBytes + kMaxReceiveBytes + kFcsBytes;
constexpr std::uint32_t kCardRcr = 0x0000f000 | (2u << kRcrRingShift) | 0x700 | kRcrNoWrap |
                                   kRcrAcceptBroadcast | kRcrAcceptMulticast | kRcrAcceptMine |
                                   kRcrAcceptAll;
constexpr std::uint32_t kCardTcr = 0x03000600;  // IFG 9.6 us, MXDMA 1 KiB
constexpr std::uint16_t kCardImr = kIntRxOk | kIntRxOverflow;
constexpr std::uint32_t kTsdThreshold = 0x00080000;
constexpr unsigned kSendPolls = 100000;
constexpr unsigned kResetPolls = 1000;  // reads of CR for its RST bit to clear
constexpr std::uint64_t kDmaLimit = std::uint64_t{1} << 32;  // 32-bit DMA addresses
constexpr std::uint64_t kRingWindow = 0x10000;               // where the ring is mapped from

std::uint16_t tsd(unsigned slot) { return static_cast<std::uint16_t>(kTsd0 + 4 * slot); }
std::uint16_t tsad(unsigned slot) { return static_cast<std::uint16_t>(kTsad0 + 4 * slot); }

}  // namespace

// ---- Guests ----

bool Rtl8139Monitor::Guest::ShadowBus::dma_read(std::uint64_t address,
                                                std::span<std::uint8_t> out) {
  if (!ram_.dma_read(address, out)) return false;
  reads.emplace_back(address, out.size());
  return true;
}

Rtl8139Monitor::Guest::Guest(Rtl8139Monitor& monitor, std::string name, hw::MacAddress mac,
                             dmm::GuestCallbacks callbacks, dmm::GuestMemory ram)
    : dmm::SharedGuest(monitor.core_, std::move(name), std::move(callbacks), kWindowBytes, this),
      monitor_(monitor),
      mac_(mac),
      ram_(std::move(ram)),
      model_(ram_, mac),
      shadow_bus_(ram_),
      shadow_(mac) {
  shadow_.set_dma_bus(&shadow_bus_);
  shadow_.set_transmit_sink(&shadow_sink_);
  shadow_.set_irq_line(hw::on_rising_edge(this->callbacks().raise_irq));
  // The card reads the guest's slots in its RAM, through its window.
  set_share(dmm::DmaShare{{}, &ram_});
  set_hooked(model_.hooked());
}

dmm::Report Rtl8139Monitor::Guest::report() const {
  std::lock_guard lock(monitor_.core_.gate());
  dmm::Report report = dmm::nic::guest_report(mac(), monitor_.core_.counts_locked(*this),
                                              frames_sent_, monitor_.demux_.counts(demux_index_));
  report.counts.emplace_back("shadow_bad_programming", shadow_.counters().bad_programming);
  // Where the guest's own card stands (its shadow): what a stuck driver
  // waits on.
  const Rtl8139State s = shadow_.save();
  report.counts.emplace_back("shadow_isr", s.interrupt_status);
  report.counts.emplace_back("shadow_imr", s.interrupt_mask);
  report.counts.emplace_back("shadow_cr", s.command);
  report.counts.emplace_back("shadow_rx_read", s.rx_read);
  report.counts.emplace_back("shadow_rx_write", s.rx_write);
  report.counts.emplace_back("shadow_irq_asserted", shadow_.irq_asserted() ? 1 : 0);
  return report;
}

std::uint32_t Rtl8139Monitor::Guest::hooked_read(std::uint16_t offset, unsigned size) noexcept {
  dmm::SharedDevice::Lock lock(monitor_.core_.gate());
  // A guest polling CR (BUFE) or ISR is waiting: a card whose interrupt is
  // polled is looked at now.
  if (offset <= kIsr + 1 && kCr < offset + size) monitor_.core_.check_on_wait_locked();
  try {
    return shadow_.read(offset, size);
  } catch (...) {
    return ~0u;
  }
}

void Rtl8139Monitor::Guest::hooked_read_string(std::uint16_t offset, unsigned size,
                                               std::span<std::uint8_t> data) noexcept {
  dmm::SharedDevice::Lock lock(monitor_.core_.gate());
  shadow_.read_string(offset, size, data);
}

void Rtl8139Monitor::Guest::hooked_write(std::uint16_t offset, unsigned size,
                                         std::uint32_t value) noexcept {
  dmm::SharedDevice::Lock lock(monitor_.core_.gate());
  write_locked(lock, offset, size, value, false);
}

void Rtl8139Monitor::Guest::hooked_write_string(std::uint16_t offset, unsigned size,
                                                std::span<const std::uint8_t> data) noexcept {
  if (size != 1 && size != 2 && size != 4) return;
  dmm::SharedDevice::Lock lock(monitor_.core_.gate());
  for (std::size_t i = 0; i + size <= data.size(); i += size) {
    std::uint32_t value = 0;
    for (unsigned b = 0; b < size; ++b) value |= std::uint32_t{data[i + b]} << (8 * b);
    write_locked(lock, offset, size, value, false);
  }
}

std::uint64_t Rtl8139Monitor::Guest::hooked_mmio_read(std::uint32_t offset,
                                                      unsigned size) noexcept {
  if (size == 8)
    return hooked_mmio_read(offset, 4) | (std::uint64_t{hooked_mmio_read(offset + 4, 4)} << 32);
  if (offset >= kWindowBytes) return ~std::uint64_t{0};
  return hooked_read(static_cast<std::uint16_t>(offset), size);
}

void Rtl8139Monitor::Guest::hooked_mmio_write(std::uint32_t offset, unsigned size,
                                              std::uint64_t value) noexcept {
  if (size == 8) {
    hooked_mmio_write(offset, 4, value & 0xffffffffu);
    hooked_mmio_write(offset + 4, 4, value >> 32);
    return;
  }
  if (offset >= kWindowBytes) return;
  dmm::SharedDevice::Lock lock(monitor_.core_.gate());
  write_locked(lock, static_cast<std::uint16_t>(offset), size, static_cast<std::uint32_t>(value),
               true);
}

// The model judges the write; passed, it lands on the shadow, and whatever
// the shadow sent goes out on the card.
void Rtl8139Monitor::Guest::write_locked(dmm::SharedDevice::Lock& lock, std::uint16_t offset,
                                         unsigned size, std::uint32_t value, bool in_mmio) {
  const Rtl8139Decision d = model_.on_write(offset, size, value);
  if (d.refuse) {
    monitor_.core_.violation_locked(
        *this, {static_cast<std::uint16_t>(d.violation), d.address, offset, in_mmio});
    return;
  }
  shadow_bus_.reads.clear();
  shadow_sink_.frames.clear();
  try {
    shadow_.write(offset, size, value);
  } catch (...) {
    return;
  }
  // A looped-back shadow sends nothing out; else each frame it sent was
  // the read before it.
  const std::size_t sent = std::min(shadow_sink_.frames.size(), shadow_bus_.reads.size());
  for (std::size_t i = 0; i < sent; ++i)
    monitor_.transmit_locked(lock, *this, shadow_bus_.reads[i].first, shadow_sink_.frames[i],
                             offset, in_mmio);
  // Room in the guest's ring (CAPR moved, the receiver on) lets queued
  // frames in.
  if (offset <= kCapr + 1 && kCr < offset + size) monitor_.demux_.flush(demux_index_);
}

// ---- The monitor ----

Rtl8139Monitor::Rtl8139Monitor(hw::PhysicalDevice& card, Rtl8139MonitorConfig config)
    : ShadowNicMonitor(card, config), iova_(kDmaLimit), ring_(kRingBytes + kRingRunOn) {
  ring_iova_ = iova_.map(ring_.span(), kRingWindow, hw::kMmioPageBytes, "the card's receive ring");
  card_.set_dma_bus(&iova_);
  try {
    start_card();
    start();
  } catch (...) {
    // The card outlives this monitor, and iova_ dies with it now.
    card_.set_dma_bus(nullptr);
    throw;
  }
}

// From a soft reset, as 8139too's rtl8139_hw_start: the ring at its
// window, receive and transmit on. The ring and the transmit slots start
// over at 0 (a reset restarts them on every RTL8139; turning RE off and on
// does not on QEMU's, which keeps its ring pointers).
void Rtl8139Monitor::start_card() {
  card_.write(kCr, 1, kCrReset);
  for (unsigned i = 0; i < kResetPolls && (card_.read(kCr, 1) & kCrReset) != 0; ++i) {
  }
  card_.write(kRbstart, 4, static_cast<std::uint32_t>(ring_iova_));
  card_.write(kCr, 1, kCrReceiveEnable | kCrTransmitEnable);
  card_.write(kRcr, 4, kCardRcr);
  card_.write(kTcr, 4, kCardTcr);
  card_.write(kImr, 2, kCardImr);
  ring_read_ = 0;
  card_slot_ = 0;
}

Rtl8139Monitor::~Rtl8139Monitor() {
  core_.stop();
  try {
    card_.write(kCr, 1, kCrReset);  // no more DMA into what is about to go
  } catch (const std::exception&) {
    // A card that no longer answers (a VFIO device file in error) loses
    // its bus all the same.
  }
  card_.set_dma_bus(nullptr);
}

Rtl8139Monitor::Guest& Rtl8139Monitor::add_guest(std::string name, hw::MacAddress mac,
                                                 dmm::GuestCallbacks callbacks) {
  dmm::SharedDevice::Lock lock(core_.gate());
  check_new_guest("RTL8139 monitor", name, mac, guests_, config_.max_guests, card_.describe());
  dmm::GuestMemory ram = iova_.map_guest(callbacks.ram, name);
  guests_.push_back(std::unique_ptr<Guest>(
      new Guest(*this, std::move(name), mac, std::move(callbacks), std::move(ram))));
  guests_.back()->demux_index_ = demux_.add(*guests_.back());
  return *guests_.back();
}

std::vector<std::pair<std::string, std::uint64_t>> Rtl8139Monitor::device_counts_locked() const {
  return {{"card_aborts", card_aborts_},
          {"ring_resets", ring_resets_},
          {"iommu_faults", iova_.faults()}};
}

void Rtl8139Monitor::transmit_locked(dmm::SharedDevice::Lock& lock, Guest& g, std::uint64_t address,
                                     std::span<const std::uint8_t> frame, std::uint16_t offset,
                                     bool in_mmio) {
  const dmm::DmaTarget target = g.model_.transmit_target(address, frame.size());
  if (!core_.wait_free_locked(lock, &g)) return;
  if (!core_.check_targets_locked(g, {&target, 1}, offset, in_mmio)) return;
  core_.context_loaded_locked(g, dmm::SharedDevice::Clock::now());  // no context: counted only
  const unsigned slot = card_slot_;
  card_slot_ = (slot + 1) % kTxSlots;
  card_.write(tsad(slot), 4, static_cast<std::uint32_t>(target.device_address));
  card_.write(tsd(slot), 4, kTsdThreshold | static_cast<std::uint32_t>(frame.size()));
  // The card is done with the slot (OWN) before the guest may reuse its
  // buffer: this access returns only then.
  std::uint32_t status = 0;
  for (unsigned i = 0; i < kSendPolls && (status & kTsdOwn) == 0; ++i)
    status = card_.read(tsd(slot), 4);
  card_.write(kIsr, 2, kIntTxOk | kIntTxError);
  if ((status & kTsdOk) != 0) {
    ++g.frames_sent_;
  } else {
    ++card_aborts_;
  }
  loop_back(frame, g);
}

bool Rtl8139Monitor::has_events() { return (card_.read(kCr, 1) & kCrBufferEmpty) == 0; }

// A ring header that makes no sense: start the card over. No transmit is in
// flight (each ends before its access returns, under the same lock).
void Rtl8139Monitor::reset_receiver() {
  ++ring_resets_;
  start_card();
}

// Drains the card's ring as 8139too does, into the demultiplexer.
void Rtl8139Monitor::service() {
  card_.write(kIsr, 2, kIntRxOk | kIntRxOverflow);
  for (unsigned n = 0; n < 256 && has_events(); ++n) {
    std::uint32_t header = 0;
    std::memcpy(&header, ring_.data() + ring_read_, sizeof header);
    const std::uint32_t length = header >> 16;  // with the FCS
    if ((header & kRxStatusOk) == 0 || length < hw::kEthernetHeaderBytes + kFcsBytes ||
        length > kMaxReceiveBytes + kFcsBytes) {
      reset_receiver();
      break;
    }
    const std::span<const std::uint8_t> frame(ring_.data() + ring_read_ + kRxHeaderBytes,
                                              length - kFcsBytes);
    drained(frame, hw::kMaxTaggedFrameBytes);
    ring_read_ = ((ring_read_ + kRxHeaderBytes + length + 3) & ~3u) % kRingBytes;
    card_.write(kCapr, 2, (ring_read_ - kRingPadBytes) & 0xffff);
  }
  demux_.flush_all();
}

}  // namespace vpio::devices

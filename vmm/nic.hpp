// Network cards attached to guests, and the wires between them: parsing of
// `--nic` specifications, emulated NE2000s on the guest's port bus, and the
// run's hubs, TAP devices and pcap recorders.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hooks/port_bus.hpp"
#include "hw/ne2000.hpp"
#include "hw/net/hub.hpp"
#include "hw/net/pcap_recorder.hpp"
#include "hw/net/tap_device.hpp"
#include "vmm/machine.hpp"

namespace vpio {

enum class NicMode { emulate, passthrough, vpio };

// `MODE[,port=0x300][,irq=9][,wire=hub|hub:NAME|tap:IFNAME|none][,mac=..][,guest=N]`
struct NicSpec {
  NicMode mode = NicMode::emulate;
  std::uint16_t port = 0x300;
  unsigned irq = 9;
  std::string wire = "hub";
  std::optional<hw::MacAddress> mac;
  std::optional<unsigned> guest;  // 0-based; unset: every guest gets a card
};

// Throws std::invalid_argument naming the offending item.
NicSpec parse_nic_spec(std::string_view text);

// The MAC a guest's card gets unless one is given: 52:54:00:12:34:56 + index.
hw::MacAddress default_mac(unsigned guest_index);

// A guest's own emulated NE2000: every access goes to the chip.
class EmulatedNic final : public PortDevice {
 public:
  // raise_irq is called on each rising edge of the chip's interrupt line.
  EmulatedNic(hw::MacAddress mac, std::function<void()> raise_irq);

  hw::Ne2000& chip() noexcept { return chip_; }
  const hw::MacAddress& mac() const noexcept { return mac_; }

  std::uint32_t port_read(std::uint16_t offset, unsigned size) noexcept override;
  void port_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept override;
  void port_read_string(std::uint16_t offset, unsigned size,
                        std::span<std::uint8_t> data) noexcept override;
  void port_write_string(std::uint16_t offset, unsigned size,
                         std::span<const std::uint8_t> data) noexcept override;

 private:
  hw::MacAddress mac_;
  hw::Ne2000 chip_;
};

// Everything on the wire side of one run. Outlives the machines' threads.
class Network {
 public:
  // With a path, every frame on the default hub is recorded there.
  explicit Network(std::optional<std::filesystem::path> pcap = std::nullopt);
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;
  ~Network();

  // Creates an emulated card for `machine` per `spec`, registers it on the
  // machine's port bus and connects it to its wire.
  EmulatedNic& attach_emulated(Machine& machine, const NicSpec& spec, hw::MacAddress mac);
  hw::Hub& hub(const std::string& name = "");
  const std::vector<std::unique_ptr<EmulatedNic>>& nics() const noexcept { return nics_; }
  std::uint64_t frames_recorded() const;

 private:
  std::map<std::string, std::unique_ptr<hw::Hub>> hubs_;
  std::unique_ptr<hw::PcapRecorder> recorder_;
  std::vector<std::unique_ptr<hw::TapDevice>> taps_;
  std::vector<std::unique_ptr<EmulatedNic>> nics_;
};

}  // namespace vpio

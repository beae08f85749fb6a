// The template device in the conformance suite: a driver of the kind a
// flat test guest would have (no stock driver knows the device), written
// from template_nic.hpp's register list alone.
#include "tests/conformance/template_driver.hpp"

#include <utility>

#include "devices/template/template_nic.hpp"

namespace vpio::conformance {
namespace {

namespace reg = devices::template_nic;

class TemplateDriver final : public GuestDriver {
 public:
  explicit TemplateDriver(PassthroughWindow& window) : window_(window) {}

  bool open() override {
    window_.port_write(reg::kCmd, 1, reg::kCmdReset);
    if (window_.port_read(reg::kStatus, 1) == 0xff) return false;  // nothing there
    for (unsigned i = 0; i < 6; ++i)
      mac_.bytes[i] = static_cast<std::uint8_t>(
          window_.port_read(static_cast<std::uint16_t>(reg::kMac + i), 1));
    window_.port_write(reg::kImr, 1, reg::kStatusReceived | reg::kStatusSent);
    return true;
  }
  hw::MacAddress mac() const override { return mac_; }

  // One frame at a time: the card has one transmit buffer.
  bool send(const Bytes& frame) override {
    window_.port_write(reg::kLen, 2, static_cast<std::uint32_t>(frame.size()));
    const std::size_t words = frame.size() / 2 * 2;
    window_.port_write_string(reg::kData, 2, std::span(frame).first(words));
    if (words != frame.size()) window_.port_write(reg::kData, 1, frame.back());
    window_.port_write(reg::kCmd, 1, reg::kCmdSend);
    return (window_.port_read(reg::kStatus, 1) & reg::kStatusSent) != 0;
  }

  void service() override {
    const std::uint32_t status = window_.port_read(reg::kStatus, 1);
    window_.port_write(reg::kStatus, 1, reg::kStatusSent);
    if ((status & reg::kStatusReceived) == 0) return;
    for (unsigned n = 0; n < reg::kRxQueueFrames; ++n) {
      const std::uint32_t bytes = window_.port_read(reg::kLen, 2);
      if (bytes == 0) break;
      Bytes frame(bytes);
      window_.port_read_string(reg::kData, 1, frame);
      window_.port_write(reg::kCmd, 1, reg::kCmdNext);
      received_.push_back(std::move(frame));
    }
  }

  std::vector<Bytes> take_received() override { return std::exchange(received_, {}); }

 private:
  PassthroughWindow& window_;
  hw::MacAddress mac_{};
  std::vector<Bytes> received_;
};

}  // namespace

std::unique_ptr<GuestDriver> template_driver(PassthroughWindow& window,
                                             std::span<std::uint8_t> /*ram: not a bus master*/) {
  return std::make_unique<TemplateDriver>(window);
}

}  // namespace vpio::conformance

// The NE2000 in the conformance suite: Linux's ne2k-pci over lib8390,
// replayed access by access (tests/support/stock_drivers/linux_8390.hpp),
// as on an RTL8029.
#include "tests/conformance/ne2000_driver.hpp"

#include "tests/support/stock_drivers/linux_8390.hpp"

namespace vpio::conformance {
namespace {

class Ne2kPciDriver final : public GuestDriver {
 public:
  explicit Ne2kPciDriver(PassthroughWindow& window)
      : nic_(window, testing_support::LinuxNe2kPci::kRealtekFdx) {}

  bool open() override {
    if (!nic_.ne2k_pci_init_one()) return false;
    nic_.ne2k_pci_open();
    return true;
  }
  hw::MacAddress mac() const override { return hw::MacAddress{nic_.dev_addr()}; }
  bool send(const Bytes& frame) override {
    if (nic_.queue_stopped()) return false;
    return nic_.ei_start_xmit(frame);
  }
  void service() override { nic_.ei_interrupt(); }
  std::vector<Bytes> take_received() override {
    const auto& all = nic_.received();
    std::vector<Bytes> fresh(all.begin() + static_cast<std::ptrdiff_t>(taken_), all.end());
    taken_ = all.size();
    return fresh;
  }
  std::vector<std::string> complaints() const override { return nic_.complaints(); }

 private:
  testing_support::LinuxNe2kPci nic_;
  std::size_t taken_ = 0;
};

}  // namespace

std::unique_ptr<GuestDriver> ne2000_driver(PassthroughWindow& window,
                                           std::span<std::uint8_t> /*ram: not a bus master*/) {
  return std::make_unique<Ne2kPciDriver>(window);
}

}  // namespace vpio::conformance

// The devices the conformance suite runs (conformance.cpp): one line each,
// the device table's name and a driver of the device.
#include "tests/conformance/guest_driver.hpp"
#include "tests/conformance/ne2000_driver.hpp"
#include "tests/conformance/rtl8139_driver.hpp"
#include "tests/conformance/template_driver.hpp"

namespace vpio::conformance {

std::vector<ConformanceDevice> conformance_devices() {
  return {
      {"ne2000", ne2000_driver},
      {"template", template_driver},
      {"rtl8139", rtl8139_driver},
  };
}

}  // namespace vpio::conformance

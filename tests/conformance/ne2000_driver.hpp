#pragma once

#include "tests/conformance/guest_driver.hpp"

namespace vpio::conformance {

std::unique_ptr<GuestDriver> ne2000_driver(PassthroughWindow& window);

}  // namespace vpio::conformance

#pragma once

#include "tests/conformance/guest_driver.hpp"

namespace vpio::conformance {

std::unique_ptr<GuestDriver> template_driver(PassthroughWindow& window,
                                             std::span<std::uint8_t> ram);

}  // namespace vpio::conformance

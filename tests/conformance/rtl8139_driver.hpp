// The RTL8139 in the conformance suite: Linux's 8139too replayed.
#pragma once

#include "tests/conformance/guest_driver.hpp"

namespace vpio::conformance {

std::unique_ptr<GuestDriver> rtl8139_driver(PassthroughWindow& window, std::span<std::uint8_t> ram);

}  // namespace vpio::conformance

// The NE2000's entry in the device table (devices/registry.cpp).
#pragma once

#include "devices/nic_kind.hpp"

namespace vpio::devices {

const NicKind& ne2000_kind() noexcept;

}  // namespace vpio::devices

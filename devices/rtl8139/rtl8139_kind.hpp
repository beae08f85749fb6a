// The RTL8139's entry in the device table (devices/registry.cpp).
#pragma once

#include "devices/nic_kind.hpp"

namespace vpio::devices {

const NicKind& rtl8139_kind() noexcept;

}  // namespace vpio::devices

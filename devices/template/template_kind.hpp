// The template device's entry in the device table (devices/registry.cpp).
#pragma once

#include "devices/nic_kind.hpp"

namespace vpio::devices {

const NicKind& template_kind() noexcept;

}  // namespace vpio::devices

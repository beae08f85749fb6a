// The network devices vpio can give guests, by name: the one explicit table
// (devices/registry.cpp). `--nic ...,model=NAME` picks an entry; the first
// is the default.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "devices/nic_kind.hpp"

namespace vpio::devices {

std::span<const NicKind* const> nic_kinds() noexcept;
// The entry of that name, or nullptr.
const NicKind* find_nic_kind(std::string_view name) noexcept;
// "ne2000, ..." for messages.
std::string nic_kind_names();

}  // namespace vpio::devices

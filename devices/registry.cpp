// The device table: one line per device folder.
#include "devices/registry.hpp"

#include "devices/ne2000/ne2000_kind.hpp"
#include "devices/rtl8139/rtl8139_kind.hpp"
#include "devices/template/template_kind.hpp"

namespace vpio::devices {

std::span<const NicKind* const> nic_kinds() noexcept {
  static const NicKind* const kinds[] = {
      &ne2000_kind(),  // the default
      &template_kind(),
      &rtl8139_kind(),
  };
  return kinds;
}

const NicKind* find_nic_kind(std::string_view name) noexcept {
  for (const NicKind* kind : nic_kinds())
    if (kind->name == name) return kind;
  return nullptr;
}

std::string nic_kind_names() {
  std::string names;
  for (const NicKind* kind : nic_kinds())
    names += (names.empty() ? "" : ", ") + std::string(kind->name);
  return names;
}

}  // namespace vpio::devices

// What the monitor reports when a device model refuses a guest's access
// (docs/vpio.md, "Violations and the machine check"). The monitor knows no
// CPU: the VMM turns the report into a machine check in that guest
// (vmm/dmm_machine_check.hpp). Device-generic: the code is the model's, the
// address is whatever the access aimed at in the model's terms (card memory
// for a card that works in its own buffer, guest-physical for a bus master).
#pragma once

#include <cstdint>

namespace vpio::dmm {

struct ViolationReport {
  std::uint16_t code = 0;           // the model's violation number (docs/vpio.md per device)
  std::uint64_t address = 0;        // what the refused access aimed at
  std::uint32_t window_offset = 0;  // where in the device's window the access was:
  bool in_mmio = false;             // its MMIO window, else its port window
};

}  // namespace vpio::dmm

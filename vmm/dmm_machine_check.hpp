// The machine check a guest gets for a violation the Device Modeling Monitor
// reports (docs/vpio.md): bank 1, IA32_MCi_STATUS = VAL|UC|EN|MISCV|ADDRV,
// the model's violation code as the model-specific error code (bits 16..31)
// and MCA code 0x082b (an I/O bus error on a write); ADDR is the address the
// access aimed at, MISC the guest's port (the window's base as the guest has
// it now, plus the offset).
#pragma once

#include <cstdint>

#include "dmm/violation.hpp"
#include "kvm/kvm.hpp"

namespace vpio {

inline constexpr std::uint8_t kDmmMachineCheckBank = 1;

std::uint64_t dmm_machine_check_status(std::uint16_t violation_code) noexcept;
MachineCheck dmm_machine_check(const dmm::ViolationReport& report,
                               std::uint64_t window_base) noexcept;

}  // namespace vpio

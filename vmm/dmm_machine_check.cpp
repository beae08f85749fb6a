#include "vmm/dmm_machine_check.hpp"

namespace vpio {
namespace {

constexpr std::uint64_t kStatusBits =
    mce::kStatusVal | mce::kStatusUc | mce::kStatusEn | mce::kStatusMiscv | mce::kStatusAddrv;
constexpr unsigned kModelErrorShift = 16;
constexpr std::uint64_t kMcaIoWriteError = 0x082b;

}  // namespace

std::uint64_t dmm_machine_check_status(std::uint16_t violation_code) noexcept {
  return kStatusBits | (std::uint64_t{violation_code} << kModelErrorShift) | kMcaIoWriteError;
}

MachineCheck dmm_machine_check(const dmm::ViolationReport& report,
                               std::uint64_t window_base) noexcept {
  MachineCheck event;
  event.bank = kDmmMachineCheckBank;
  event.status = dmm_machine_check_status(report.code);
  event.addr = report.address;
  event.misc = window_base + report.window_offset;
  return event;
}

}  // namespace vpio

// The machine check the VMM builds from the monitor's violation report
// (vmm/dmm_machine_check.hpp, docs/vpio.md): the values a Linux guest prints
// ("Bank 1: bc0000000001082b ... ADDR 4c00 MISC 300") and the hostile test
// guests decode.
#include <gtest/gtest.h>

#include "vmm/dmm_machine_check.hpp"

namespace vpio {
namespace {

TEST(DmmMachineCheck, IsAnUncorrectedIoWriteErrorInBankOneWithTheViolationAsModelCode) {
  EXPECT_EQ(dmm_machine_check_status(1), 0xbc0000000001082bULL);
  EXPECT_EQ(dmm_machine_check_status(10), 0xbc000000000a082bULL);
  EXPECT_EQ(dmm_machine_check_status(0xffff), 0xbc000000ffff082bULL);
}

TEST(DmmMachineCheck, NamesTheAddressAndThePortAtTheWindowsCurrentBase) {
  const dmm::ViolationReport report{2, 0x3f00, 0x00};
  const MachineCheck at_isa = dmm_machine_check(report, 0x300);
  EXPECT_EQ(at_isa.bank, kDmmMachineCheckBank);
  EXPECT_EQ(at_isa.status, dmm_machine_check_status(2));
  EXPECT_EQ(at_isa.addr, 0x3f00u);
  EXPECT_EQ(at_isa.misc, 0x300u);
  // A window the guest moved (a PCI BAR): the port it used there.
  const MachineCheck moved = dmm_machine_check({1, 0x4c00, 0x10}, 0xc000);
  EXPECT_EQ(moved.addr, 0x4c00u);
  EXPECT_EQ(moved.misc, 0xc010u);
}

}  // namespace
}  // namespace vpio

// Linux guests on real KVM (issue 15, item 1): Debian's kernel, the one the
// KVM lab boots, with the project's initramfs (guests/linux/), booted by
// `vpio run`: its messages and init's line come out of COM1 as the guest's
// console, and init's end comes back as vpio's exit status. Only the KVM lab
// runs them: a PVM host cannot boot Linux, and vpio says so.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "support.hpp"
#include "vmm/kvm_identity.hpp"
#include "tests/support/lab_kernel.hpp"

namespace vpio::test {
namespace {

class LinuxGuestTest : public KvmTest {
 protected:
  void SetUp() override {
    KvmTest::SetUp();
    if (const std::string obstacle = linux_guest_obstacle(find_kvm_module("/sys/module"));
        !obstacle.empty())
      GTEST_SKIP() << "this KVM cannot boot a stock kernel (" << obstacle
                   << "); LinuxOnThisKvm.IsRefusedInOneLineNamingTheLab checks vpio says so, and "
                      "the KVM lab runs these tests";
    kernel_ = find_lab_kernel();
    if (kernel_.path.empty()) GTEST_SKIP() << kernel_.why_absent;
    initramfs_ = build_path("guests/linux/initramfs.cpio.gz");
    ASSERT_TRUE(std::filesystem::exists(initramfs_))
        << initramfs_ << " was not built (guests/CMakeLists.txt needs busybox-static and cpio)";
  }

  // `vpio run` of the kernel with the initramfs; prints how long it took.
  CommandResult boot(const std::string& append, const std::string& extra = "") {
    const auto started = std::chrono::steady_clock::now();
    CommandResult result =
        run_command(vpio_binary() + " run --ram 256 --timeout 240 --initrd " + initramfs_ +
                    " --append '" + append + "' " + extra + " " + kernel_.path);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("[ linux ] vpio run took %.2f s (exit %d)\n", seconds, result.exit_code);
    return result;
  }

  LabKernel kernel_;
  std::string initramfs_;
};

// On a KVM that cannot boot Linux (PVM), `vpio run` says so in one line,
// names --lab, and runs nothing.
TEST(LinuxOnThisKvm, IsRefusedInOneLineNamingTheLab) {
  const std::string obstacle = linux_guest_obstacle(find_kvm_module("/sys/module"));
  if (obstacle.empty()) GTEST_SKIP() << "this KVM (" << find_kvm_module("/sys/module")
                                     << ") has nothing known against Linux guests";
  const LabKernel kernel = find_lab_kernel();
  if (kernel.path.empty()) GTEST_SKIP() << kernel.why_absent;
  const CommandResult result =
      run_command(vpio_binary() + " run --no-lab --ram 256 " + kernel.path);
  EXPECT_EQ(result.exit_code, 71) << result.output;
  EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
  EXPECT_NE(result.output.find("add --lab"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("Linux version"), std::string::npos) << result.output;
}

// init's line carries the kernel's own uptime at /init: how long the boot took.
void print_boot_time(const std::string& output) {
  const auto at = output.find("vpio-linux-init:");
  if (at == std::string::npos) return;
  std::printf("[ linux ] %s\n", output.substr(at, output.find('\n', at) - at).c_str());
}

// What works: the kernel boots, its printk console (polled writes to the
// UART) comes out as the guest's console, the 8250 driver probes a 16550A,
// init runs and ends the guest through port 0xF4 from Linux userspace.
TEST_F(LinuxGuestTest, BootsToInitPrintsOnTtyS0AndExitsThroughThePort) {
  const auto result = boot("console=ttyS0 vpio_test=exit42");
  EXPECT_EQ(result.exit_code, 42) << result.output;
  EXPECT_NE(result.output.find("Linux version 6."), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("Booting paravirtualized kernel on KVM"), std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("ttyS0 at I/O 0x3f8 (irq = 4, base_baud = 115200) is a 16550A"),
            std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("Run /init as init process"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("exited      42"), std::string::npos) << result.output;
}

// Not yet (docs/linux-guests.md, "Not yet"): init's own line goes through
// the tty, whose 8250 driver transmits on the THRE interrupt, and IRQ 4 was
// never taken in the lab (the driver read IIR 6 times in a whole boot, all
// during its probe); poweroff -f then stopped with IF=0 before the kernel's
// "System halted". Enable these once interrupts from the UART reach Linux.
TEST_F(LinuxGuestTest, InitsLineReachesTheConsoleThroughTheTty) {
  const auto result = boot("console=ttyS0 vpio_test=exit42");
  print_boot_time(result.output);
  EXPECT_EQ(result.exit_code, 42) << result.output;
  EXPECT_NE(result.output.find("vpio-linux-init: guest 0 up, Linux 6."), std::string::npos)
      << result.output;
}

TEST_F(LinuxGuestTest, PoweroffEndsTheGuestWithStatusZero) {
  const auto result = boot("console=ttyS0");
  print_boot_time(result.output);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("vpio-linux-init: guest 0 up"), std::string::npos) << result.output;
  // Without ACPI Linux turns poweroff into a halt (kernel/reboot.c).
  EXPECT_NE(result.output.find("reboot: System halted"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("halted"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace vpio::test

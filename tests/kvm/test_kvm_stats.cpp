// KVM's own binary statistics against vpio's exit counters: the ground truth
// the exit profile (issue 6) is to be cross-checked with.
#include <linux/kvm.h>

#include "support.hpp"
#include "vmm/kvm_stats.hpp"

namespace vpio::test {
namespace {

// 1000 `out` to port 0x80 (nothing serves it), then the exit port.
struct ThousandOuts : Xbyak::CodeGenerator {
  ThousandOuts() {
    mov(ecx, 1000);
    mov(dx, 0x80);
    L("again");
    out_(dx, al);
    dec(ecx);
    jnz("again");
    mov(dx, Machine::kExitPort);
    xor_(eax, eax);
    out_(dx, eax);
  }
};

TEST_F(KvmTest, KvmsOwnStatisticsAgreeWithVpiosExitCounts) {
  ThousandOuts gen;
  auto machine = make_machine(code_of(gen));
  KvmStatsFile stats = KvmStatsFile::open_for(machine->vcpu().fd());
  EXPECT_FALSE(stats.id().empty());
  const KvmStatsSnapshot before = stats.read();
  ASSERT_TRUE(before.contains("exits"));
  ASSERT_TRUE(before.contains("io_exits"));
  const GuestOutcome outcome = run(*machine);
  ASSERT_TRUE(outcome.ok()) << outcome.detail;
  const KvmStatsSnapshot delta = stats_delta(before, stats.read());
  const ExitCounters& c = machine->counters();
  // Every port access exits to vpio: 1000 outs and the exit-port write.
  EXPECT_EQ(c.by_reason[KVM_EXIT_IO].load(), 1001u);
  EXPECT_EQ(delta.at("io_exits").at(0), c.by_reason[KVM_EXIT_IO].load());
  // KVM counts every exit, also those it handles itself (interrupts, NPF).
  EXPECT_GE(delta.at("exits").at(0), c.userspace_exits.load());
}

}  // namespace
}  // namespace vpio::test

// The foundation on real KVM: booting, console, exit status, crashes, machine
// checks, interrupts and string I/O.
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>

#include "app/launcher.hpp"
#include "support.hpp"

namespace vpio::test {
namespace {

using Kind = GuestOutcome::Kind;

TEST_F(KvmTest, HelloPrintsAndExitsZero) {
  auto machine = make_machine(guest_image("hello"), "hello");
  GuestOutcome outcome = run(*machine);
  EXPECT_EQ(outcome.kind, Kind::exited) << outcome.detail;
  EXPECT_EQ(outcome.status, 0u);
  EXPECT_NE(machine->console_transcript().find("Hello from a vpio guest!\n"), std::string::npos)
      << machine->console_transcript();
  EXPECT_NE(console_text_.str().find("[hello] Hello from a vpio guest!"), std::string::npos);
}

TEST_F(KvmTest, VpioRunPrintsHello) {
  auto result = run_command(vpio_binary() + " run " + build_path("guests/hello.img"));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("Hello from a vpio guest!"), std::string::npos) << result.output;
  // One guest: no prefix on its lines.
  EXPECT_EQ(result.output.find("[hello]"), std::string::npos) << result.output;
}

TEST_F(KvmTest, StatsJsonAgreesWithWhatTheGuestsDid) {
  const std::string stats = testing::TempDir() + "stats.json";
  auto result =
      run_command(vpio_binary() + " run -q --stats " + stats + " " +
                  build_path("guests/hello.img") + " " + build_path("guests/exit_status.img"));
  ASSERT_EQ(result.exit_code, 42) << result.output;
  std::ifstream in(stats);
  nlohmann::json json = nlohmann::json::parse(in);
  ASSERT_EQ(json["schema"], "vpio-run-stats/1");
  ASSERT_EQ(json["guests"].size(), 2u);
  const auto& hello = json["guests"][0];
  EXPECT_EQ(hello["name"], "hello");
  EXPECT_EQ(hello["outcome"], "exited");
  EXPECT_EQ(hello["status"], 0);
  EXPECT_EQ(json["guests"][1]["status"], 42);
  // Every console byte is one port access (one exit: rep outsb is not
  // batched), plus the write to the exit port.
  std::string printed;
  std::istringstream lines(result.output);
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("[hello] ")) printed += line.substr(8) + "\n";
  ASSERT_FALSE(printed.empty()) << result.output;
  EXPECT_EQ(hello["port_accesses"].get<std::uint64_t>(), printed.size() + 1);
  EXPECT_EQ(hello["kvm_exits_by_reason"]["io"].get<std::uint64_t>(), printed.size() + 1);
  std::uint64_t sum = 0;
  for (const auto& [reason, count] : hello["kvm_exits_by_reason"].items())
    sum += count.get<std::uint64_t>();
  EXPECT_EQ(hello["kvm_exits_to_userspace"].get<std::uint64_t>(), sum);
}

TEST_F(KvmTest, ExitStatusComesBackThroughVpioRun) {
  auto result = run_command(vpio_binary() + " run " + build_path("guests/exit_status.img"));
  EXPECT_EQ(result.exit_code, 42) << result.output;
  EXPECT_NE(result.output.find("exiting with status 42"), std::string::npos) << result.output;
}

TEST_F(KvmTest, ExitStatusIsThirtyTwoBitsWide) {
  struct Exit : Xbyak::CodeGenerator {
    Exit() {
      mov(eax, 0x12345678);
      mov(dx, Machine::kExitPort);
      out_(dx, eax);
      hlt();
    }
  } gen;
  auto machine = make_machine(code_of(gen));
  GuestOutcome outcome = run(*machine);
  EXPECT_EQ(outcome.kind, Kind::exited) << outcome.detail;
  EXPECT_EQ(outcome.status, 0x12345678u);
}

struct TripleFault : Xbyak::CodeGenerator {
  // No IDT is loaded at entry, so #UD escalates to a triple fault.
  TripleFault() { ud2(); }
};

TEST_F(KvmTest, TripleFaultIsACrashWhileAnotherGuestCompletes) {
  TripleFault gen;
  std::vector<std::unique_ptr<Machine>> machines;
  machines.push_back(make_machine(code_of(gen), "faulty"));
  machines.push_back(make_machine(guest_image("console_flood"), "flood"));
  auto outcomes = run_concurrently(machines, kDeadline);
  EXPECT_EQ(outcomes[0].kind, Kind::crashed);
  EXPECT_NE(outcomes[0].detail.find("triple fault"), std::string::npos) << outcomes[0].detail;
  EXPECT_EQ(outcomes[1].kind, Kind::exited) << outcomes[1].detail;
  EXPECT_EQ(outcomes[1].status, 0u);
  EXPECT_EQ(machines[1]->console_transcript().size(), 64000u);
  EXPECT_EQ(exit_code_for(outcomes), kExitGuestCrashed);
}

TEST_F(KvmTest, VpioRunReportsACrashedGuestAndRunsTheOther) {
  TripleFault gen;
  std::string faulty = write_temp_image(code_of(gen), "faulty.img");
  auto result =
      run_command(vpio_binary() + " run " + faulty + " " + build_path("guests/hello.img"));
  EXPECT_EQ(result.exit_code, kExitGuestCrashed) << result.output;
  EXPECT_NE(result.output.find("guest 'faulty' crashed: triple fault"), std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("[hello] Hello from a vpio guest!"), std::string::npos)
      << result.output;
}

// Injects a machine check when the guest writes the trigger port.
class MachineCheckTrigger final : public PortDevice {
 public:
  MachineCheckTrigger(Machine& machine, MachineCheck event) : machine_(machine), event_(event) {}
  std::uint32_t port_read(std::uint16_t, unsigned) noexcept override { return 0; }
  void port_write(std::uint16_t, unsigned, std::uint32_t) noexcept override {
    accepted_ = machine_.inject_machine_check(event_);
  }
  bool accepted_ = false;

 private:
  Machine& machine_;
  MachineCheck event_;
};

TEST_F(KvmTest, MachineCheckReachesTheGuestHandlerWithBankContents) {
  auto machine = make_machine(guest_image("machine_check"), "mce");
  MachineCheck event;
  event.bank = 1;
  event.status = mce::kStatusVal | mce::kStatusUc | mce::kStatusEn | mce::kStatusAddrv |
                 mce::kStatusMiscv | 0x0123;
  event.addr = 0x4abc;
  event.misc = 0x86;
  MachineCheckTrigger trigger(*machine, event);
  machine->ports().add(0x510, 1, trigger, "mce-trigger");
  GuestOutcome outcome = run(*machine);
  EXPECT_TRUE(trigger.accepted_);
  EXPECT_EQ(outcome.kind, Kind::exited) << outcome.detail << machine->console_transcript();
  EXPECT_EQ(outcome.status, 0u) << machine->console_transcript();
  char expected[200];
  std::snprintf(expected, sizeof expected,
                "machine check: bank=1 status=0x%llx addr=0x4abc misc=0x86 mcg_status=0x5\n",
                static_cast<unsigned long long>(event.status));
  EXPECT_NE(machine->console_transcript().find(expected), std::string::npos)
      << "expected: " << expected << "got: " << machine->console_transcript();
  EXPECT_EQ(machine->counters().machine_checks_delivered.load(), 1u);
}

TEST_F(KvmTest, MachineCheckOnAMissingBankIsRefused) {
  auto machine = make_machine(guest_image("hello"));
  MachineCheck event;
  event.bank = kMachineCheckBanks;
  event.status = mce::kStatusVal | mce::kStatusUc;
  EXPECT_FALSE(machine->inject_machine_check(event));
}

TEST_F(KvmTest, RepOutsbOfALongBufferArrivesComplete) {
  auto machine = make_machine(guest_image("console_flood"), "flood");
  GuestOutcome outcome = run(*machine);
  ASSERT_EQ(outcome.kind, Kind::exited) << outcome.detail;
  std::string expected;
  for (unsigned line = 0; line < 1000; ++line) {
    char head[16];
    std::snprintf(head, sizeof head, "line %04u ", line);
    expected += head;
    for (unsigned i = 10; i < 63; ++i) expected += static_cast<char>('a' + (line + i) % 26);
    expected += '\n';
  }
  EXPECT_EQ(machine->console_transcript(), expected);
  // Every byte is one port access, plus the exit port. (KVM's emulator hands
  // `rep outs` to userspace one element per exit; `rep ins` comes batched.)
  EXPECT_EQ(machine->counters().port_accesses.load(), 64001u);
}

// Serves an incrementing 16-bit counter, one value per element read.
class CountingPort final : public PortDevice {
 public:
  std::uint32_t port_read(std::uint16_t, unsigned) noexcept override { return next_++; }
  void port_write(std::uint16_t, unsigned, std::uint32_t) noexcept override {}
  void port_read_string(std::uint16_t offset, unsigned size,
                        std::span<std::uint8_t> data) noexcept override {
    ++string_calls_;
    PortDevice::port_read_string(offset, size, data);
  }
  std::uint16_t next_ = 0;
  unsigned string_calls_ = 0;
};

TEST_F(KvmTest, RepInswArrivesInFewExitsWithEveryElement) {
  constexpr std::uint32_t kWords = 4096;
  constexpr std::uint32_t kBuffer = 0x200000;
  struct Insw : Xbyak::CodeGenerator {
    Insw() {
      mov(edi, kBuffer);
      mov(ecx, kWords);
      mov(dx, 0x520);
      // rep insw: Xbyak has no mnemonic for it.
      db(0x66);
      rep();
      db(0x6d);
      xor_(eax, eax);
      mov(dx, Machine::kExitPort);
      out_(dx, eax);
    }
  } gen;
  auto machine = make_machine(code_of(gen));
  CountingPort counter;
  machine->ports().add(0x520, 2, counter, "counter");
  GuestOutcome outcome = run(*machine);
  ASSERT_EQ(outcome.kind, Kind::exited) << outcome.detail;
  auto words = machine->memory().bytes(kBuffer, kWords * 2);
  ASSERT_EQ(words.size(), kWords * 2u);
  for (std::uint32_t i = 0; i < kWords; ++i)
    ASSERT_EQ(load_element(words.data() + 2 * i, 2), i) << "word " << i;
  EXPECT_EQ(counter.next_, kWords);
  EXPECT_EQ(machine->counters().port_accesses.load(), kWords + 1);
  // 8 KiB in one instruction: KVM's emulator reads ahead up to 1 KiB per exit
  // (measured in the lab: 8 exits for the data, 1 for the exit port).
  EXPECT_LE(machine->counters().by_reason[KVM_EXIT_IO].load(), kWords * 2 / 1024 + 1);
  EXPECT_GE(counter.string_calls_, 2u);
}

TEST_F(KvmTest, HltWithInterruptsDisabledEndsTheGuest) {
  struct Halt : Xbyak::CodeGenerator {
    Halt() {
      cli();
      hlt();
    }
  } gen;
  auto machine = make_machine(code_of(gen));
  GuestOutcome outcome = run(*machine);
  EXPECT_EQ(outcome.kind, Kind::halted) << outcome.detail;
  EXPECT_EQ(outcome.status, 0u);
}

TEST_F(KvmTest, MmioToAnUnbackedAddressIsReported) {
  struct Mmio : Xbyak::CodeGenerator {
    Mmio() {
      mov(eax, 0xd0000000);
      mov(dword[rax], 0x1234);
      hlt();
    }
  } gen;
  auto machine = make_machine(code_of(gen));
  GuestOutcome outcome = run(*machine);
  EXPECT_EQ(outcome.kind, Kind::crashed);
  EXPECT_NE(outcome.detail.find("MMIO write of 4 bytes to unbacked address 0xd0000000"),
            std::string::npos)
      << outcome.detail;
}

// Raises IRQ 5 from another thread a little after each request, so the
// interrupt arrives while the guest waits in HLT or runs.
class InterruptRequester final : public PortDevice {
 public:
  explicit InterruptRequester(Machine& machine) : machine_(machine) {}
  ~InterruptRequester() override {
    for (auto& t : threads_) t.join();
  }
  std::uint32_t port_read(std::uint16_t, unsigned) noexcept override { return 0; }
  void port_write(std::uint16_t, unsigned, std::uint32_t) noexcept override {
    threads_.emplace_back([this] {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      machine_.raise_irq(5);
    });
  }

 private:
  Machine& machine_;
  std::vector<std::thread> threads_;
};

TEST_F(KvmTest, InterruptsRaisedFromAnotherThreadReachTheGuest) {
  auto machine = make_machine(guest_image("interrupts"), "irq");
  InterruptRequester requester(*machine);
  machine->ports().add(0x511, 1, requester, "irq-requester");
  machine->add_interrupt_source();
  GuestOutcome outcome = run(*machine);
  EXPECT_EQ(outcome.kind, Kind::exited) << outcome.detail << machine->console_transcript();
  EXPECT_EQ(outcome.status, 0u) << machine->console_transcript();
  EXPECT_NE(machine->console_transcript().find("interrupts received: 20"), std::string::npos)
      << machine->console_transcript();
  EXPECT_EQ(machine->counters().interrupts_injected.load(), 20u);
}

TEST_F(KvmTest, TheDeadlineStopsASpinningGuest) {
  auto machine = make_machine(spin_forever_code());
  auto outcomes = run_concurrently(std::vector<Machine*>{machine.get()}, std::chrono::seconds(2));
  EXPECT_EQ(outcomes[0].kind, Kind::stopped) << outcomes[0].detail;
  EXPECT_NE(outcomes[0].detail.find("still running after 2000 ms"), std::string::npos);
  EXPECT_TRUE(outcomes[0].timed_out);
  EXPECT_EQ(exit_code_for(outcomes), kExitTimedOut);
}

// A device whose reads never return: the vCPU thread that reads it is stuck
// in the VMM, where a stop request cannot reach it.
class NeverAnswers final : public PortDevice {
 public:
  std::uint32_t port_read(std::uint16_t, unsigned) noexcept override {
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
  }
  void port_write(std::uint16_t, unsigned, std::uint32_t) noexcept override {}
};

std::vector<std::uint8_t> read_port_0x512_code() {
  struct Read : Xbyak::CodeGenerator {
    Read() {
      mov(dx, 0x512);
      in_(al, dx);
      L("again");
      jmp("again");
    }
  } gen;
  return code_of(gen);
}

// --timeout must end a run even when a vCPU thread is stuck in the VMM: the
// process names the guest and the exit it is stuck in, and exits 71 (the
// VMM failed), kStopGrace after the deadline, instead of hanging.
TEST_F(KvmTest, ADeadlineEndsARunWhoseVcpuThreadIsStuckInTheVmm) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto machine = make_machine(read_port_0x512_code(), "stuck");
        NeverAnswers device;
        machine->ports().add(0x512, 1, device, "never-answers");
        run_concurrently(std::vector<Machine*>{machine.get()}, std::chrono::seconds(1));
        std::_Exit(0);  // not reached: the run must end the process
      },
      testing::ExitedWithCode(kExitVmmFailure),
      "guest 'stuck' did not stop within 10 s of the --timeout: its vCPU thread is stuck in the "
      "VMM, handling a KVM exit \\(io, port 0x512\\) for [0-9]+ ms");
}

// `vpio run --timeout` stopping a guest exits 124, as coreutils' timeout,
// not 71 (the VMM failed), and says which guest it stopped.
TEST_F(KvmTest, VpioRunStoppedByTimeoutExits124) {
  const std::string spin = write_temp_image(spin_forever_code(), "spin.img");
  const auto result = run_command(vpio_binary() + " run --timeout 1 " + spin + " " +
                                  build_path("guests/hello.img"));
  EXPECT_EQ(result.exit_code, kExitTimedOut) << result.output;
  EXPECT_NE(result.output.find("guest 'spin' stopped: still running after 1000 ms"),
            std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("[hello] Hello from a vpio guest!"), std::string::npos)
      << result.output;
}

// A signal that stops `vpio run` gives 128 + its number, as a shell reports
// a command a signal ended (130 for Ctrl-C's SIGINT, 143 for SIGTERM), after
// the guests were stopped and the exit report printed. coreutils' timeout
// sends the signal; --preserve-status passes vpio's own status on.
TEST_F(KvmTest, VpioRunStoppedBySignalExits128PlusIt) {
  const std::string spin = write_temp_image(spin_forever_code(), "spin.img");
  for (const auto& [name, code] : {std::pair{"INT", 130}, std::pair{"TERM", 143}}) {
    const auto result = run_command(std::string("timeout --preserve-status -s ") + name + " 3 " +
                                    vpio_binary() + " run --timeout 120 " + spin);
    EXPECT_EQ(result.exit_code, code) << name << ": " << result.output;
    EXPECT_NE(result.output.find(std::string(" on SIG") + name), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("vpio: guest"), std::string::npos)  // the exit report
        << result.output;
  }
}

TEST_F(KvmTest, HaltWithNothingToWakeItEndsTheGuest) {
  struct Sleep : Xbyak::CodeGenerator {
    Sleep() {
      sti();
      hlt();
      hlt();
    }
  } gen;
  auto machine = make_machine(code_of(gen));
  GuestOutcome outcome = run(*machine);
  EXPECT_EQ(outcome.kind, Kind::halted) << outcome.detail;
  EXPECT_NE(outcome.detail.find("no device can interrupt"), std::string::npos) << outcome.detail;
}

TEST_F(KvmTest, UnclaimedPortsReadAllOnes) {
  struct Probe : Xbyak::CodeGenerator {
    Probe() {
      mov(dx, 0x3f8);
      in_(al, dx);
      movzx(eax, al);
      mov(dx, Machine::kExitPort);
      out_(dx, eax);
    }
  } gen;
  auto machine = make_machine(code_of(gen));
  GuestOutcome outcome = run(*machine);
  EXPECT_EQ(outcome.kind, Kind::exited) << outcome.detail;
  EXPECT_EQ(outcome.status, 0xffu);
  EXPECT_EQ(machine->counters().unclaimed_accesses.load(), 1u);
}

}  // namespace
}  // namespace vpio::test

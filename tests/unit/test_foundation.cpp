// Host-only tests of the foundation: the port range map, guest memory bounds,
// exit codes, the console, image loading and the command line's input checks.
#include <gtest/gtest.h>
#include <sys/io.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "app/launcher.hpp"
#include "hooks/port_bus.hpp"
#include "vmm/console.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/machine.hpp"

namespace vpio {
namespace {

class RecordingDevice final : public PortDevice {
 public:
  std::uint32_t port_read(std::uint16_t offset, unsigned size) noexcept override {
    return 0x100u * offset + size;
  }
  void port_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept override {
    writes.push_back({offset, size, value});
  }
  struct Write {
    std::uint16_t offset;
    unsigned size;
    std::uint32_t value;
  };
  std::vector<Write> writes;
};

TEST(PortBus, FindsTheRangeHoldingAPort) {
  PortBus bus;
  RecordingDevice a, b;
  bus.add(0x300, 0x20, a, "nic");
  bus.add(0xe9, 1, b, "console");
  ASSERT_NE(bus.find(0x300), nullptr);
  EXPECT_EQ(bus.find(0x31f)->device, &a);
  EXPECT_EQ(bus.find(0x320), nullptr);
  EXPECT_EQ(bus.find(0x2ff), nullptr);
  EXPECT_EQ(bus.find(0xe9)->device, &b);
  EXPECT_EQ(bus.find(0xe8), nullptr);
  EXPECT_EQ(bus.find(0), nullptr);
  EXPECT_EQ(bus.find(0xffff), nullptr);
}

TEST(PortBus, RejectsOverlapsNamingBothRanges) {
  PortBus bus;
  RecordingDevice a;
  bus.add(0x300, 0x20, a, "nic");
  try {
    bus.add(0x31f, 2, a, "other");
    FAIL() << "overlap accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'other'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'nic' (0x300-0x31f)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(bus.add(0x2f0, 0x11, a, "below"), std::invalid_argument);
  EXPECT_THROW(bus.add(0x2f0, 0x40, a, "around"), std::invalid_argument);
  EXPECT_THROW(bus.add(0x305, 1, a, "inside"), std::invalid_argument);
  EXPECT_NO_THROW(bus.add(0x2f0, 0x10, a, "adjacent below"));
  EXPECT_NO_THROW(bus.add(0x320, 0x10, a, "adjacent above"));
  EXPECT_THROW(bus.add(0x10, 0, a, "empty"), std::invalid_argument);
  EXPECT_THROW(bus.add(0xfff0, 0x20, a, "past the end"), std::invalid_argument);
  EXPECT_NO_THROW(bus.add(0xfff0, 0x10, a, "at the end"));
}

TEST(PortDevice, DefaultStringIoLoopsOverElements) {
  RecordingDevice d;
  std::uint8_t in[6] = {1, 0, 2, 0, 3, 0};
  d.port_write_string(4, 2, in);
  ASSERT_EQ(d.writes.size(), 3u);
  EXPECT_EQ(d.writes[2].value, 3u);
  EXPECT_EQ(d.writes[2].offset, 4u);
  std::uint8_t out[8] = {};
  d.port_read_string(2, 4, out);
  EXPECT_EQ(load_element(out + 4, 4), 0x204u);
}

TEST(GuestMemory, BoundsAreCheckedWithoutWrapAround) {
  GuestMemory memory(4 * kMiB);
  EXPECT_TRUE(memory.contains(0, 4 * kMiB));
  EXPECT_FALSE(memory.contains(1, 4 * kMiB));
  EXPECT_FALSE(memory.contains(4 * kMiB, 1));
  EXPECT_TRUE(memory.contains(4 * kMiB, 0));
  EXPECT_FALSE(memory.contains(~0ULL, 2));
  EXPECT_FALSE(memory.contains(16, ~0ULL - 8));
  EXPECT_TRUE(memory.bytes(~0ULL - 1, 4).empty());
  EXPECT_EQ(memory.bytes(100, 8).size(), 8u);
  EXPECT_TRUE(memory.write<std::uint32_t>(4 * kMiB - 4, 7));
  EXPECT_FALSE(memory.write<std::uint32_t>(4 * kMiB - 3, 7));
}

GuestOutcome outcome(GuestOutcome::Kind kind, std::uint32_t status) {
  GuestOutcome o;
  o.kind = kind;
  o.status = status;
  return o;
}

TEST(ExitCode, IsTheFirstNonZeroGuestStatus) {
  using K = GuestOutcome::Kind;
  EXPECT_EQ(exit_code_for({outcome(K::exited, 0), outcome(K::halted, 0)}), 0);
  EXPECT_EQ(exit_code_for({outcome(K::exited, 0), outcome(K::exited, 5), outcome(K::exited, 9)}),
            5);
  EXPECT_EQ(exit_code_for({outcome(K::exited, 0x100)}), 1);
  EXPECT_EQ(exit_code_for({outcome(K::exited, 0x1ff)}), 0xff);
  EXPECT_EQ(exit_code_for({outcome(K::crashed, 0), outcome(K::exited, 3)}), kExitGuestCrashed);
  // A crash or a stop outweighs guest statuses wherever it stands.
  EXPECT_EQ(exit_code_for({outcome(K::exited, 3), outcome(K::crashed, 0)}), kExitGuestCrashed);
  EXPECT_EQ(exit_code_for({outcome(K::exited, 3), outcome(K::stopped, 0)}), kExitVmmFailure);
  EXPECT_EQ(exit_code_for({outcome(K::stopped, 0), outcome(K::crashed, 0)}), kExitGuestCrashed);
  // A stop by the deadline (--timeout) has its own code, as coreutils'
  // timeout: 124, before any other stop; a crash still outweighs it.
  GuestOutcome timed_out = outcome(K::stopped, 0);
  timed_out.timed_out = true;
  EXPECT_EQ(kExitTimedOut, 124);
  EXPECT_EQ(exit_code_for({outcome(K::exited, 3), timed_out}), kExitTimedOut);
  EXPECT_EQ(exit_code_for({outcome(K::stopped, 0), timed_out}), kExitTimedOut);
  EXPECT_EQ(exit_code_for({timed_out, outcome(K::crashed, 0)}), kExitGuestCrashed);
  // A stop by a signal is 128 + its number, as a shell reports it; the
  // deadline and a crash still come first, and a signal that stopped no
  // guest (they had all ended) changes nothing.
  EXPECT_EQ(exit_code_for({outcome(K::exited, 3), outcome(K::stopped, 0)}, SIGINT), 130);
  EXPECT_EQ(exit_code_for({outcome(K::stopped, 0)}, SIGTERM), 143);
  EXPECT_EQ(exit_code_for({outcome(K::stopped, 0), timed_out}, SIGINT), kExitTimedOut);
  EXPECT_EQ(exit_code_for({outcome(K::stopped, 0), outcome(K::crashed, 0)}, SIGINT),
            kExitGuestCrashed);
  EXPECT_EQ(exit_code_for({outcome(K::exited, 3)}, SIGINT), 3);
}

TEST(Console, LinesArePrefixedOnlyWithSeveralGuests) {
  std::ostringstream several_text, one_text;
  ConsoleSink several(several_text, true), one(one_text, false);
  ConsolePort a("a", &several), b("b", &several), c("c", &one);
  const std::string text = "hello\r\nwor";
  a.port_write_string(0, 1, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  b.port_write(0, 1, 'x');
  b.port_write(0, 1, '\n');
  c.port_write(0, 4, 0x4100 | 'y');
  a.flush();
  c.flush();
  EXPECT_EQ(several_text.str(), "[a] hello\n[b] x\n[a] wor\n");
  EXPECT_EQ(one_text.str(), "y\n");
  EXPECT_EQ(a.transcript(), text);
}

// With --console-dir a guest's lines go to its own file, unprefixed; the
// others stay on the shared stream. A failed write is kept, not thrown.
TEST(Console, AGuestGivenAFileWritesItsLinesThereUnprefixed) {
  const std::string path = testing::TempDir() + "console-a.log";
  std::ostringstream shared;
  ConsoleSink sink(shared, true);
  ASSERT_FALSE(sink.send_to_file("a", path));
  ConsolePort a("a", &sink), b("b", &sink);
  const std::string text = "one\ntwo\r\nthree";
  a.port_write_string(0, 1, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  b.port_write(0, 1, 'x');
  b.port_write(0, 1, '\n');
  a.flush();
  std::ifstream in(path);
  std::stringstream file;
  file << in.rdbuf();
  EXPECT_EQ(file.str(), "one\ntwo\nthree\n");
  EXPECT_EQ(shared.str(), "[b] x\n");
  EXPECT_TRUE(sink.file_errors().empty());

  ConsoleSink full(shared, true);
  ASSERT_FALSE(full.send_to_file("c", "/dev/full"));
  full.line("c", "lost");
  full.line("c", "lost too");
  const auto errors = full.file_errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "/dev/full");
  EXPECT_EQ(errors[0].error, std::errc::no_space_on_device);
  EXPECT_EQ(full.send_to_file("d", "/nonexistent-vpio/d.log"),
            std::errc::no_such_file_or_directory);
}

// A guest's name is its image's stem; repeats get #2, #3, ..., skipping a
// name another image already has, so console files never collide.
TEST(GuestNames, AreTheImageStemsMadeUnique) {
  EXPECT_EQ(guest_names({"build/guests/net_echo.img", "x/net_sender.img"}),
            (std::vector<std::string>{"net_echo", "net_sender"}));
  EXPECT_EQ(guest_names({"a/hello.img", "b/hello.img", "hello.bin", "other"}),
            (std::vector<std::string>{"hello", "hello#2", "hello#3", "other"}));
  EXPECT_EQ(guest_names({"a#2.img", "a.img", "a.img", "a.img"}),
            (std::vector<std::string>{"a#2", "a", "a#3", "a#4"}));
  EXPECT_EQ(guest_names({"a.img", "a.img", "a#2.img"}),
            (std::vector<std::string>{"a", "a#2", "a#2#2"}));
}

TEST(Image, ErrorsNameTheFile) {
  std::string missing = testing::TempDir() + "no-such.img";
  try {
    read_image(missing, kDefaultRamBytes);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos);
  }
  std::string big = testing::TempDir() + "big.img";
  {
    std::ofstream out(big, std::ios::binary);
    out.seekp(static_cast<std::streamoff>(3 * kMiB));
    out.put('x');
  }
  EXPECT_THROW(read_image(big, 4 * kMiB), std::runtime_error);
  EXPECT_NO_THROW(read_image(big, 8 * kMiB));
  std::string empty = testing::TempDir() + "empty.img";
  { std::ofstream out(empty); }
  EXPECT_THROW(read_image(empty, kDefaultRamBytes), std::runtime_error);
}

struct Result {
  int code;
  std::string output;
};

// no_lab: a check that failed to reject its input must not boot the lab;
// false only where the input is one the lab path itself must refuse.
Result vpio(const std::string& args, bool no_lab = true) {
  std::string command = std::string(VPIO_BUILD_DIR) + "/vpio " + args + " 2>&1";
  if (no_lab && args.starts_with("run "))
    command = std::string(VPIO_BUILD_DIR) + "/vpio run --no-lab " + args.substr(4) + " 2>&1";
  if (no_lab && args.starts_with("profile ") && args.find("--report") == std::string::npos)
    command = std::string(VPIO_BUILD_DIR) + "/vpio profile --no-lab " + args.substr(8) + " 2>&1";
  Result r{-1, {}};
  FILE* pipe = ::popen(command.c_str(), "r");
  char buf[1024];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// A shell command line as it is, stdout only unless it redirects stderr.
Result vpio_shell(const std::string& command) {
  Result r{-1, {}};
  FILE* pipe = ::popen(command.c_str(), "r");
  char buf[1024];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  const int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Input errors are found before any VM (or the lab) is started.
TEST(CommandLine, BadInputGetsAOneLineErrorAndExitTwo) {
  auto r = vpio("run /nonexistent/guest.img");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/guest.img"), std::string::npos) << r.output;

  std::string big = testing::TempDir() + "toolarge.img";
  {
    std::ofstream out(big, std::ios::binary);
    out.seekp(static_cast<std::streamoff>(70 * kMiB));
    out.put('x');
  }
  r = vpio("run " + big);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("fit in 64 MiB of RAM"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("toolarge.img"), std::string::npos) << r.output;

  r = vpio("run --ram 1 " + big);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--ram"), std::string::npos) << r.output;
  r = vpio("run --ram lots " + big);
  EXPECT_EQ(r.code, 2) << r.output;
  r = vpio("run");
  EXPECT_EQ(r.code, 2) << r.output;
  r = vpio("fly");
  EXPECT_EQ(r.code, 2) << r.output;
  // Port clashes are input errors, found before any VM exists.
  std::string small = testing::TempDir() + "small.img";
  {
    std::ofstream out(small, std::ios::binary);
    out.put('\xf4');
  }
  r = vpio("run --nic emulate,port=0xe0 " + small);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("'console'"), std::string::npos) << r.output;
  r = vpio("run --nic emulate --nic emulate " + small);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("overlaps"), std::string::npos) << r.output;
  r = vpio("run --nic emulate,guest=1 " + small);
  EXPECT_EQ(r.code, 2) << r.output;
  // A card is shared by vpio or given by passthrough, not both; it holds at
  // most 8 vpio guests; a queue needs room for a frame.
  r = vpio("run --nic vpio,guest=0 --nic passthrough,guest=1,port=0x280 " + small + " " + small);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("one or the other"), std::string::npos) << r.output;
  std::string nine;
  for (int i = 0; i < 9; ++i) nine += " " + small;
  r = vpio("run --nic vpio" + nine);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("at most 8"), std::string::npos) << r.output;
  r = vpio("run --nic vpio,queue=0 " + small);
  EXPECT_EQ(r.code, 2) << r.output;
  // Passthrough gives a card whole to one guest: sharing it is refused.
  r = vpio("run --nic passthrough " + small + " " + small);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("cannot share"), std::string::npos) << r.output;
  r = vpio("run --nic passthrough,guest=0 --nic passthrough,guest=1,port=0x280 " + small + " " +
           small);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("given by passthrough to guests 0 and 1"), std::string::npos) << r.output;
  // A host card needs a known base; a card on the lab VM needs --lab-nic.
  r = vpio("run --nic vpio,hw=port:0x301 " + small);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("bad hw 'port:0x301'"), std::string::npos) << r.output;
  r = vpio("run --nic vpio,hw=card " + small);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("port:BASE"), std::string::npos) << r.output;
  // A guest's card starts its 0x20 ports at a multiple of 0x20.
  r = vpio("run --nic emulate,port=0x301 " + small);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_EQ(r.output,
            "vpio: --nic: port=0x301: an NE2000's window is 0x20 ports, so its base must be a "
            "multiple of 0x20 (e.g. 0x300, 0x320, 0x280)\n");
  r = vpio("run --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("--ram"), std::string::npos);
}

// --help as people read it: plain metavariables (MIB, SECONDS, FILE), limits
// and defaults in words, none of CLI11's type notation, lines within 80
// columns, the exit statuses and where the exit report is explained.
TEST(CommandLine, HelpShowsPlainMetavariablesAndTheExitStatuses) {
  for (const char* command : {"--help", "run --help", "profile --help", "kvm-info --help"}) {
    SCOPED_TRACE(command);
    const Result r = vpio(command, /*no_lab=*/false);
    EXPECT_EQ(r.code, 0) << r.output;
    for (const char* noise : {"UINT", "TEXT", ":FILE", "=64", "=20", "in [", "=vpio-profile"})
      EXPECT_EQ(r.output.find(noise), std::string::npos) << noise << " in\n" << r.output;
    std::istringstream lines(r.output);
    for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 80u) << line;
  }
  const Result run = vpio("run --help", /*no_lab=*/false);
  for (const char* part :
       {"--ram MIB", "RAM of each guest in MiB, 2 to 3072 (default 64)", "--timeout SECONDS",
        "exit 124", "--stats FILE", "- for stdout", "docs/run-stats.md", "What the guest sees",
        "What the host provides", "0xc000, clear of COM1)", "IMAGE ..."})
    EXPECT_NE(run.output.find(part), std::string::npos) << part << " not in\n" << run.output;
  const Result profile = vpio("profile --help", /*no_lab=*/false);
  EXPECT_NE(profile.output.find("--top N"), std::string::npos) << profile.output;
  EXPECT_NE(profile.output.find("vpio-profile.json; - for stdout)"), std::string::npos)
      << profile.output;
}

// `vpio --version` (or -V) prints "vpio VERSION" on stdout, the project's
// version first, and exits 0, as coreutils' tools do; no subcommand needed.
TEST(CommandLine, VersionPrintsTheProjectVersionAndExitsZero) {
  for (const char* flag : {"--version", "-V"}) {
    const Result r = vpio(flag);
    EXPECT_EQ(r.code, 0) << flag << ": " << r.output;
    EXPECT_TRUE(r.output.starts_with("vpio " VPIO_VERSION)) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  }
}

// In the KVM lab (asked for, or the host has no usable /dev/kvm) the lab VM
// has no card unless given one: hw=port is refused before the lab boots,
// with the option that helps.
TEST(CommandLine, AHostCardInTheLabNeedsALabCard) {
  // Not under /tmp, which the lab cannot see (refused first otherwise).
  std::string small = std::string(VPIO_BUILD_DIR) + "/host-card-test.img";
  {
    std::ofstream out(small, std::ios::binary);
    out.put('\xf4');
  }
  const Result r = vpio("run --lab --nic vpio,hw=port:0x300 " + small, /*no_lab=*/false);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--lab-nic ne2k-isa,iobase=0x300"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("running inside the KVM lab"), std::string::npos) << r.output;
}

// On the host's KVM a host card needs the host's ports: without them (no
// root, or a kernel without ioperm such as a PVM guest's) the run is refused
// before any guest is set up, naming the lab's card as the way out.
TEST(CommandLine, AHostCardOutOfReachIsRefusedNamingTheLabCard) {
  constexpr unsigned kBase = 0x300, kPorts = 0x20;
  if (::ioperm(kBase, kPorts, 1) == 0) {
    ::ioperm(kBase, kPorts, 0);
    GTEST_SKIP() << "this process may use ioperm: hw=port would probe the host's real ports";
  }
  const std::string small = testing::TempDir() + "host-card-test.img";
  {
    std::ofstream out(small, std::ios::binary);
    out.put('\xf4');
  }
  const Result r = vpio("run --nic vpio,hw=port:0x300 " + small);  // adds --no-lab
  EXPECT_EQ(r.code, kExitVmmFailure) << r.output;
  EXPECT_NE(r.output.find("ioperm(0x300, 32 ports) failed"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("add --lab-nic ne2k-isa,iobase=0x300 and drop --no-lab"),
            std::string::npos)
      << r.output;
}

// --no-lab cannot be met together with a request for the lab.
TEST(CommandLine, NoLabWithLabOrLabNicIsAnInputError) {
  const std::string image = std::string(VPIO_BUILD_DIR) + "/guests/hello.img";
  auto r = vpio("run --lab --no-lab " + image, /*no_lab=*/false);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--no-lab and --lab contradict"), std::string::npos) << r.output;
  r = vpio("profile --no-lab --lab-nic ne2k-isa,iobase=0x300 " + image, /*no_lab=*/false);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--no-lab and --lab-nic contradict"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("running inside the KVM lab"), std::string::npos) << r.output;
  const std::string saved = testing::TempDir() + "saved-for-lab.json";
  std::ofstream(saved) << R"({"schema": "vpio-profile/1", "guests": []})";
  r = vpio("profile --report " + saved + " --lab");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--lab does not apply"), std::string::npos) << r.output;
}

TEST(CommandLine, ProfileReportRefusesWhatIsNotAProfile) {
  const std::string bad = testing::TempDir() + "not-a-profile.json";
  std::ofstream(bad) << R"({"schema": "vpio-run-stats/1", "guests": []})";
  auto result = vpio("profile --report " + bad);
  EXPECT_EQ(result.code, 2) << result.output;
  EXPECT_NE(
      result.output.find("schema is 'vpio-run-stats/1', expected vpio-profile/2 or vpio-profile/1"),
      std::string::npos)
      << result.output;
  const std::string broken = testing::TempDir() + "broken.json";
  std::ofstream(broken) << R"({"schema": )";
  result = vpio("profile --report " + broken);
  EXPECT_EQ(result.code, 2) << result.output;
  EXPECT_NE(result.output.find(broken), std::string::npos) << result.output;
  result =
      vpio("profile --report " + bad + " " + std::string(VPIO_BUILD_DIR) + "/guests/hello.img");
  EXPECT_EQ(result.code, 2) << result.output;
  result = vpio("profile");
  EXPECT_EQ(result.code, 2) << result.output;
  EXPECT_NE(result.output.find("give at least one guest image"), std::string::npos);
}

// `vpio kvm-info` describes this host's KVM, never the lab's: without a usable
// /dev/kvm it fails with the reason.
TEST(CommandLine, KvmInfoNamesThisHostsKvmOrWhyThereIsNone) {
  const Result r = vpio("kvm-info");
  if (::access("/dev/kvm", R_OK | W_OK) != 0) {
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("vpio: no usable KVM on this host: open /dev/kvm"), std::string::npos)
        << r.output;
  } else {
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("KVM API:        12\n"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("KVM_CAP_BINARY_STATS_FD"), std::string::npos) << r.output;
  }
}

// In the lab only the current directory is writable: a profile elsewhere
// would be lost, so it is refused before the lab boots.
TEST(CommandLine, ProfileOptionsThatCannotWorkTogetherAreRefused) {
  const std::string image = std::string(VPIO_BUILD_DIR) + "/guests/hello.img";
  auto r = vpio("profile -o p.svg " + image);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--output and --svg both name 'p.svg'"), std::string::npos) << r.output;
  r = vpio("profile -o a.json --svg ./a.json " + image);
  EXPECT_EQ(r.code, 2) << r.output;
  const std::string saved = testing::TempDir() + "saved-profile.json";
  std::ofstream(saved) << R"({"schema": "vpio-profile/1", "guests": []})";
  r = vpio("profile --report " + saved + " --nic vpio");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--nic does not apply"), std::string::npos) << r.output;
  r = vpio("profile --report " + saved + " --svg " + saved);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("would overwrite the profile"), std::string::npos) << r.output;
  r = vpio("profile --report " + saved);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("no guests"), std::string::npos) << r.output;
}

// Writable here, but outside the current directory (the tests run in the
// build tree): the lab could not write them.
TEST(CommandLine, ProfileOutputOutsideTheLabsReachIsRefused) {
  const std::string json = testing::TempDir() + "outside-the-lab.json";
  auto r =
      vpio("profile --lab -o " + json + " " + std::string(VPIO_BUILD_DIR) + "/guests/hello.img",
           /*no_lab=*/false);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--output '" + json + "' must be below the current directory"),
            std::string::npos)
      << r.output;
  const std::string svg = testing::TempDir() + "outside-the-lab.svg";
  r = vpio("profile --lab --svg " + svg + " " + std::string(VPIO_BUILD_DIR) + "/guests/hello.img",
           /*no_lab=*/false);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--svg '" + svg + "'"), std::string::npos) << r.output;
}

std::string one_byte_image() {
  const std::string image = testing::TempDir() + "hlt.img";
  std::ofstream(image, std::ios::binary).put('\xf4');
  return image;
}

// An output the run could not write is bad input, refused before any guest
// runs: the one line of output is the refusal. On a host without /dev/kvm
// this also shows the check comes before KVM is opened (that would fail with
// exit 71); on one with it, a guest that ran would have left its exit report.
TEST(CommandLine, UnwritableOutputsAreRefusedBeforeAnyGuestRuns) {
  const std::string image = one_byte_image();
  const std::string directory = testing::TempDir() + "an-output-directory";
  std::filesystem::create_directories(directory);
  const std::pair<std::string, std::string> refused[] = {
      {"run --stats /nonexistent-vpio/x.json ",
       "vpio: --stats /nonexistent-vpio/x.json: No such file or directory\n"},
      {"run --pcap " + directory + " ", "vpio: --pcap " + directory + ": Is a directory\n"},
      {"run --stats /dev/full ", "vpio: --stats /dev/full: No space left on device\n"},
      {"run --nic emulate --pcap /dev/full ", "vpio: --pcap /dev/full: No space left on device\n"},
      {"profile -o /nonexistent-vpio/p.json ",
       "vpio: --output /nonexistent-vpio/p.json: No such file or directory\n"},
      {"profile -o " + testing::TempDir() + "p.json --svg " + directory + " ",
       "vpio: --svg " + directory + ": Is a directory\n"},
  };
  for (const auto& [args, message] : refused) {
    const Result r = vpio(args + image);
    EXPECT_EQ(r.code, 2) << args;
    EXPECT_EQ(r.output, message) << args;
  }
}

// "-" names stdout for --stats, --pcap, -o and --svg: never a file named
// "-", at most one of them, and a closed stdout is refused like any output.
TEST(CommandLine, DashIsStdoutForOneOutputOnly) {
  const std::string image = one_byte_image();
  const std::string directory = testing::TempDir() + "dash-cwd";
  std::filesystem::create_directories(directory);
  // Without /dev/kvm the run fails after the check (71); with it, it runs.
  const std::string run = "cd " + directory + " && " + VPIO_BUILD_DIR + "/vpio run --no-lab ";
  Result r = vpio_shell(run + "--stats - " + image + " 2>/dev/null");
  EXPECT_TRUE(r.code == 0 || r.code == kExitVmmFailure) << r.output;
  EXPECT_FALSE(std::filesystem::exists(directory + "/-"));
  if (r.code == 0) {
    EXPECT_TRUE(r.output.starts_with("{\n")) << r.output;
    EXPECT_NE(r.output.find("\n  \"schema\": \"vpio-run-stats/1\""), std::string::npos) << r.output;
  }
  r = vpio_shell(run + "--stats - " + image + " 2>&1 >&-");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_EQ(r.output, "vpio: --stats -: Bad file descriptor\n");
  const std::pair<std::string, std::string> refused[] = {
      {"run --stats - --pcap - ", "vpio: --pcap and --stats both name stdout ('-')"},
      {"profile --stats - -o - ", "vpio: --stats and --output both name stdout ('-')"},
      {"profile -o - --svg - ", "vpio: --output and --svg both name stdout ('-')"},
  };
  for (const auto& [args, message] : refused) {
    r = vpio(args + image);
    EXPECT_EQ(r.code, 2) << args << r.output;
    EXPECT_TRUE(r.output.starts_with(message)) << args << r.output;
  }
  EXPECT_FALSE(std::filesystem::exists(directory + "/-"));
}

// --console-dir is checked before any guest runs like the other outputs:
// a directory it cannot make or use is bad input; a directory it makes for
// the check is removed again when the run does not go ahead.
TEST(CommandLine, AnUnusableConsoleDirIsRefusedBeforeAnyGuestRuns) {
  const std::string image = one_byte_image();
  const std::string a_file = testing::TempDir() + "console-dir-file";
  std::ofstream(a_file) << "not a directory";
  const std::pair<std::string, std::string> refused[] = {
      {"run --console-dir /nonexistent-vpio/consoles ",
       "vpio: --console-dir /nonexistent-vpio/consoles: No such file or directory\n"},
      {"run --console-dir " + a_file + " ",
       "vpio: --console-dir " + a_file + ": Not a directory\n"},
      {"run --console-dir - ",
       "vpio: --console-dir -: give a directory (without it the consoles go to stdout)\n"},
  };
  for (const auto& [args, message] : refused) {
    const Result r = vpio(args + image);
    EXPECT_EQ(r.code, 2) << args;
    EXPECT_EQ(r.output, message) << args;
  }
  // A console file in the way as a directory: named with the file.
  const std::string dir = testing::TempDir() + "console-dir-taken";
  std::filesystem::create_directories(dir + "/hlt.log");
  Result r = vpio("run --console-dir " + dir + " " + image);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_EQ(r.output, "vpio: --console-dir " + dir + "/hlt.log: Is a directory\n");
  // Refused after the check (the lab cannot see /tmp): the new directory,
  // made for the check, is gone again.
  const std::string fresh = testing::TempDir() + "console-dir-fresh";
  std::filesystem::remove_all(fresh);
  r = vpio("run --lab --console-dir " + fresh + " " + image, /*no_lab=*/false);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("which the KVM lab cannot see"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(fresh));
  r = vpio("profile --report " + image + " --console-dir " + fresh);
  EXPECT_EQ(r.code, 2) << r.output;
}

TEST(CommandLine, ProfileReportRefusesAnUnwritableSvgBeforePrinting) {
  const std::string saved = testing::TempDir() + "saved-for-svg.json";
  std::ofstream(saved) << R"({"schema": "vpio-profile/1", "guests": []})";
  const Result r = vpio("profile --report " + saved + " --svg /dev/full");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_EQ(r.output, "vpio: --svg /dev/full: No space left on device\n");
}

TEST(CommandLine, AGroupMacIsRefusedAsACardsAddress) {
  const Result r = vpio("run --nic emulate,mac=ff:ff:ff:ff:ff:ff " + one_byte_image());
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(r.output.starts_with("vpio: --nic: mac 'ff:ff:ff:ff:ff:ff' is a group address"))
      << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
}

// A binary file given as a profile: named, said not to be one, and none of its
// bytes reach the terminal.
TEST(CommandLine, ProfileReportOfABinaryFileEchoesNoneOfIt) {
  const std::string binary = testing::TempDir() + "binary.json";
  std::ofstream(binary, std::ios::binary) << std::string("\x89PNG\r\n\x1a\n\xff\xfe\x00\x01", 12);
  const Result r = vpio("profile --report " + binary);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_EQ(r.output, "vpio: --report " + binary +
                          ": not a vpio profile: not JSON (parse error at byte 1)\n");
}

TEST(CommandLine, ProfileReportTopMustNotBeNegative) {
  const std::string saved = testing::TempDir() + "saved-for-top.json";
  std::ofstream(saved) << R"({"schema": "vpio-profile/1", "guests": []})";
  Result r = vpio("profile --report " + saved + " --top -1");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(r.output.starts_with("--top: -1 is negative; give 0 (every row) or more\n"))
      << r.output;
  r = vpio("profile --report " + saved + " --top 0");  // 0: every row
  EXPECT_EQ(r.code, 0) << r.output;
}

}  // namespace
}  // namespace vpio

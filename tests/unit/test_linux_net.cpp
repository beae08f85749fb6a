// The parts of the Linux network tests (tests/kvm/test_linux.cpp,
// LinuxNetTest) that need no KVM: the figures taken from a run's --stats
// and consoles, and the net initramfs made from the lab's kernel package.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "tests/support/lab_kernel.hpp"
#include "tests/support/linux_net.hpp"

namespace vpio::test {
namespace {

std::string shell(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return output;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) output.append(buf, n);
  ::pclose(pipe);
  return output;
}

TEST(LinuxNetFigures, TakesTheRatiosFromTheStatsAndTheThroughputFromTheConsole) {
  const auto stats = nlohmann::json::parse(R"({"schema": "vpio-run-stats/1", "guests": [
    {"name": "vmlinuz-6.1.0-57-amd64", "kvm_exits_to_userspace": 30000,
     "machine_checks_delivered": 0,
     "nics": [{"mode": "vpio", "port_accesses": 90000, "direct": 60000, "hooked": 3000,
               "coalesced": 27000, "frames_sent": 1000, "frames_received": 2000,
               "context_switches": 40, "violations": 0}]},
    {"name": "vmlinuz-6.1.0-57-amd64#2", "kvm_exits_to_userspace": 5,
     "nics": [{"mode": "emulate", "frames_sent": 0, "frames_received": 0}]},
    {"name": "hello", "kvm_exits_to_userspace": 7},
    {"name": "rtl", "kvm_exits_to_userspace": 100,
     "nics": [{"mode": "vpio", "port_accesses": 0, "direct": 0, "hooked": 0,
               "frames_sent": 5, "frames_received": 5,
               "mmio": {"direct_exits": 10, "hooked_exits": 30, "pages_mapped": 1}}]}]})");
  const std::vector<std::string> consoles = {
      "vpio-net: tcp sent 4194304 bytes to 10.0.15.2 in 128.00 s, 32.0 KiB/s, sha256 ab\n", ""};
  const auto figures = linux_net_figures(stats, consoles);
  ASSERT_EQ(figures.size(), 4u);
  // An MMIO window's exits count as the card's accesses (8139too's BAR1).
  EXPECT_EQ(figures[3].card_accesses, 40u);
  EXPECT_EQ(figures[3].hooked, 30u);
  EXPECT_EQ(figures[3].direct, 10u);
  EXPECT_DOUBLE_EQ(figures[3].hooked_fraction, 0.75);
  EXPECT_DOUBLE_EQ(figures[3].exits_per_frame, 10.0);
  EXPECT_EQ(figures[0].mode, "vpio");
  EXPECT_DOUBLE_EQ(figures[0].hooked_fraction, 1.0 / 30);
  EXPECT_DOUBLE_EQ(figures[0].exits_per_frame, 10.0);
  EXPECT_DOUBLE_EQ(figures[0].card_accesses_per_frame, 30.0);
  EXPECT_DOUBLE_EQ(figures[0].tcp_seconds, 128.0);
  EXPECT_DOUBLE_EQ(figures[0].tcp_kib_per_second, 32.0);
  EXPECT_EQ(figures[0].context_switches, 40u);
  // No frames, no card window counts, no console: zeros, not a division by 0.
  EXPECT_EQ(figures[1].mode, "emulate");
  EXPECT_EQ(figures[1].exits_per_frame, 0.0);
  EXPECT_EQ(figures[1].hooked_fraction, 0.0);
  EXPECT_EQ(figures[2].mode, "none");
  EXPECT_EQ(to_json(figures[0]).at("hooked"), 3000u);
}

// With the lab's kernel package in this machine's cache: the net initramfs
// is the base archive unchanged, then one holding the NICs' modules.
TEST(LinuxNetInitramfs, AppendsTheKernelPackagesNicDriversToTheBaseArchive) {
  const LabKernel kernel = find_lab_kernel();
  if (kernel.path.empty()) GTEST_SKIP() << kernel.why_absent;
  ASSERT_FALSE(kernel.module_dir.empty()) << kernel.path;
  const std::string base = std::string(VPIO_BUILD_DIR) + "/guests/linux/initramfs.cpio.gz";
  ASSERT_TRUE(std::filesystem::exists(base)) << base;
  const std::string out = testing::TempDir() + "initramfs-net.cpio.gz";
  std::filesystem::remove(out);
  const std::string made =
      shell(std::string(VPIO_SOURCE_DIR) + "/guests/linux/make-net-initramfs " + out + " " + base +
            " " + kernel.module_dir + " && echo made");
  ASSERT_NE(made.find("made"), std::string::npos) << made;
  const auto base_bytes = std::filesystem::file_size(base);
  EXPECT_EQ(shell("head -c " + std::to_string(base_bytes) + " " + out + " | cmp - " + base +
                  " && echo same"),
            "same\n");
  const std::string listing = shell("tail -c +" + std::to_string(base_bytes + 1) + " " + out +
                                    " | gzip -dc | cpio -it --quiet");
  EXPECT_NE(listing.find("lib/modules/8390.ko"), std::string::npos) << listing;
  for (const char* module : {"ne2k-pci", "mii", "8139too"})
    EXPECT_NE(listing.find(std::string("lib/modules/") + module + ".ko"), std::string::npos)
        << listing;
  const std::string base_listing = shell("gzip -dc " + base + " | cpio -it --quiet");
  for (const char* file : {"init", "bin/busybox", "bin/vpio-exit", "bin/vpio-ne2k-hostile"})
    EXPECT_NE(base_listing.find(file), std::string::npos) << base_listing;
  // A module tree that is none is refused, naming it.
  const std::string refused =
      shell(std::string(VPIO_SOURCE_DIR) + "/guests/linux/make-net-initramfs " + out + " " + base +
            " /nonexistent 2>&1; echo status $?");
  EXPECT_NE(refused.find("'/nonexistent' is not a kernel module tree"), std::string::npos)
      << refused;
  EXPECT_NE(refused.find("status 1"), std::string::npos) << refused;
}

}  // namespace
}  // namespace vpio::test

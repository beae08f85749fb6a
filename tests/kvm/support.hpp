// Helpers for KVM tests: guest images from the build, Xbyak-made guests, and
// running the vpio binary. These tests run on real KVM (the lab or /dev/kvm).
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <xbyak/xbyak.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "app/launcher.hpp"
#include "kvm/kvm_identity.hpp"
#include "profile/exit_profiler.hpp"
#include "vmm/machine.hpp"

namespace vpio::test {

inline std::string build_path(const std::string& relative) {
  return std::string(VPIO_BUILD_DIR) + "/" + relative;
}

inline std::vector<std::uint8_t> guest_image(const std::string& name) {
  return read_image(build_path("guests/" + name + ".img"), kDefaultRamBytes);
}

inline std::vector<std::uint8_t> code_of(const Xbyak::CodeGenerator& gen) {
  const auto* p = gen.getCode();
  return {p, p + gen.getSize()};
}

inline std::string write_temp_image(const std::vector<std::uint8_t>& image,
                                    const std::string& name) {
  std::string path = testing::TempDir() + name;
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(image.data()),
            static_cast<std::streamsize>(image.size()));
  return path;
}

// A guest that never ends by itself (`jmp` to itself): for deadlines,
// signals and progress lines.
inline std::vector<std::uint8_t> spin_forever_code() {
  struct Spin : Xbyak::CodeGenerator {
    Spin() {
      L("again");
      jmp("again");
    }
  } gen;
  return code_of(gen);
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline std::string vpio_binary() { return build_path("vpio"); }

// Every KVM test needs /dev/kvm; without it the test fails, never skips:
// tests/run-kvm-tests puts the suite inside the lab when the host has none.
class KvmTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::access("/dev/kvm", R_OK | W_OK), 0)
        << "no usable /dev/kvm: run this suite through tests/run-kvm-tests";
    kvm_ = std::make_unique<Kvm>();
  }

  // With `profile`, an ExitProfiler observes the machine: profile_of() reads it.
  std::unique_ptr<Machine> make_machine(std::vector<std::uint8_t> image,
                                        const std::string& name = "guest", bool profile = false) {
    MachineConfig config;
    config.name = name;
    std::shared_ptr<ExitProfiler> profiler;
    if (profile) profiler = std::make_shared<ExitProfiler>();
    config.observer = profiler;
    config.image = std::move(image);
    auto machine = std::make_unique<Machine>(*kvm_, std::move(config), &console_);
    if (profiler) {
      profilers_.push_back(profiler);
      profiled_.push_back(machine.get());
    }
    return machine;
  }

  // The profile of a machine made with `profile`, once it has run.
  const ExitProfile* profile_of(const Machine& machine) const {
    for (std::size_t i = 0; i < profiled_.size(); ++i)
      if (profiled_[i] == &machine) return &profilers_[i]->profile();
    return nullptr;
  }

  // A broken guest fails its test instead of hanging the whole suite.
  static constexpr std::chrono::milliseconds kDeadline{120'000};

  GuestOutcome run(Machine& machine) {
    return run_concurrently(std::vector<Machine*>{&machine}, kDeadline).front();
  }

  std::ostringstream console_text_;
  ConsoleSink console_{console_text_, true};
  std::unique_ptr<Kvm> kvm_;
  std::vector<std::shared_ptr<const ExitProfiler>> profilers_;
  std::vector<const Machine*> profiled_;
};

// The flavour vpio's KVM-counter rules were measured on (app/profile_json.cpp):
// kvm-amd in the lab. There every counter compared is kept and must agree
// exactly, or differ exactly as its rule says.
inline constexpr const char* kRulesMeasuredOn = "kvm_amd";

// A profile row comparing a KVM counter with vpio's, checked on any flavour:
// never unexplained; "not kept" only for a counter that reads 0 beside vpio's
// count > 0; not kept, not offered and differing only where the rule was not
// measured. What this flavour does differently is printed for the log.
inline void expect_kvm_row_holds(const nlohmann::json& row) {
  SCOPED_TRACE(row.dump(1));
  const std::string status = row.at("status");
  const bool measured_here = row.at("measured_here");
  EXPECT_NE(status, "unexplained");
  if (status == "not_kept") {
    EXPECT_EQ(row.at("kvm_value"), 0u);
    EXPECT_GT(row.at("vpio_value").get<std::uint64_t>(), 0u);
  }
  if (status != "agrees" && status != "explained") {
    EXPECT_FALSE(measured_here) << "on the measured flavour every counter is kept and explained";
    std::printf("[ kvm row ] %s: %s\n", row.at("kvm").get<std::string>().c_str(),
                row.at("explanation").get<std::string>().c_str());
  }
}

}  // namespace vpio::test

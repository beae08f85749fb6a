// The choice between the host's KVM and the KVM lab (--lab, --lab-nic,
// --no-lab), and the host KVM probe's refusals, on any host.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "app/lab_choice.hpp"
#include "kvm/kvm_probe.hpp"

namespace vpio {
namespace {

LabOptions options(bool lab, bool no_lab, std::string lab_nic = "") {
  return LabOptions{.lab = lab, .no_lab = no_lab, .lab_nic = std::move(lab_nic)};
}

// A host verdict that fails the test if the choice had to ask for it.
bool must_not_probe() {
  ADD_FAILURE() << "the host's KVM was probed though the options decided";
  return true;
}

TEST(LabChoice, TheHostsVerdictDecidesOnlyWithoutLabOptions) {
  EXPECT_EQ(choose_kvm_place({}, false, [] { return true; }), KvmPlace::host);
  EXPECT_EQ(choose_kvm_place({}, false, [] { return false; }), KvmPlace::lab);
}

TEST(LabChoice, LabAndLabNicAskForTheLabEvenWithAUsableHostKvm) {
  EXPECT_EQ(choose_kvm_place(options(true, false), false, must_not_probe), KvmPlace::lab);
  EXPECT_EQ(choose_kvm_place(options(false, false, "ne2k-isa,iobase=0x300"), false, must_not_probe),
            KvmPlace::lab);
}

TEST(LabChoice, NoLabAndBeingInsideTheLabRunHere) {
  EXPECT_EQ(choose_kvm_place(options(false, true), false, must_not_probe), KvmPlace::host);
  // The command re-run inside the lab carries --lab and --lab-nic with it.
  EXPECT_EQ(choose_kvm_place(options(true, false, "ne2k-isa"), true, must_not_probe),
            KvmPlace::host);
  EXPECT_EQ(choose_kvm_place({}, true, must_not_probe), KvmPlace::host);
}

TEST(LabChoice, NoLabWithLabOrLabNicIsRefusedNamingBoth) {
  for (const LabOptions& given : {options(true, true), options(false, true, "ne2k-pci")}) {
    try {
      check_lab_options(given);
      ADD_FAILURE() << "accepted contradicting options";
    } catch (const std::invalid_argument& e) {
      const std::string text = e.what();
      EXPECT_NE(text.find("--no-lab"), std::string::npos) << text;
      EXPECT_NE(text.find(given.lab ? "--lab " : "--lab-nic"), std::string::npos) << text;
    }
    EXPECT_THROW(choose_kvm_place(given, false, must_not_probe), std::invalid_argument);
  }
  EXPECT_NO_THROW(check_lab_options(options(true, false, "ne2k-isa")));
}

TEST(KvmProbe, AMissingOrWrongDeviceIsNotUsableAndSaysWhy) {
  const KvmProbe missing = probe_kvm("/nonexistent/kvm");
  EXPECT_FALSE(missing.usable);
  EXPECT_EQ(missing.reason, "/nonexistent/kvm does not exist");
  EXPECT_FALSE(missing.kernel.empty());
  // A device that opens read/write but is not KVM fails the API version check.
  const KvmProbe not_kvm = probe_kvm("/dev/null");
  EXPECT_FALSE(not_kvm.usable);
  EXPECT_NE(not_kvm.reason.find("KVM_GET_API_VERSION"), std::string::npos) << not_kvm.reason;
  EXPECT_NE(describe_kvm(not_kvm).find(", Linux " + not_kvm.kernel), std::string::npos);
}

}  // namespace
}  // namespace vpio

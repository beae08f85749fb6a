// The parts of the KVM identity that need no /dev/kvm: the vendor module found
// in a fake /sys/module, the kernel's major.minor, and the JSON and text forms.
#include <gtest/gtest.h>

#include <filesystem>

#include "kvm/kvm_identity.hpp"

namespace vpio {
namespace {

namespace fs = std::filesystem;

class FakeSysModule : public testing::Test {
 protected:
  FakeSysModule() {
    root_ = fs::path(testing::TempDir()) /
            ("sys_module_" +
             std::string(testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  ~FakeSysModule() override { fs::remove_all(root_); }
  void add(const char* module) { fs::create_directories(root_ / module / "parameters"); }
  fs::path root_;
};

TEST_F(FakeSysModule, FindsTheVendorModuleAmongOthers) {
  for (const char* m : {"kvm", "irqbypass", "kvmgt", "ccp", "kvm_amd", "virtio"}) add(m);
  EXPECT_EQ(find_kvm_module(root_), "kvm_amd");
}

TEST_F(FakeSysModule, BuiltInModulesCountToo) {
  // A built-in kvm_pvm (this session's host) has only its parameters directory.
  add("kvm");
  add("kvm_pvm");
  EXPECT_EQ(find_kvm_module(root_), "kvm_pvm");
}

TEST_F(FakeSysModule, SeveralVendorModulesAreAllNamed) {
  add("kvm_pvm");
  add("kvm_intel");
  EXPECT_EQ(find_kvm_module(root_), "kvm_intel+kvm_pvm");
}

TEST_F(FakeSysModule, NoneOrNoDirectoryGivesEmpty) {
  add("kvm");
  add("kvm_");  // a prefix alone is no vendor
  EXPECT_EQ(find_kvm_module(root_), "");
  EXPECT_EQ(find_kvm_module(root_ / "missing"), "");
}

TEST(KvmIdentity, KernelMajorMinor) {
  EXPECT_EQ(kernel_major_minor("6.1.0-18-amd64"), "6.1");
  EXPECT_EQ(kernel_major_minor("6.18.44-fc-v1045"), "6.18");
  EXPECT_EQ(kernel_major_minor("5.15"), "5.15");
  EXPECT_EQ(kernel_major_minor("odd"), "odd");
}

TEST(KvmIdentity, JsonAndTextNameModuleKernelApiAndCapabilities) {
  KvmIdentity id;
  id.module = "kvm_amd";
  id.kernel_release = "6.1.0-18-amd64";
  id.api_version = 12;
  id.capabilities = {{"KVM_CAP_SYNC_REGS", 31}, {"KVM_CAP_NESTED_STATE", 0}};
  EXPECT_EQ(id.flavour(), "kvm_amd 6.1");
  const nlohmann::json j = kvm_identity_json(id);
  EXPECT_EQ(j["module"], "kvm_amd");
  EXPECT_EQ(j["kernel_release"], "6.1.0-18-amd64");
  EXPECT_EQ(j["flavour"], "kvm_amd 6.1");
  EXPECT_EQ(j["api_version"], 12);
  EXPECT_EQ(j["capabilities"],
            (nlohmann::json{{"KVM_CAP_SYNC_REGS", 31}, {"KVM_CAP_NESTED_STATE", 0}}));
  const std::string text = kvm_identity_text(id);
  EXPECT_NE(text.find("module:         kvm_amd\n"), std::string::npos) << text;
  EXPECT_NE(text.find("KVM API:        12\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  KVM_CAP_SYNC_REGS         31\n"), std::string::npos) << text;
  id.module.clear();
  EXPECT_EQ(id.flavour(), "unknown KVM module 6.1");
}

}  // namespace
}  // namespace vpio

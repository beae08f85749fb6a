// Which KVM vpio runs on: the vendor module, the kernel, the API version and
// the capabilities vpio relies on. Profiles, --stats and `vpio kvm-info` name
// it, because what KVM reports about exits differs between flavours.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "kvm/kvm.hpp"

namespace vpio {

struct KvmIdentity {
  // The vendor module serving /dev/kvm: "kvm_amd", "kvm_intel", "kvm_pvm", ...;
  // several names joined by '+' when more than one is present (sysfs does not
  // say which one /dev/kvm belongs to); "" when none was found.
  std::string module;
  std::string kernel_release;  // uname -r
  int api_version = 0;         // KVM_GET_API_VERSION
  // check_extension of each capability in kIdentityCapabilities, in that order.
  std::vector<std::pair<std::string, int>> capabilities;

  // "kvm_amd 6.1": the module and the kernel's major.minor.
  std::string flavour() const;
};

// The vendor modules in a /sys/module directory: every entry named kvm_*
// (loaded or built in; "kvm" itself is the common core, not a vendor).
// Sorted, joined by '+'; "" when there is none or the directory is unreadable.
std::string find_kvm_module(const std::filesystem::path& sys_module);

// Why a stock Linux kernel cannot boot on the KVM of these vendor modules
// (find_kvm_module's answer), or "" when nothing is known against it. PVM
// (kvm_pvm) runs a guest's kernel code in KVM's instruction emulator, which
// lacks instructions Linux executes (docs/kvm-notes.md, PVM fact 3).
std::string linux_guest_obstacle(const std::string& modules);

// "6.1" of "6.1.0-18-amd64": the release up to its second dot-separated number.
std::string kernel_major_minor(const std::string& release);

// Asks the open KVM; never throws for a missing capability (reported as 0).
KvmIdentity describe(const Kvm& kvm, const std::filesystem::path& sys_module = "/sys/module");

nlohmann::json kvm_identity_json(const KvmIdentity& identity);
// Several lines for `vpio kvm-info`.
std::string kvm_identity_text(const KvmIdentity& identity);

}  // namespace vpio

// Whether this host's /dev/kvm can run vpio's guests, found by trying what
// vpio does first, and which KVM it is, for messages that name the flavour.
#pragma once

#include <string>

namespace vpio {

struct KvmProbe {
  bool usable = false;
  std::string reason;   // why not, when !usable
  std::string modules;  // loaded KVM vendor modules ("kvm_amd"), "" if none found
  std::string kernel;   // the running kernel's release (uname -r)
};

// Opens `device` read/write, checks KVM_GET_API_VERSION and creates a VM
// (closed again at once): a node that exists but refuses either is not
// usable. Touches nothing else; does not throw std::system_error.
KvmProbe probe_kvm(const char* device = "/dev/kvm");

// "module kvm_pvm, Linux 6.18.0" (or "module unknown, ...").
std::string describe_kvm(const KvmProbe& probe);

}  // namespace vpio

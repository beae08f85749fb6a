// Where `vpio run` and `vpio profile` run their guests: on this host's KVM
// or inside the KVM lab, from the lab options and what the host offers.
#pragma once

#include <functional>
#include <string>

namespace vpio {

struct LabOptions {
  bool lab = false;     // --lab: the lab even when the host's KVM is usable
  bool no_lab = false;  // --no-lab: never the lab
  std::string lab_nic;  // --lab-nic SPEC: the lab VM's own NE2000 (implies --lab)
};

enum class KvmPlace { host, lab };

// Throws std::invalid_argument naming both options when they contradict:
// --no-lab with --lab or --lab-nic.
void check_lab_options(const LabOptions& options);

// in_lab: this process already runs inside the lab (VPIO_IN_LAB), which is
// then the host. host_kvm_usable is asked only when the options leave the
// choice open, since it opens /dev/kvm and creates a VM.
KvmPlace choose_kvm_place(const LabOptions& options, bool in_lab,
                          const std::function<bool()>& host_kvm_usable);

}  // namespace vpio

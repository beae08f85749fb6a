// The choice between the host's KVM and the KVM lab (see lab_choice.hpp).
#include "app/lab_choice.hpp"

#include <stdexcept>

namespace vpio {

void check_lab_options(const LabOptions& options) {
  if (!options.no_lab) return;
  if (options.lab)
    throw std::invalid_argument("--no-lab and --lab contradict each other; give one of them");
  if (!options.lab_nic.empty())
    throw std::invalid_argument(
        "--no-lab and --lab-nic contradict each other: --lab-nic gives the KVM lab's VM a card, "
        "so it runs the guests in the lab; give one of them");
}

KvmPlace choose_kvm_place(const LabOptions& options, bool in_lab,
                          const std::function<bool()>& host_kvm_usable) {
  check_lab_options(options);
  if (in_lab || options.no_lab) return KvmPlace::host;
  if (options.lab || !options.lab_nic.empty()) return KvmPlace::lab;
  return host_kvm_usable() ? KvmPlace::host : KvmPlace::lab;
}

}  // namespace vpio

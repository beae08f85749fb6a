// kvm-usable: says whether this host's /dev/kvm can run guests (exit 0) or
// why not (exit 1), naming the KVM flavour; for scripts choosing host or lab.
#include <cstdio>
#include <cstring>

#include "kvm/kvm_probe.hpp"

int main(int argc, char** argv) {
  const char* device = "/dev/kvm";
  if (argc > 2 || (argc == 2 && std::strcmp(argv[1], "--help") == 0)) {
    std::fprintf(stderr,
                 "usage: kvm-usable [DEVICE]\n"
                 "Opens DEVICE (default /dev/kvm) read/write, checks KVM_GET_API_VERSION and\n"
                 "creates a VM. Prints 'module M, Linux R' and exits 0 when all work; prints\n"
                 "the reason and exits 1 otherwise.\n");
    return 2;
  }
  if (argc == 2) device = argv[1];
  const vpio::KvmProbe probe = vpio::probe_kvm(device);
  if (probe.usable) {
    std::printf("%s\n", vpio::describe_kvm(probe).c_str());
    return 0;
  }
  std::printf("%s (%s)\n", probe.reason.c_str(), vpio::describe_kvm(probe).c_str());
  return 1;
}

// The KVM vpio runs on, found from sysfs, uname and KVM_CHECK_EXTENSION.
#include "kvm/kvm_identity.hpp"

#include <sys/ioctl.h>
#include <sys/utsname.h>

#include <algorithm>
#include <system_error>

namespace vpio {
namespace {

struct NamedCapability {
  const char* name;
  long id;
};

// The capabilities vpio's code paths depend on or choose by, and those the
// flavours are told apart by in docs/kvm-notes.md (NESTED_STATE, PIT2).
constexpr NamedCapability kIdentityCapabilities[] = {
    {"KVM_CAP_SYNC_REGS", KVM_CAP_SYNC_REGS},
    {"KVM_CAP_DISABLE_QUIRKS", KVM_CAP_DISABLE_QUIRKS},
    {"KVM_CAP_MCE", KVM_CAP_MCE},
    {"KVM_CAP_BINARY_STATS_FD", KVM_CAP_BINARY_STATS_FD},
    {"KVM_CAP_COALESCED_PIO", KVM_CAP_COALESCED_PIO},
    {"KVM_CAP_COALESCED_MMIO", KVM_CAP_COALESCED_MMIO},
    {"KVM_CAP_IOEVENTFD", KVM_CAP_IOEVENTFD},
    {"KVM_CAP_IRQFD", KVM_CAP_IRQFD},
    {"KVM_CAP_IRQCHIP", KVM_CAP_IRQCHIP},
    {"KVM_CAP_PIT2", KVM_CAP_PIT2},
    {"KVM_CAP_NESTED_STATE", KVM_CAP_NESTED_STATE},
};

constexpr std::string_view kVendorPrefix = "kvm_";

}  // namespace

std::string find_kvm_module(const std::filesystem::path& sys_module) {
  std::vector<std::string> found;
  std::error_code error;
  for (std::filesystem::directory_iterator it(sys_module, error), end; !error && it != end;
       it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.size() > kVendorPrefix.size() && name.starts_with(kVendorPrefix))
      found.push_back(name);
  }
  std::sort(found.begin(), found.end());
  std::string joined;
  for (const std::string& name : found) joined += (joined.empty() ? "" : "+") + name;
  return joined;
}

std::string linux_guest_obstacle(const std::string& modules) {
  // Modules come joined by '+'; any PVM among them may be the one serving /dev/kvm.
  std::size_t start = 0;
  while (start <= modules.size()) {
    const std::size_t end = std::min(modules.find('+', start), modules.size());
    if (modules.compare(start, end - start, "kvm_pvm") == 0)
      return "PVM runs a guest's kernel code in KVM's instruction emulator, which cannot "
             "execute int3, xsave/xrstor or lock cmpxchg16b, all of which Linux uses "
             "(docs/kvm-notes.md)";
    start = end + 1;
  }
  return {};
}

std::string kernel_major_minor(const std::string& release) {
  const std::size_t first = release.find('.');
  if (first == std::string::npos) return release;
  std::size_t end = first + 1;
  while (end < release.size() && release[end] >= '0' && release[end] <= '9') ++end;
  return release.substr(0, end);
}

std::string KvmIdentity::flavour() const {
  const std::string who = module.empty() ? "unknown KVM module" : module;
  return kernel_release.empty() ? who : who + " " + kernel_major_minor(kernel_release);
}

KvmIdentity describe(const Kvm& kvm, const std::filesystem::path& sys_module) {
  KvmIdentity identity;
  identity.module = find_kvm_module(sys_module);
  utsname uts{};
  if (::uname(&uts) == 0) identity.kernel_release = uts.release;
  identity.api_version = ::ioctl(kvm.fd(), KVM_GET_API_VERSION, 0);
  for (const NamedCapability& cap : kIdentityCapabilities)
    identity.capabilities.emplace_back(cap.name, std::max(kvm.check_extension(cap.id), 0));
  return identity;
}

nlohmann::json kvm_identity_json(const KvmIdentity& identity) {
  nlohmann::json caps = nlohmann::json::object();
  for (const auto& [name, value] : identity.capabilities) caps[name] = value;
  return {{"module", identity.module},
          {"kernel_release", identity.kernel_release},
          {"flavour", identity.flavour()},
          {"api_version", identity.api_version},
          {"capabilities", caps}};
}

std::string kvm_identity_text(const KvmIdentity& identity) {
  std::string out = "module:         " +
                    (identity.module.empty() ? std::string("(no kvm_* module in /sys/module)")
                                             : identity.module) +
                    "\nkernel release: " + identity.kernel_release +
                    "\nKVM API:        " + std::to_string(identity.api_version) +
                    "\ncapabilities (KVM_CHECK_EXTENSION; 0: absent):\n";
  for (const auto& [name, value] : identity.capabilities)
    out += "  " + name + std::string(name.size() < 26 ? 26 - name.size() : 1, ' ') +
           std::to_string(value) + "\n";
  return out;
}

}  // namespace vpio

// The host KVM probe: open, API version, one VM; plus the vendor module and
// kernel release that name the KVM flavour.
#include "kvm/kvm_probe.hpp"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace vpio {

namespace {

// The only KVM API version there has ever been; anything else is not KVM.
constexpr int kKvmApiVersion = 12;

std::string errno_text(int err) { return std::strerror(err); }

// Vendor modules show up as /sys/module/kvm_<vendor> (kvm_amd, kvm_intel,
// kvm_pvm) whether loaded or built in with parameters; "kvm" itself is the
// common core and says nothing about the flavour.
std::string kvm_vendor_modules() {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/module", error)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with("kvm_")) names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  std::string joined;
  for (const auto& name : names) joined += (joined.empty() ? "" : "+") + name;
  return joined;
}

std::string kernel_release() {
  utsname uts{};
  return ::uname(&uts) == 0 ? std::string(uts.release) : std::string("unknown");
}

// Retries an ioctl interrupted by a signal, as a test runner may send some.
template <typename... Args>
int ioctl_retrying(int fd, unsigned long request, Args... args) {
  int result;
  do {
    result = ::ioctl(fd, request, args...);
  } while (result < 0 && errno == EINTR);
  return result;
}

std::string check_device(const char* device) {
  const int fd = ::open(device, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return std::string(device) + " does not exist";
    if (err == EACCES || err == EPERM)
      return std::string(device) + " exists but is not readable and writable by uid " +
             std::to_string(::getuid());
    return std::string("cannot open ") + device + ": " + errno_text(err);
  }
  std::string reason;
  const int version = ioctl_retrying(fd, KVM_GET_API_VERSION, 0);
  if (version < 0) {
    reason = std::string("KVM_GET_API_VERSION on ") + device + " failed: " + errno_text(errno);
  } else if (version != kKvmApiVersion) {
    reason = "KVM_GET_API_VERSION is " + std::to_string(version) + ", expected " +
             std::to_string(kKvmApiVersion);
  } else {
    const int vm = ioctl_retrying(fd, KVM_CREATE_VM, 0);
    if (vm < 0)
      reason = "KVM_CREATE_VM failed: " + errno_text(errno);
    else
      ::close(vm);
  }
  ::close(fd);
  return reason;
}

}  // namespace

KvmProbe probe_kvm(const char* device) {
  KvmProbe probe;
  probe.reason = check_device(device);
  probe.usable = probe.reason.empty();
  probe.modules = kvm_vendor_modules();
  probe.kernel = kernel_release();
  return probe;
}

std::string describe_kvm(const KvmProbe& probe) {
  return "module " + (probe.modules.empty() ? std::string("unknown") : probe.modules) + ", Linux " +
         probe.kernel;
}

}  // namespace vpio

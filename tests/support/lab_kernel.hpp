// The Debian kernel the KVM lab fetched (lab/kvm-lab, "Cache"), for the tests
// that boot or parse a stock Linux kernel. Found as the lab finds it: inside
// the lab through VPIO_LAB_MODULES (the kernel's module tree), elsewhere in
// ${VPIO_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vpio-lab}/kernels/*/,
// newest complete unpack first.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace vpio::test {

struct LabKernel {
  std::string path;        // .../boot/vmlinuz-VERSION, empty when none was found
  std::string why_absent;  // where it was looked for, when path is empty
  std::string module_dir;  // its package's .../lib/modules/VERSION, empty if it has none
};

inline std::string vmlinuz_in(const std::filesystem::path& package_dir) {
  std::error_code error;
  for (std::filesystem::directory_iterator it(package_dir / "boot", error), end;
       !error && it != end; it.increment(error))
    if (it->path().filename().string().starts_with("vmlinuz-")) return it->path().string();
  return {};
}

// PKG/lib/modules/VERSION or PKG/usr/lib/modules/VERSION, the one with a
// kernel/ tree (as lab/kvm-lab's kernel_module_dir); empty when none.
inline std::string module_dir_in(const std::filesystem::path& package_dir) {
  for (const char* modules : {"lib/modules", "usr/lib/modules"}) {
    std::error_code error;
    for (std::filesystem::directory_iterator it(package_dir / modules, error), end;
         !error && it != end; it.increment(error))
      if (std::filesystem::is_directory(it->path() / "kernel", error)) return it->path().string();
  }
  return {};
}

inline LabKernel find_lab_kernel() {
  namespace fs = std::filesystem;
  if (const char* modules = std::getenv("VPIO_LAB_MODULES"); modules != nullptr && *modules) {
    // PKG/lib/modules/VERSION (or PKG/usr/lib/modules/VERSION).
    for (fs::path dir = fs::path(modules).parent_path(); !dir.empty() && dir != dir.root_path();
         dir = dir.parent_path())
      if (const std::string found = vmlinuz_in(dir); !found.empty()) return {found, {}, modules};
  }
  fs::path cache;
  if (const char* env = std::getenv("VPIO_LAB_CACHE"); env != nullptr && *env)
    cache = env;
  else if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg)
    cache = fs::path(xdg) / "vpio-lab";
  else if (const char* home = std::getenv("HOME"); home != nullptr && *home)
    cache = fs::path(home) / ".cache" / "vpio-lab";
  std::vector<fs::path> complete;
  std::error_code error;
  for (fs::directory_iterator it(cache / "kernels", error), end; !error && it != end;
       it.increment(error))
    if (fs::exists(it->path() / ".complete")) complete.push_back(it->path());
  std::sort(complete.begin(), complete.end(), [](const fs::path& a, const fs::path& b) {
    std::error_code e;
    return fs::last_write_time(a / ".complete", e) > fs::last_write_time(b / ".complete", e);
  });
  for (const auto& dir : complete)
    if (const std::string found = vmlinuz_in(dir); !found.empty())
      return {found, {}, module_dir_in(dir)};
  return {{},
          "no Debian kernel in the KVM lab's cache (" + (cache / "kernels").string() +
              "/*/boot/vmlinuz-*; lab/kvm-lab fetches it on its first run)",
          {}};
}

}  // namespace vpio::test

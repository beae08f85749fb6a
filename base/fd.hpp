// Owned file descriptors and the error convention of setup code: a failed
// call throws with the call's name and errno. One implementation serves the
// whole project (owned_fd.hpp); this names it in namespace vpio.
#pragma once

#include "base/owned_fd.hpp"

namespace vpio {

using Fd = base::OwnedFd;

[[noreturn]] inline void throw_errno(const std::string& what, int err = errno) {
  base::throw_net_errno(what, err);
}

}  // namespace vpio

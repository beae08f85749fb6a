// Owned file descriptors and the error convention of setup code: a failed
// call throws with the call's name and errno. One implementation serves the
// whole project; it lives in hw/ because hw/ sits below vmm/.
#pragma once

#include "hw/net/owned_fd.hpp"

namespace vpio {

using Fd = hw::OwnedFd;

[[noreturn]] inline void throw_errno(const std::string& what, int err = errno) {
  hw::throw_net_errno(what, err);
}

}  // namespace vpio

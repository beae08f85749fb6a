// vpio's version, for `vpio --version`: CMake's project() version, and the
// git commit it was built from when built from a git work tree.
#pragma once

namespace vpio {

// "0.1.0 (git v0.1.0-3-g1234abc-dirty)", or "0.1.0" without git.
const char* version_text() noexcept;

}  // namespace vpio

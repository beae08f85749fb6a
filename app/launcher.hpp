// Runs several guests at once, one thread each, and reports how each ended.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "vmm/machine.hpp"

namespace vpio {

// The guests' names, one per image in order: the file's name without its
// extension; a name already given gets "#2", "#3", ... (the first free one),
// so every guest's name, and its --console-dir file, is its own.
std::vector<std::string> guest_names(const std::vector<std::string>& image_paths);

// Runs every machine on its own thread and waits for all of them. A guest that
// crashes does not stop the others. Guests still running after `deadline`
// (zero: no deadline) are stopped. One whose vCPU thread has not stopped
// kStopGrace after that is stuck in the VMM (or in KVM_RUN): the process then
// names where each such thread is on stderr and ends with kExitVmmFailure
// (joining it would hang the run the deadline was meant to end).
std::vector<GuestOutcome> run_concurrently(const std::vector<Machine*>& machines,
                                           std::chrono::milliseconds deadline = {});
std::vector<GuestOutcome> run_concurrently(const std::vector<std::unique_ptr<Machine>>& machines,
                                           std::chrono::milliseconds deadline = {});

// The process exit status for a set of outcomes: kExitGuestCrashed if any
// guest crashed, else kExitTimedOut if the deadline stopped one (coreutils'
// `timeout` exits 124 too), else, if any was stopped otherwise, 128 + the
// signal that stopped the run (`stopping_signal`: SIGINT gives 130, SIGTERM
// 143, as a shell reports a command a signal ended) or, with no signal,
// kExitVmmFailure, else the first non-zero guest status (low byte; 1 if the
// low byte is zero). kExitOutputFailed (sysexits' EX_IOERR) is the
// command's, not the guests': a file the run was asked to write could not be
// written.
inline constexpr int kExitUsage = 2;
inline constexpr int kExitGuestCrashed = 70;
inline constexpr int kExitVmmFailure = 71;
inline constexpr int kExitOutputFailed = 74;
inline constexpr int kExitTimedOut = 124;
inline constexpr int kExitSignalBase = 128;
inline constexpr std::chrono::seconds kStopGrace{10};
int exit_code_for(const std::vector<GuestOutcome>& outcomes, int stopping_signal = 0) noexcept;

}  // namespace vpio

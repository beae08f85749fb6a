// What the exit loop tells whoever watches it: each run of the vCPU, each
// exit to userspace once handled, each batch of port writes KVM posted. The
// exit profiler (profile/exit_profiler.hpp) is the one observer; the machine
// knows no observer's kind, and an unobserved machine pays one branch per
// exit.
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "hooks/port_bus.hpp"

namespace vpio {

// The guest as an observer sees it at an exit: the vCPU's state and the
// guest's memory, to read only. Valid during the call it is passed to.
class ObservedGuest {
 public:
  // KVM's shared run state: the exit's reason and its I/O or MMIO details.
  virtual const kvm_run& exit_state() const noexcept = 0;
  // The registers at this exit (synced by KVM, or read); false when they
  // could not be read.
  virtual bool registers(kvm_regs& out) noexcept = 0;
  // A guest-linear address through the guest's own page tables; false when
  // it does not translate.
  virtual bool translate(std::uint64_t linear, std::uint64_t& physical) noexcept = 0;
  // Guest RAM at a guest-physical address; empty when the range is not RAM.
  virtual std::span<const std::uint8_t> ram(std::uint64_t physical,
                                            std::size_t bytes) const noexcept = 0;
  // The vCPU's file, for KVM's own statistics (KVM_GET_STATS_FD) only.
  virtual int vcpu_fd() const noexcept = 0;

 protected:
  ~ObservedGuest() = default;
};

// How an I/O or MMIO access was served: by its device, on that device's
// path; std::nullopt when no device serves the address.
using ServedPath = std::optional<IoPath>;

// Called on the guest's vCPU thread only, in order: on_run_start, then any
// number of the others, then on_run_end. An observer must not throw. While a
// machine is observed, KVM syncs the registers at each exit where it can and
// leaves rip on an `out` to port 0x7e (no OUT_7E_INC_RIP quirk), so each
// exit's rip names its instruction.
class ExitObserver {
 public:
  virtual ~ExitObserver() = default;
  // Before the first KVM_RUN.
  virtual void on_run_start(ObservedGuest& guest) noexcept = 0;
  // A KVM_RUN that returned for a signal or a kick, with no exit to handle.
  virtual void on_interrupted_run() noexcept = 0;
  // One exit, handled. `exited_at_ns` is when KVM_RUN returned (steady
  // clock); `path` says how an io or mmio exit's access was served (for
  // other reasons it is meaningless).
  virtual void on_exit(ObservedGuest& guest, std::uint64_t exited_at_ns,
                       ServedPath path) noexcept = 0;
  // Port writes KVM posted to its coalesced ring, handed to their device at
  // an exit without one of their own: `accesses` elements to `port`.
  virtual void on_posted(std::uint16_t port, ServedPath path, std::uint64_t accesses) noexcept = 0;
  // After the last exit.
  virtual void on_run_end(ObservedGuest& guest) noexcept = 0;
};

}  // namespace vpio

// Puts a fresh vCPU into 64-bit long mode as the guest ABI promises: flat
// segments, paging with an identity map of the low 4 GiB (all RAM and the
// MMIO hole), interrupts disabled, CR4.MCE set, no IDT (the guest brings one).
#pragma once

#include <cstdint>

#include "vmm/guest_memory.hpp"
#include "vmm/kvm.hpp"

namespace vpio {

// Guest-physical layout of what the VMM writes below the image.
namespace layout {
inline constexpr std::uint64_t kGdt = 0x1000;
inline constexpr std::uint64_t kTss = 0x1100;
inline constexpr std::uint64_t kPml4 = 0x2000;
inline constexpr std::uint64_t kPdpt = 0x3000;
inline constexpr std::uint64_t kPageDirectories = 0x4000;  // four, 0x4000-0x7fff
inline constexpr std::uint64_t kStackTop = 0x100000;       // grows down to 0x8000
inline constexpr std::uint64_t kImageBase = 0x100000;
inline constexpr std::uint64_t kIdentityMapBytes = 4ULL << 30;
}  // namespace layout

// Writes the GDT, TSS and page tables into `memory` and sets the vCPU's
// registers so that it starts at `entry`. The vCPU's CPUID must already be set
// (KVM refuses EFER.LME without the LM bit in the guest's CPUID).
void enter_long_mode(GuestMemory& memory, Vcpu& vcpu, std::uint64_t entry);

}  // namespace vpio

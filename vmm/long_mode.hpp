// Puts a fresh vCPU into 64-bit long mode as the guest ABI promises: flat
// segments, paging with an identity map of the low 4 GiB (all RAM and the
// MMIO hole), interrupts disabled, CR4.MCE set, no IDT (the guest brings one).
#pragma once

#include <cstdint>
#include <vector>

#include "kvm/kvm.hpp"
#include "vmm/guest_memory.hpp"

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

// KVM's supported CPUID with CPUID.1:ECX.HYPERVISOR (bit 31) set, which
// KVM_GET_SUPPORTED_CPUID leaves clear: without it Linux looks for no
// hypervisor, so finds neither KVM's leaves at 0x40000000 nor kvm-clock,
// and boots "on bare hardware".
std::vector<kvm_cpuid_entry2> linux_guest_cpuid(std::vector<kvm_cpuid_entry2> supported);

// The same tables for Linux's 64-bit boot protocol: code at __BOOT_CS (0x10),
// data at __BOOT_DS (0x18), TSS at 0x20, CR4 = PAE only, RSI = boot_params,
// interrupts disabled, no stack.
void enter_linux_64(GuestMemory& memory, Vcpu& vcpu, std::uint64_t entry,
                    std::uint64_t boot_params);

}  // namespace vpio

// RAII over the KVM API: the system fd, a VM, and a vCPU that owns its
// kvm_run mapping. Setup calls throw with the ioctl's name and errno; the
// calls made on the exit path return status values instead.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/fd.hpp"

namespace vpio {

// One machine-check event as the guest will read it from its bank MSRs.
struct MachineCheck {
  std::uint8_t bank = 0;
  std::uint64_t status = 0;  // IA32_MCi_STATUS
  std::uint64_t addr = 0;    // IA32_MCi_ADDR
  std::uint64_t misc = 0;    // IA32_MCi_MISC
  std::uint64_t mcg_status = 0;
};

namespace mce {
inline constexpr std::uint64_t kStatusVal = 1ULL << 63;
inline constexpr std::uint64_t kStatusOver = 1ULL << 62;
inline constexpr std::uint64_t kStatusUc = 1ULL << 61;
inline constexpr std::uint64_t kStatusEn = 1ULL << 60;
inline constexpr std::uint64_t kStatusMiscv = 1ULL << 59;
inline constexpr std::uint64_t kStatusAddrv = 1ULL << 58;
inline constexpr std::uint64_t kStatusPcc = 1ULL << 57;
inline constexpr std::uint64_t kMcgStatusRipv = 1ULL << 0;
inline constexpr std::uint64_t kMcgStatusEipv = 1ULL << 1;
inline constexpr std::uint64_t kMcgStatusMcip = 1ULL << 2;
inline constexpr std::uint64_t kMcgCtlPresent = 1ULL << 8;
inline constexpr std::uint32_t kMsrMcgStatus = 0x17a;
inline constexpr std::uint32_t kMsrMcgCtl = 0x17b;
inline constexpr std::uint32_t kMsrMc0Ctl = 0x400;
inline constexpr std::uint32_t kMsrsPerBank = 4;
}  // namespace mce

class Kvm {
 public:
  explicit Kvm(const std::string& path = "/dev/kvm");

  int fd() const noexcept { return fd_.get(); }
  int check_extension(long capability) const noexcept;
  std::size_t vcpu_mmap_size() const;
  // The CPUID leaves KVM can expose, for KVM_SET_CPUID2.
  std::vector<kvm_cpuid_entry2> supported_cpuid() const;
  std::uint64_t mce_capabilities() const;

 private:
  Fd fd_;
};

class Vm {
 public:
  // in_kernel_irqchip: KVM's own PIC, IOAPIC and local APIC
  // (KVM_CREATE_IRQCHIP) and PIT (KVM_CREATE_PIT2, with the speaker port),
  // as Linux guests need them. Then HLT and interrupts stay in the kernel,
  // and devices raise interrupts with set_irq_line, not Vcpu::inject_interrupt.
  explicit Vm(const Kvm& kvm, bool in_kernel_irqchip = false);

  int fd() const noexcept { return fd_.get(); }
  void map_memory(std::uint32_t slot, std::uint64_t gpa, std::uint64_t bytes, void* host);
  // KVM_SET_USER_MEMORY_REGION without throwing: 0 or an errno value.
  // bytes = 0 deletes the slot. Safe from any thread.
  int set_memory_region(std::uint32_t slot, std::uint64_t gpa, std::uint64_t bytes,
                        void* host) noexcept;
  // KVM_ENABLE_CAP on the VM with one argument; throws naming the capability.
  void enable_cap(std::uint32_t capability, std::uint64_t arg, const char* what);
  // Port writes inside [port, port + bytes) go to the vCPU's coalesced ring
  // without an exit (KVM_CAP_COALESCED_PIO). Safe from any thread while the
  // vCPU runs; returns 0 or an errno value. Unregistering leaves what the
  // ring already holds in it.
  int register_coalesced_pio(std::uint16_t port, std::uint32_t bytes) noexcept;
  int unregister_coalesced_pio(std::uint16_t port, std::uint32_t bytes) noexcept;
  // KVM_IRQ_LINE on the in-kernel irqchip: the level of ISA line `irq`.
  // Safe from any thread; 0 or an errno value.
  int set_irq_line(unsigned irq, bool level) noexcept;

 private:
  Fd fd_;
};

class Vcpu {
 public:
  Vcpu(const Kvm& kvm, const Vm& vm, unsigned index);
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;
  ~Vcpu();

  int fd() const noexcept { return fd_.get(); }
  kvm_run& run_state() const noexcept { return *run_; }

  kvm_regs regs() const;
  void set_regs(const kvm_regs& regs);
  kvm_sregs sregs() const;
  void set_sregs(const kvm_sregs& sregs);
  void set_cpuid(std::span<const kvm_cpuid_entry2> entries);
  void set_msr(std::uint32_t index, std::uint64_t value);
  // Exit-path read of one MSR: 0 or an errno value.
  int get_msr(std::uint32_t index, std::uint64_t& value) noexcept;
  // Unblocks `signal` only while the vCPU runs in the kernel, so a kick sent
  // at any moment ends the next (or current) KVM_RUN with EINTR.
  void set_run_signal_mask(int unblocked_signal);

  // Enables `banks` machine-check banks with every control bit set: KVM drops
  // uncorrected errors whose bank controls are not all ones.
  void setup_machine_check(std::uint64_t supported_caps, unsigned banks);
  unsigned machine_check_banks() const noexcept { return mce_banks_; }

  // Has KVM store the general registers in kvm_run at every exit
  // (KVM_CAP_SYNC_REGS), so the exit path reads rip without an ioctl.
  void sync_regs_on_exit() noexcept;
  bool regs_synced() const noexcept { return run_->kvm_valid_regs & KVM_SYNC_X86_REGS; }

  // The coalesced MMIO/PIO ring, which KVM maps `page_offset` pages into the
  // vCPU's mapping (the value KVM_CAP_COALESCED_MMIO reports); nullptr when
  // the mapping does not reach that far.
  kvm_coalesced_mmio_ring* coalesced_ring(int page_offset) const noexcept;

  // Exit-path calls: return 0 or an errno value, never throw.
  int run() noexcept;
  int get_regs(kvm_regs& regs) noexcept;
  // The guest-physical address of a linear address under the guest's current
  // page tables (KVM_TRANSLATE); ENOENT when it does not translate.
  int translate(std::uint64_t linear, std::uint64_t& physical) noexcept;
  int inject_interrupt(std::uint8_t vector) noexcept;
  // Whether the instruction after an `sti` or `mov ss` is next, during which
  // no interrupt may be taken (KVM_GET_VCPU_EVENTS).
  int in_interrupt_shadow(bool& shadowed) noexcept;
  int inject_machine_check(const MachineCheck& event) noexcept;
  // The local APIC's LINT0 as ExtINT and LINT1 as NMI, unmasked
  // (KVM_GET_LAPIC/KVM_SET_LAPIC), as a PC's firmware leaves them ("virtual
  // wire"): KVM resets them masked, and a kernel that finds no MP table or
  // ACPI then has no way for the PIC's interrupts (the PIT's tick) to reach
  // the CPU. Needs the in-kernel irqchip.
  void set_lapic_virtual_wire();
  // KVM_GET_MP_STATE: KVM_MP_STATE_HALTED while the vCPU waits in an
  // in-kernel HLT. 0 or an errno value.
  int get_mp_state(std::uint32_t& state) noexcept;

 private:
  Fd fd_;
  kvm_run* run_ = nullptr;
  std::size_t run_size_ = 0;
  unsigned mce_banks_ = 0;
};

}  // namespace vpio

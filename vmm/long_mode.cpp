// Long-mode entry state for test guests and for Linux's 64-bit boot protocol.
#include "vmm/long_mode.hpp"

namespace vpio {
namespace {

constexpr std::uint64_t kCr0Pe = 1ULL << 0, kCr0Mp = 1ULL << 1, kCr0Et = 1ULL << 4,
                        kCr0Ne = 1ULL << 5, kCr0Wp = 1ULL << 16, kCr0Pg = 1ULL << 31;
constexpr std::uint64_t kCr4Pae = 1ULL << 5, kCr4Mce = 1ULL << 6, kCr4Osfxsr = 1ULL << 9,
                        kCr4Osxmmexcpt = 1ULL << 10;
constexpr std::uint64_t kEferLme = 1ULL << 8, kEferLma = 1ULL << 10;
constexpr std::uint64_t kPagePresent = 1ULL << 0, kPageWrite = 1ULL << 1, kPageHuge = 1ULL << 7;
constexpr std::uint64_t kHugePageBytes = 2ULL << 20;
constexpr std::uint64_t kRflagsReserved = 1ULL << 1;

constexpr std::uint16_t kCodeSelector = 0x08, kDataSelector = 0x10, kTssSelector = 0x18;
// Linux's 64-bit boot protocol names __BOOT_CS and __BOOT_DS.
constexpr std::uint16_t kLinuxBootCs = 0x10, kLinuxBootDs = 0x18, kLinuxTss = 0x20;
constexpr std::uint8_t kTypeCodeExecRead = 0xb, kTypeDataReadWrite = 0x3, kTypeTss64Busy = 0xb;
constexpr std::uint32_t kTssLimit = 0x67;

// A GDT descriptor in the hardware layout, from the fields KVM also takes.
std::uint64_t gdt_entry(const kvm_segment& s) {
  std::uint64_t limit = s.g ? (s.limit >> 12) : s.limit;
  return (limit & 0xffff) | ((s.base & 0xffffffULL) << 16) |
         (static_cast<std::uint64_t>(s.type) << 40) | (static_cast<std::uint64_t>(s.s) << 44) |
         (static_cast<std::uint64_t>(s.dpl) << 45) | (static_cast<std::uint64_t>(s.present) << 47) |
         (((limit >> 16) & 0xf) << 48) | (static_cast<std::uint64_t>(s.l) << 53) |
         (static_cast<std::uint64_t>(s.db) << 54) | (static_cast<std::uint64_t>(s.g) << 55) |
         (((s.base >> 24) & 0xff) << 56);
}

kvm_segment flat_segment(std::uint16_t selector, std::uint8_t type, bool code) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.s = 1;
  s.g = 1;
  s.l = code ? 1 : 0;
  s.db = code ? 0 : 1;
  return s;
}

void write_or_throw(bool ok) {
  if (!ok) throw std::runtime_error("guest RAM too small for the long-mode tables");
}

// The state both entries share, apart from the selectors, the stack, rsi and
// the CR4 bits.
struct EntryState {
  std::uint64_t rip = 0, rsp = 0, rsi = 0;
  std::uint16_t code = 0, data = 0, tss = 0;
  std::uint64_t cr4 = 0;
};

void enter(GuestMemory& memory, Vcpu& vcpu, const EntryState& state) {
  kvm_segment code = flat_segment(state.code, kTypeCodeExecRead, true);
  kvm_segment data = flat_segment(state.data, kTypeDataReadWrite, false);
  kvm_segment tss{};
  tss.base = layout::kTss;
  tss.limit = kTssLimit;
  tss.selector = state.tss;
  tss.type = kTypeTss64Busy;
  tss.present = 1;

  // Every descriptor below the TSS that is not ours stays null.
  for (std::uint16_t selector = 0; selector < state.tss; selector += 8)
    write_or_throw(memory.write<std::uint64_t>(layout::kGdt + selector, 0));
  write_or_throw(memory.write(layout::kGdt + state.code, gdt_entry(code)));
  write_or_throw(memory.write(layout::kGdt + state.data, gdt_entry(data)));
  write_or_throw(memory.write(layout::kGdt + state.tss, gdt_entry(tss)));
  write_or_throw(memory.write<std::uint64_t>(layout::kGdt + state.tss + 8, 0));

  // PML4[0] -> PDPT; PDPT[0..3] -> four page directories of 2 MiB pages.
  constexpr std::uint64_t kTableFlags = kPagePresent | kPageWrite;
  write_or_throw(memory.write(layout::kPml4, layout::kPdpt | kTableFlags));
  constexpr std::uint64_t kDirectories = layout::kIdentityMapBytes >> 30;
  for (std::uint64_t d = 0; d < kDirectories; ++d) {
    std::uint64_t directory = layout::kPageDirectories + d * 0x1000;
    write_or_throw(memory.write(layout::kPdpt + d * 8, directory | kTableFlags));
    for (std::uint64_t e = 0; e < 512; ++e) {
      std::uint64_t phys = (d * 512 + e) * kHugePageBytes;
      write_or_throw(memory.write(directory + e * 8, phys | kTableFlags | kPageHuge));
    }
  }

  kvm_sregs sregs = vcpu.sregs();
  sregs.cs = code;
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.tr = tss;
  sregs.gdt.base = layout::kGdt;
  sregs.gdt.limit = static_cast<std::uint16_t>(state.tss + 16 - 1);
  sregs.idt.base = 0;
  sregs.idt.limit = 0;
  sregs.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Wp | kCr0Pg;
  sregs.cr3 = layout::kPml4;
  sregs.cr4 = state.cr4;
  sregs.efer = kEferLme | kEferLma;
  vcpu.set_sregs(sregs);

  kvm_regs regs{};
  regs.rip = state.rip;
  regs.rsp = state.rsp;
  regs.rsi = state.rsi;
  regs.rflags = kRflagsReserved;
  vcpu.set_regs(regs);
}

}  // namespace

void enter_long_mode(GuestMemory& memory, Vcpu& vcpu, std::uint64_t entry) {
  EntryState state;
  state.rip = entry;
  state.rsp = layout::kStackTop;
  state.code = kCodeSelector;
  state.data = kDataSelector;
  state.tss = kTssSelector;
  state.cr4 = kCr4Pae | kCr4Mce | kCr4Osfxsr | kCr4Osxmmexcpt;
  enter(memory, vcpu, state);
}

std::vector<kvm_cpuid_entry2> linux_guest_cpuid(std::vector<kvm_cpuid_entry2> supported) {
  constexpr std::uint32_t kFeatureLeaf = 1, kEcxHypervisor = 1u << 31;
  for (auto& entry : supported)
    if (entry.function == kFeatureLeaf) entry.ecx |= kEcxHypervisor;
  return supported;
}

void enter_linux_64(GuestMemory& memory, Vcpu& vcpu, std::uint64_t entry,
                    std::uint64_t boot_params) {
  EntryState state;
  state.rip = entry;
  // No stack: the kernel's entry code sets its own before its first push.
  state.rsp = 0;
  state.rsi = boot_params;
  state.code = kLinuxBootCs;
  state.data = kLinuxBootDs;
  state.tss = kLinuxTss;
  state.cr4 = kCr4Pae;
  enter(memory, vcpu, state);
}

}  // namespace vpio

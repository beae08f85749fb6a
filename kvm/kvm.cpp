// RAII over the KVM API.
#include "kvm/kvm.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

namespace vpio {
namespace {

constexpr int kKvmApiVersion = 12;

// linux-libc-dev 6.1 declares the variable-length KVM structs with
// __DECLARE_FLEX_ARRAY, whose empty struct is one byte in C++ (zero in C). In
// C++ their sizeof, the offset of their arrays and the ioctl numbers derived
// from them are all wrong, and KVM answers EINVAL. These are the C layouts.
struct CpuidHeader {
  std::uint32_t nent;
  std::uint32_t padding;
};  // followed by kvm_cpuid_entry2[nent]
struct MsrsHeader {
  std::uint32_t nmsrs;
  std::uint32_t pad;
};  // followed by kvm_msr_entry[nmsrs]
struct SignalMaskHeader {
  std::uint32_t len;
};  // followed by len bytes of sigset
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);
constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);
constexpr unsigned long kSetSignalMask = _IOW(KVMIO, 0x8b, SignalMaskHeader);
static_assert(kGetSupportedCpuid == 0xc008ae05 && kSetCpuid2 == 0x4008ae90);
static_assert(kSetMsrs == 0x4008ae89 && kGetMsrs == 0xc008ae88 && kSetSignalMask == 0x4004ae8b);

// A header followed by an array, in 8-byte aligned storage.
template <typename Header, typename Entry>
class VariableStruct {
 public:
  explicit VariableStruct(std::size_t entries)
      : storage_((sizeof(Header) + entries * sizeof(Entry) + 7) / 8) {}
  Header* header() noexcept { return reinterpret_cast<Header*>(storage_.data()); }
  Entry* entries() noexcept {
    return reinterpret_cast<Entry*>(reinterpret_cast<std::uint8_t*>(storage_.data()) +
                                    sizeof(Header));
  }

 private:
  std::vector<std::uint64_t> storage_;
};
constexpr unsigned kMaxCpuidEntries = 256;

template <typename Arg>
int ioctl_arg(int fd, unsigned long request, Arg arg) noexcept {
  int r;
  do {
    r = ::ioctl(fd, request, arg);
  } while (r < 0 && errno == EINTR && request != KVM_RUN);
  return r;
}

}  // namespace

Kvm::Kvm(const std::string& path) {
  fd_ = Fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd_.valid()) throw_errno("open " + path);
  int version = ::ioctl(fd_.get(), KVM_GET_API_VERSION, 0);
  if (version != kKvmApiVersion)
    throw std::runtime_error("KVM_GET_API_VERSION: expected 12, got " + std::to_string(version));
}

int Kvm::check_extension(long capability) const noexcept {
  return ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, capability);
}

std::size_t Kvm::vcpu_mmap_size() const {
  int size = ::ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size <= 0) throw_errno("KVM_GET_VCPU_MMAP_SIZE");
  return static_cast<std::size_t>(size);
}

std::vector<kvm_cpuid_entry2> Kvm::supported_cpuid() const {
  VariableStruct<CpuidHeader, kvm_cpuid_entry2> cpuid(kMaxCpuidEntries);
  cpuid.header()->nent = kMaxCpuidEntries;
  if (ioctl_arg(fd_.get(), kGetSupportedCpuid, cpuid.header()) < 0)
    throw_errno("KVM_GET_SUPPORTED_CPUID");
  return {cpuid.entries(), cpuid.entries() + cpuid.header()->nent};
}

std::uint64_t Kvm::mce_capabilities() const {
  std::uint64_t caps = 0;
  if (ioctl_arg(fd_.get(), KVM_X86_GET_MCE_CAP_SUPPORTED, &caps) < 0)
    throw_errno("KVM_X86_GET_MCE_CAP_SUPPORTED");
  return caps;
}

Vm::Vm(const Kvm& kvm, bool in_kernel_irqchip) {
  fd_ = Fd(::ioctl(kvm.fd(), KVM_CREATE_VM, 0));
  if (!fd_.valid()) throw_errno("KVM_CREATE_VM");
  // Only Intel hosts need this (real-mode emulation scratch); harmless on AMD.
  constexpr unsigned long kTssAddress = 0xfffbd000;
  if (::ioctl(fd_.get(), KVM_SET_TSS_ADDR, kTssAddress) < 0) throw_errno("KVM_SET_TSS_ADDR");
  if (!in_kernel_irqchip) return;
  // Before any vCPU exists, so that each gets its local APIC.
  if (::ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0) < 0) throw_errno("KVM_CREATE_IRQCHIP");
  kvm_pit_config pit{};
  // Port 0x61 too: Linux reads PIT channel 2's output there to calibrate.
  pit.flags = KVM_PIT_SPEAKER_DUMMY;
  if (ioctl_arg(fd_.get(), KVM_CREATE_PIT2, &pit) < 0) throw_errno("KVM_CREATE_PIT2");
}

int Vm::set_irq_line(unsigned irq, bool level) noexcept {
  kvm_irq_level line{};
  line.irq = irq;
  line.level = level ? 1 : 0;
  return ioctl_arg(fd_.get(), KVM_IRQ_LINE, &line) < 0 ? errno : 0;
}

void Vm::map_memory(std::uint32_t slot, std::uint64_t gpa, std::uint64_t bytes, void* host) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.guest_phys_addr = gpa;
  region.memory_size = bytes;
  region.userspace_addr = reinterpret_cast<std::uint64_t>(host);
  if (ioctl_arg(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0)
    throw_errno("KVM_SET_USER_MEMORY_REGION");
}

int Vm::set_memory_region(std::uint32_t slot, std::uint64_t gpa, std::uint64_t bytes,
                          void* host) noexcept {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.guest_phys_addr = gpa;
  region.memory_size = bytes;
  region.userspace_addr = reinterpret_cast<std::uint64_t>(host);
  return ioctl_arg(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0 ? errno : 0;
}

void Vm::enable_cap(std::uint32_t capability, std::uint64_t arg, const char* what) {
  kvm_enable_cap cap{};
  cap.cap = capability;
  cap.args[0] = arg;
  if (ioctl_arg(fd_.get(), KVM_ENABLE_CAP, &cap) < 0)
    throw_errno(std::string("KVM_ENABLE_CAP(") + what + ")");
}

namespace {

int coalesced_zone_ioctl(int vm_fd, unsigned long request, std::uint16_t port,
                         std::uint32_t bytes) noexcept {
  kvm_coalesced_mmio_zone zone{};
  zone.addr = port;
  zone.size = bytes;
  zone.pio = 1;
  return ioctl_arg(vm_fd, request, &zone) < 0 ? errno : 0;
}

}  // namespace

int Vm::register_coalesced_pio(std::uint16_t port, std::uint32_t bytes) noexcept {
  return coalesced_zone_ioctl(fd_.get(), KVM_REGISTER_COALESCED_MMIO, port, bytes);
}

int Vm::unregister_coalesced_pio(std::uint16_t port, std::uint32_t bytes) noexcept {
  return coalesced_zone_ioctl(fd_.get(), KVM_UNREGISTER_COALESCED_MMIO, port, bytes);
}

Vcpu::Vcpu(const Kvm& kvm, const Vm& vm, unsigned index) {
  fd_ = Fd(::ioctl(vm.fd(), KVM_CREATE_VCPU, static_cast<unsigned long>(index)));
  if (!fd_.valid()) throw_errno("KVM_CREATE_VCPU");
  run_size_ = kvm.vcpu_mmap_size();
  void* p = ::mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
  if (p == MAP_FAILED) throw_errno("mmap kvm_run");
  run_ = static_cast<kvm_run*>(p);
}

kvm_coalesced_mmio_ring* Vcpu::coalesced_ring(int page_offset) const noexcept {
  const long page = ::sysconf(_SC_PAGESIZE);
  if (page_offset <= 0 || page <= 0) return nullptr;
  const auto at = static_cast<std::size_t>(page_offset) * static_cast<std::size_t>(page);
  if (at + static_cast<std::size_t>(page) > run_size_) return nullptr;
  return reinterpret_cast<kvm_coalesced_mmio_ring*>(reinterpret_cast<std::uint8_t*>(run_) + at);
}

Vcpu::~Vcpu() {
  if (run_ != nullptr) ::munmap(run_, run_size_);
}

kvm_regs Vcpu::regs() const {
  kvm_regs r{};
  if (ioctl_arg(fd_.get(), KVM_GET_REGS, &r) < 0) throw_errno("KVM_GET_REGS");
  return r;
}

void Vcpu::set_regs(const kvm_regs& r) {
  if (ioctl_arg(fd_.get(), KVM_SET_REGS, &r) < 0) throw_errno("KVM_SET_REGS");
}

kvm_sregs Vcpu::sregs() const {
  kvm_sregs s{};
  if (ioctl_arg(fd_.get(), KVM_GET_SREGS, &s) < 0) throw_errno("KVM_GET_SREGS");
  return s;
}

void Vcpu::set_sregs(const kvm_sregs& s) {
  if (ioctl_arg(fd_.get(), KVM_SET_SREGS, &s) < 0) throw_errno("KVM_SET_SREGS");
}

void Vcpu::set_cpuid(std::span<const kvm_cpuid_entry2> entries) {
  VariableStruct<CpuidHeader, kvm_cpuid_entry2> cpuid(entries.size());
  cpuid.header()->nent = static_cast<std::uint32_t>(entries.size());
  std::copy(entries.begin(), entries.end(), cpuid.entries());
  if (ioctl_arg(fd_.get(), kSetCpuid2, cpuid.header()) < 0) throw_errno("KVM_SET_CPUID2");
}

void Vcpu::set_msr(std::uint32_t index, std::uint64_t value) {
  VariableStruct<MsrsHeader, kvm_msr_entry> msrs(1);
  msrs.header()->nmsrs = 1;
  msrs.entries()[0].index = index;
  msrs.entries()[0].data = value;
  int r = ioctl_arg(fd_.get(), kSetMsrs, msrs.header());
  if (r != 1) throw_errno("KVM_SET_MSRS", r < 0 ? errno : EINVAL);
}

int Vcpu::get_msr(std::uint32_t index, std::uint64_t& value) noexcept {
  // Fixed storage: the exit path does not allocate.
  struct {
    MsrsHeader header;
    kvm_msr_entry entry;
  } msrs{};
  msrs.header.nmsrs = 1;
  msrs.entry.index = index;
  int r = ioctl_arg(fd_.get(), kGetMsrs, &msrs);
  if (r < 0) return errno;
  if (r != 1) return EINVAL;
  value = msrs.entry.data;
  return 0;
}

void Vcpu::set_run_signal_mask(int unblocked_signal) {
  sigset_t mask;
  if (pthread_sigmask(SIG_SETMASK, nullptr, &mask) != 0) throw_errno("pthread_sigmask");
  sigdelset(&mask, unblocked_signal);
  // The kernel's sigset is 64 bits, not glibc's 1024-bit sigset_t.
  constexpr std::uint32_t kKernelSigsetBytes = 8;
  VariableStruct<SignalMaskHeader, std::uint8_t> arg(kKernelSigsetBytes);
  arg.header()->len = kKernelSigsetBytes;
  std::memcpy(arg.entries(), &mask, kKernelSigsetBytes);
  if (ioctl_arg(fd_.get(), kSetSignalMask, arg.header()) < 0) throw_errno("KVM_SET_SIGNAL_MASK");
}

void Vcpu::setup_machine_check(std::uint64_t supported_caps, unsigned banks) {
  // The supported capabilities carry no bank count: we choose it (KVM allows
  // up to 32) and place it in the low byte of MCG_CAP.
  constexpr std::uint64_t kBankCountMask = 0xff;
  constexpr unsigned kKvmMaxBanks = 32;
  if (banks == 0 || banks > kKvmMaxBanks)
    throw std::invalid_argument("KVM_X86_SETUP_MCE: bank count must be 1 to 32");
  std::uint64_t mcg_cap = (supported_caps & ~kBankCountMask) | banks;
  if (ioctl_arg(fd_.get(), KVM_X86_SETUP_MCE, &mcg_cap) < 0) throw_errno("KVM_X86_SETUP_MCE");
  if (mcg_cap & mce::kMcgCtlPresent) set_msr(mce::kMsrMcgCtl, ~0ULL);
  for (unsigned bank = 0; bank < banks; ++bank)
    set_msr(mce::kMsrMc0Ctl + bank * mce::kMsrsPerBank, ~0ULL);
  mce_banks_ = banks;
}

int Vcpu::run() noexcept { return ::ioctl(fd_.get(), KVM_RUN, 0) < 0 ? errno : 0; }

void Vcpu::sync_regs_on_exit() noexcept { run_->kvm_valid_regs = KVM_SYNC_X86_REGS; }

int Vcpu::get_regs(kvm_regs& regs) noexcept {
  return ioctl_arg(fd_.get(), KVM_GET_REGS, &regs) < 0 ? errno : 0;
}

int Vcpu::translate(std::uint64_t linear, std::uint64_t& physical) noexcept {
  kvm_translation t{};
  t.linear_address = linear;
  if (ioctl_arg(fd_.get(), KVM_TRANSLATE, &t) < 0) return errno;
  if (!t.valid) return ENOENT;
  physical = t.physical_address;
  return 0;
}

int Vcpu::inject_interrupt(std::uint8_t vector) noexcept {
  kvm_interrupt irq{};
  irq.irq = vector;
  return ioctl_arg(fd_.get(), KVM_INTERRUPT, &irq) < 0 ? errno : 0;
}

int Vcpu::in_interrupt_shadow(bool& shadowed) noexcept {
  kvm_vcpu_events events{};
  if (ioctl_arg(fd_.get(), KVM_GET_VCPU_EVENTS, &events) < 0) return errno;
  shadowed = (events.interrupt.shadow & (KVM_X86_SHADOW_INT_STI | KVM_X86_SHADOW_INT_MOV_SS)) != 0;
  return 0;
}

void Vcpu::set_lapic_virtual_wire() {
  constexpr std::size_t kLvtLint0 = 0x350, kLvtLint1 = 0x360;
  constexpr std::uint32_t kDeliveryModeMask = 0x700, kLvtMasked = 1u << 16;
  constexpr std::uint32_t kExtInt = 0x700, kNmi = 0x400;
  kvm_lapic_state lapic{};
  if (ioctl_arg(fd_.get(), KVM_GET_LAPIC, &lapic) < 0) throw_errno("KVM_GET_LAPIC");
  auto set_lvt = [&lapic](std::size_t at, std::uint32_t mode) {
    std::uint32_t value = 0;
    std::memcpy(&value, lapic.regs + at, sizeof value);
    value = (value & ~(kDeliveryModeMask | kLvtMasked)) | mode;
    std::memcpy(lapic.regs + at, &value, sizeof value);
  };
  set_lvt(kLvtLint0, kExtInt);
  set_lvt(kLvtLint1, kNmi);
  if (ioctl_arg(fd_.get(), KVM_SET_LAPIC, &lapic) < 0) throw_errno("KVM_SET_LAPIC");
}

int Vcpu::get_mp_state(std::uint32_t& state) noexcept {
  kvm_mp_state mp{};
  if (ioctl_arg(fd_.get(), KVM_GET_MP_STATE, &mp) < 0) return errno;
  state = mp.mp_state;
  return 0;
}

int Vcpu::inject_machine_check(const MachineCheck& event) noexcept {
  if (event.bank >= mce_banks_) return EINVAL;
  kvm_x86_mce mce{};
  mce.bank = event.bank;
  mce.status = event.status;
  mce.addr = event.addr;
  mce.misc = event.misc;
  mce.mcg_status = event.mcg_status;
  return ioctl_arg(fd_.get(), KVM_X86_SET_MCE, &mce) < 0 ? errno : 0;
}

}  // namespace vpio

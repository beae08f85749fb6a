// One guest's VM, vCPU and exit loop.
#include "vmm/machine.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <ctime>
#include <thread>

#include "hw/hex.hpp"
#include "hw/mc146818.hpp"
#include "vmm/linux_boot.hpp"
#include "vmm/long_mode.hpp"
#include "vmm/mptable.hpp"

namespace vpio {

using hw::hex;

namespace {

// The signal that kicks a vCPU out of KVM_RUN. It is blocked on vCPU threads
// except inside KVM_RUN, so a kick is never lost between two runs.
int kick_signal() noexcept { return SIGRTMIN + 2; }

void install_kick_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_handler = [](int) {};
    sigemptyset(&action.sa_mask);
    if (sigaction(kick_signal(), &action, nullptr) != 0) throw_errno("sigaction(kick signal)");
  });
}

std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

std::uint64_t checked_ram(const MachineConfig& config) {
  if (config.ram_bytes < kMinRamBytes || config.ram_bytes > kMaxRamBytes ||
      config.ram_bytes % kMiB != 0)
    throw std::invalid_argument("guest '" + config.name + "': RAM of " +
                                std::to_string(config.ram_bytes) +
                                " bytes is not a whole number of MiB from 2 to 3072");
  if (config.image.empty())
    throw std::invalid_argument("guest '" + config.name + "': the image is empty");
  // A kernel's fit is checked by plan_linux_layout.
  if (!config.linux_guest && config.image.size() > config.ram_bytes - layout::kImageBase)
    throw std::invalid_argument("guest '" + config.name + "': image of " +
                                std::to_string(config.image.size()) + " bytes does not fit in " +
                                std::to_string(config.ram_bytes / kMiB) +
                                " MiB of RAM above 0x100000");
  return config.ram_bytes;
}

// KVM's coalesced ring as laid out in C: two u32 indices, then 24-byte
// entries. The uapi header's flexible array has another size in C++ (see
// docs/kvm-notes.md), so the layout is declared here.
constexpr std::size_t kRingHeaderBytes = 8;
struct CoalescedEntry {
  std::uint64_t phys_addr;  // the port, for PIO
  std::uint32_t len;
  std::uint32_t pio;
  std::uint8_t data[8];
};
static_assert(sizeof(CoalescedEntry) == 24 && offsetof(CoalescedEntry, data) == 16);
constexpr std::uint64_t kRflagsIf = 1ULL << 9;
// A run of posted writes to one port is handed over as one string write.
constexpr std::size_t kMaxPostedBatchBytes = 4096;

}  // namespace

const char* exit_reason_name(std::uint32_t reason) noexcept {
  switch (reason) {
    case KVM_EXIT_IO: return "io";
    case KVM_EXIT_MMIO: return "mmio";
    case KVM_EXIT_HLT: return "hlt";
    case KVM_EXIT_SHUTDOWN: return "shutdown";
    case KVM_EXIT_FAIL_ENTRY: return "fail_entry";
    case KVM_EXIT_INTERNAL_ERROR: return "internal_error";
    case KVM_EXIT_IRQ_WINDOW_OPEN: return "irq_window_open";
    case KVM_EXIT_INTR: return "intr";
    case KVM_EXIT_SYSTEM_EVENT: return "system_event";
    default: return "other";
  }
}

namespace {

// KVM_SET_SIGNAL_MASK unblocks the kick only inside KVM_RUN. A kick that ends
// (or prevents) a run therefore stays pending once KVM_RUN has restored the
// thread's mask, and every later KVM_RUN would return EINTR at once without
// entering the guest. Consume it, and any queued copies (it is a real-time
// signal), after each EINTR. A kick sent after this is left pending and ends
// the next run early, so none is lost.
void drain_kicks() noexcept {
  sigset_t kick;
  sigemptyset(&kick);
  sigaddset(&kick, kick_signal());
  const timespec no_wait{};
  for (;;) {
    if (sigtimedwait(&kick, nullptr, &no_wait) >= 0) continue;
    if (errno == EINTR) continue;
    break;  // EAGAIN: nothing left pending
  }
}

}  // namespace

// Port 0xF4: a write ends the guest with the written value as its status.
class Machine::ExitPort final : public PortDevice {
 public:
  explicit ExitPort(std::optional<std::uint32_t>& status) : status_(status) {}
  std::uint32_t port_read(std::uint16_t, unsigned) noexcept override { return 0; }
  void port_write(std::uint16_t, unsigned, std::uint32_t value) noexcept override {
    if (!status_) status_ = value;  // any width counts; the ABI's is 32 bits
  }

 private:
  std::optional<std::uint32_t>& status_;
};

// The CMOS clock of a Linux guest, telling the host's time. Without it
// Linux's rtc-cmos probe reads all ones (update in progress, for ever) and
// spins in mc146818_avoid_UIP for seconds of exits.
class Machine::CmosClock final : public PortDevice {
 public:
  CmosClock() : chip_([] { return std::time(nullptr); }) {}
  std::uint32_t port_read(std::uint16_t offset, unsigned size) noexcept override {
    std::uint32_t value = 0;
    for (unsigned i = 0; i < size && i < 4; ++i) {
      const auto at = static_cast<std::uint16_t>(offset + i);
      const std::uint32_t byte = at < hw::Mc146818::kPorts ? chip_.read(at) : 0xffu;
      value |= byte << (8 * i);
    }
    return value;
  }
  void port_write(std::uint16_t offset, unsigned size, std::uint32_t value) noexcept override {
    for (unsigned i = 0; i < size && i < 4; ++i) {
      const auto at = static_cast<std::uint16_t>(offset + i);
      if (at < hw::Mc146818::kPorts) chip_.write(at, static_cast<std::uint8_t>(value >> (8 * i)));
    }
  }

 private:
  hw::Mc146818 chip_;
};

// The guest as its observer sees it: the vCPU's exit state, registers and
// page tables, and RAM, read only.
class Machine::Observed final : public ObservedGuest {
 public:
  explicit Observed(Machine& machine) noexcept : machine_(machine) {}
  const kvm_run& exit_state() const noexcept override { return machine_.vcpu_.run_state(); }
  bool registers(kvm_regs& out) noexcept override {
    Vcpu& vcpu = machine_.vcpu_;
    if (vcpu.regs_synced()) {
      out = vcpu.run_state().s.regs.regs;
      return true;
    }
    return vcpu.get_regs(out) == 0;
  }
  bool translate(std::uint64_t linear, std::uint64_t& physical) noexcept override {
    return machine_.vcpu_.translate(linear, physical) == 0;
  }
  std::span<const std::uint8_t> ram(std::uint64_t physical,
                                    std::size_t bytes) const noexcept override {
    return machine_.memory_.bytes(physical, bytes);
  }
  int vcpu_fd() const noexcept override { return machine_.vcpu_.fd(); }

 private:
  Machine& machine_;
};

Machine::Machine(const Kvm& kvm, MachineConfig config, ConsoleSink* console)
    : config_(std::move(config)),
      kvm_identity_(describe(kvm)),
      vm_(kvm, config_.linux_guest.has_value()),
      memory_(checked_ram(config_)),
      vcpu_(kvm, vm_, 0),
      console_(config_.name, console),
      exit_port_(std::make_unique<ExitPort>(exit_status_)) {
  install_kick_handler();
  vm_.map_memory(0, 0, memory_.size(), memory_.host_base());
  // Without the capability KVM offers its old fixed 32 slots.
  const int slots = kvm.check_extension(KVM_CAP_NR_MEMSLOTS);
  memory_slots_ = slots > 0 ? static_cast<std::uint32_t>(slots) : 32;
  if (config_.linux_guest) {
    load_linux(kvm);
  } else {
    auto image = memory_.bytes(layout::kImageBase, config_.image.size());
    std::memcpy(image.data(), config_.image.data(), config_.image.size());
    vcpu_.set_cpuid(kvm.supported_cpuid());
    vcpu_.setup_machine_check(kvm.mce_capabilities(), kMachineCheckBanks);
    enter_long_mode(memory_, vcpu_, layout::kImageBase);
    pit_ = std::make_unique<PitTimer>([this] { raise_irq(PitTimer::kIrq); },
                                      [this] { add_interrupt_source(); });
    ports_.add(PitTimer::kBasePort, hw::Pit8254::kWindowPorts, *pit_, "pit");
  }
  if (config_.coalesced_pio) {
    // KVM_CAP_COALESCED_MMIO reports the ring's page offset in the mapping.
    const int ring_page = kvm.check_extension(KVM_CAP_COALESCED_MMIO);
    const long page = ::sysconf(_SC_PAGESIZE);
    if (ring_page > 0 && page > 0 && kvm.check_extension(KVM_CAP_COALESCED_PIO) > 0) {
      coalesced_ring_ = vcpu_.coalesced_ring(ring_page);
      coalesced_slots_ = static_cast<std::uint32_t>(
          (static_cast<std::size_t>(page) - kRingHeaderBytes) / sizeof(CoalescedEntry));
    }
  }
  ports_.add(ConsolePort::kPort, 1, console_, "console");
  ports_.add(kExitPort, 1, *exit_port_, "exit");
  if (config_.observer) {
    observer_ = config_.observer.get();
    observed_ = std::make_unique<Observed>(*this);
    if ((kvm.check_extension(KVM_CAP_SYNC_REGS) & static_cast<int>(KVM_SYNC_X86_REGS)) != 0)
      vcpu_.sync_regs_on_exit();
    // By default KVM steps past an `out` to port 0x7e before the exit (for an
    // old userspace); an observer wants every exit's rip on its instruction.
    if (kvm.check_extension(KVM_CAP_DISABLE_QUIRKS) > 0)
      vm_.enable_cap(KVM_CAP_DISABLE_QUIRKS, KVM_X86_QUIRK_OUT_7E_INC_RIP,
                     "KVM_CAP_DISABLE_QUIRKS: OUT_7E_INC_RIP");
  }
}

Machine::~Machine() = default;

void Machine::load_linux(const Kvm& kvm) {
  const LinuxBootConfig& boot = *config_.linux_guest;
  const BzImage header = parse_bzimage(config_.image, boot.kernel_path);
  const LinuxLayout placed =
      plan_linux_layout(header, config_.image.size(), boot.initrd.size(), boot.command_line.size(),
                        memory_.size(), boot.kernel_path, boot.initrd_path);
  write_linux_boot(memory_, config_.image, header, placed, boot.initrd, boot.command_line);
  write_mptable(memory_, {});
  // The CPUID flat guests get, but saying "hypervisor"; machine-check banks
  // as for every guest; the local APIC wired as firmware leaves it.
  vcpu_.set_cpuid(linux_guest_cpuid(kvm.supported_cpuid()));
  vcpu_.set_lapic_virtual_wire();
  vcpu_.setup_machine_check(kvm.mce_capabilities(), kMachineCheckBanks);
  enter_linux_64(memory_, vcpu_, placed.entry, linux_boot::kBootParams);
  serial_ = std::make_unique<SerialConsole>(
      console_, [this](bool level) { vm_.set_irq_line(SerialConsole::kIrq, level); });
  ports_.add(SerialConsole::kPort, hw::Uart16550::kWindowPorts, *serial_, "com1");
  ++interrupt_sources_;
  pci_ = std::make_unique<PciPorts>(ports_, &mmio_);
  cmos_ = std::make_unique<CmosClock>();
  ports_.add(hw::Mc146818::kIndexPort, hw::Mc146818::kPorts, *cmos_, "cmos");
}

unsigned Machine::add_pci_io_function(const hw::PciIdentity& identity, PortDevice& window,
                                      std::uint16_t bytes, std::uint16_t base, unsigned irq,
                                      std::string name, hw::PciFunction::WindowMoved moved,
                                      MmioWindow* memory) {
  if (!pci_)
    throw std::invalid_argument("guest '" + config_.name +
                                "' is a flat test guest: it has no PCI bus");
  if (irq == 0 || irq == 2 || irq == SerialConsole::kIrq || irq >= kIrqLines)
    throw std::invalid_argument(
        "irq=" + std::to_string(irq) + " cannot be a PCI interrupt of Linux guest '" +
        config_.name + "': IRQ 0 is the timer's, 2 the cascade, 4 COM1's");
  std::optional<PciPorts::MemoryBar> bar;
  if (memory != nullptr) {
    // A power of two from 16 bytes holding the window, at a base aligned to
    // it, a page apart from the next (exit-free pages are whole pages).
    std::uint32_t bar_bytes = 16;
    while (bar_bytes < memory->bytes()) bar_bytes <<= 1;
    const std::uint32_t step = std::max(bar_bytes, hw::kMmioPageBytes);
    const std::uint32_t bar_base = (next_memory_bar_ + step - 1) / step * step;
    bar = PciPorts::MemoryBar{memory, bar_bytes, bar_base, this};
    next_memory_bar_ = bar_base + step;
  }
  const unsigned device = pci_->add_io_function(identity, window, bytes, base,
                                                static_cast<std::uint8_t>(irq), std::move(name),
                                                std::move(moved), bar);
  write_mptable(memory_, pci_->routes());
  return device;
}

// With the in-kernel irqchip a HLT never reaches vpio: the vCPU waits in
// KVM_RUN. Linux powers off without ACPI by halting with interrupts off
// for good (stop_this_cpu), so a guest that has made no exit for a while is
// kicked out of KVM_RUN to see whether it halted so.
void Machine::watch_for_halt() noexcept {
  constexpr auto kQuietPeriod = std::chrono::milliseconds(100);
  std::unique_lock lock(events_mutex_);
  std::uint64_t seen = counters_.userspace_exits.load();
  while (!halt_watch_done_) {
    if (events_changed_.wait_for(lock, kQuietPeriod, [this] { return halt_watch_done_; })) break;
    const std::uint64_t now = counters_.userspace_exits.load();
    if (now == seen && running_) pthread_kill(thread_, kick_signal());
    seen = now;
  }
}

bool Machine::halted_with_interrupts_off() noexcept {
  std::uint32_t mp_state = 0;
  kvm_regs regs{};
  return vcpu_.get_mp_state(mp_state) == 0 && mp_state == KVM_MP_STATE_HALTED &&
         vcpu_.get_regs(regs) == 0 && (regs.rflags & kRflagsIf) == 0;
}

GuestOutcome Machine::run() noexcept {
  GuestOutcome outcome;
  {
    sigset_t kick;
    sigemptyset(&kick);
    sigaddset(&kick, kick_signal());
    pthread_sigmask(SIG_BLOCK, &kick, nullptr);
    try {
      vcpu_.set_run_signal_mask(kick_signal());
    } catch (const std::exception& e) {
      crash(outcome, e.what());
      return outcome;
    }
    std::lock_guard lock(events_mutex_);
    thread_ = pthread_self();
    running_ = true;
  }
  kvm_run& state = vcpu_.run_state();
  if (observer_) observer_->on_run_start(*observed_);
  std::thread halt_watch;
  if (config_.linux_guest) {
    try {
      halt_watch = std::thread([this] { watch_for_halt(); });
    } catch (...) {
      crash(outcome, "cannot start the thread that watches for a halt", false);
      std::lock_guard lock(events_mutex_);
      running_ = false;
      return outcome;
    }
  }
  for (;;) {
    if (stop_requested_) {
      outcome.kind = GuestOutcome::Kind::stopped;
      outcome.detail = "stopped by the VMM" + stopped_where();
      break;
    }
    deliver_pending_events();
    exit_since_ns_.store(0, std::memory_order_relaxed);
    int err = vcpu_.run();
    // One clock read per exit, for the observer and for busy_in_vmm().
    const std::uint64_t exited_at = now_ns();
    exit_reason_now_.store(state.exit_reason, std::memory_order_relaxed);
    exit_port_now_.store(state.exit_reason == KVM_EXIT_IO ? state.io.port : 0,
                         std::memory_order_relaxed);
    exit_since_ns_.store(std::max<std::uint64_t>(exited_at, 1), std::memory_order_relaxed);
    // Writes KVM posted during the run came before whatever ended it.
    drain_posted_writes();
    if (err == EINTR || err == EAGAIN) {
      if (observer_) observer_->on_interrupted_run();
      if (err == EINTR) drain_kicks();
      if (config_.linux_guest && halted_with_interrupts_off()) {
        outcome.kind = GuestOutcome::Kind::halted;
        outcome.status = 0;
        outcome.detail = "halted with interrupts disabled";
        break;
      }
      state.immediate_exit = 0;
      continue;
    }
    if (err != 0) {
      crash(outcome, std::string("KVM_RUN failed: ") + std::strerror(err));
      break;
    }
    counters_.userspace_exits.fetch_add(1, std::memory_order_relaxed);
    counters_.by_reason[state.exit_reason % ExitCounters::kReasons].fetch_add(
        1, std::memory_order_relaxed);
    Step step;
    try {
      step = handle_exit(outcome);
    } catch (...) {
      step = crash(outcome, "the VMM ran out of memory handling an exit", false);
    }
    if (observer_) observer_->on_exit(*observed_, exited_at, last_path_);
    if (step == Step::finished) break;
  }
  if (observer_) observer_->on_run_end(*observed_);
  if (pit_) pit_->stop();  // a guest that has ended takes no more ticks
  {
    std::lock_guard lock(events_mutex_);
    running_ = false;
    halt_watch_done_ = true;
    events_changed_.notify_all();
  }
  if (halt_watch.joinable()) halt_watch.join();
  console_.flush();
  return outcome;
}

Machine::Step Machine::handle_exit(GuestOutcome& outcome) {
  kvm_run& state = vcpu_.run_state();
  switch (state.exit_reason) {
    case KVM_EXIT_IO:
      if (handle_io() == Step::resume) return Step::resume;
      outcome.kind = GuestOutcome::Kind::exited;
      outcome.status = *exit_status_;
      outcome.detail = "exited with status " + std::to_string(outcome.status);
      return Step::finished;
    case KVM_EXIT_HLT: return handle_hlt(outcome);
    case KVM_EXIT_IRQ_WINDOW_OPEN:
    case KVM_EXIT_INTR: return Step::resume;
    case KVM_EXIT_MMIO: return handle_mmio(outcome);
    case KVM_EXIT_SHUTDOWN:
      // KVM has already reset the vCPU (rip reads 0xfff0): no registers to show.
      return crash(outcome, "triple fault (KVM_EXIT_SHUTDOWN)", false);
    case KVM_EXIT_FAIL_ENTRY:
      return crash(outcome, "VM entry failed (KVM_EXIT_FAIL_ENTRY), hardware reason " +
                                hex(state.fail_entry.hardware_entry_failure_reason));
    case KVM_EXIT_INTERNAL_ERROR:
      return crash(outcome, "KVM internal error (KVM_EXIT_INTERNAL_ERROR), suberror " +
                                std::to_string(state.internal.suberror));
    case KVM_EXIT_SYSTEM_EVENT:
      return crash(outcome, "system event (KVM_EXIT_SYSTEM_EVENT) type " +
                                std::to_string(state.system_event.type));
    default:
      return crash(outcome, "unexpected exit reason " + std::to_string(state.exit_reason) + " (" +
                                exit_reason_name(state.exit_reason) + ")");
  }
}

Machine::Step Machine::handle_io() noexcept {
  kvm_run& state = vcpu_.run_state();
  auto& io = state.io;
  std::uint8_t* data = reinterpret_cast<std::uint8_t*>(&state) + io.data_offset;
  const unsigned size = io.size;
  const std::size_t bytes = static_cast<std::size_t>(size) * io.count;
  counters_.port_accesses.fetch_add(io.count, std::memory_order_relaxed);

  const PortRange* range = ports_.find(io.port);
  if (range == nullptr) {
    // Like an empty ISA bus: reads float high, writes vanish.
    last_path_.reset();
    counters_.unclaimed_accesses.fetch_add(io.count, std::memory_order_relaxed);
    if (io.direction == KVM_EXIT_IO_IN) std::memset(data, 0xff, bytes);
    return Step::resume;
  }
  const auto offset = static_cast<std::uint16_t>(io.port - range->base);
  PortDevice& device = *range->device;
  if (io.direction == KVM_EXIT_IO_IN) {
    if (io.count == 1)
      store_element(data, size, device.port_read(offset, size));
    else
      device.port_read_string(offset, size, {data, bytes});
  } else {
    if (io.count == 1)
      device.port_write(offset, size, load_element(data, size));
    else
      device.port_write_string(offset, size, {data, bytes});
  }
  if (observer_) last_path_ = device.last_path();
  return exit_status_ ? Step::finished : Step::resume;
}

Machine::Step Machine::handle_mmio(GuestOutcome& outcome) {
  auto& mmio = vcpu_.run_state().mmio;
  const unsigned size = mmio.len;
  const MmioRange* range =
      size >= 1 && size <= sizeof mmio.data ? mmio_.find(mmio.phys_addr, size) : nullptr;
  if (range == nullptr) {
    last_path_.reset();
    return crash(outcome, std::string("MMIO ") + (mmio.is_write ? "write" : "read") + " of " +
                              std::to_string(size) + " bytes to unbacked address " +
                              hex(mmio.phys_addr));
  }
  const std::uint64_t offset = mmio.phys_addr - range->base;
  std::uint64_t value = 0;
  if (mmio.is_write) {
    std::memcpy(&value, mmio.data, size);
    range->device->mmio_write(offset, size, value);
  } else {
    value = range->device->mmio_read(offset, size);
    std::memcpy(mmio.data, &value, size);
  }
  if (observer_) last_path_ = range->device->last_path();
  return Step::resume;
}

bool Machine::map_page(std::uint64_t guest_physical, std::uint8_t* host) noexcept {
  constexpr std::uint64_t kPage = hw::kMmioPageBytes;
  if (host == nullptr || reinterpret_cast<std::uintptr_t>(host) % kPage != 0 ||
      guest_physical % kPage != 0 || guest_physical < memory_.size())
    return false;
  std::lock_guard lock(page_slots_mutex_);
  if (page_slots_.contains(guest_physical)) return false;
  // The lowest slot no page holds.
  std::vector<bool> taken(memory_slots_, false);
  for (const auto& [address, slot] : page_slots_) taken[slot] = true;
  std::uint32_t slot = 1;
  while (slot < memory_slots_ && taken[slot]) ++slot;
  if (slot >= memory_slots_) return false;
  if (const int error = vm_.set_memory_region(slot, guest_physical, kPage, host); error != 0) {
    std::fprintf(stderr, "vpio: %s: mapping a device page at 0x%llx: %s\n", config_.name.c_str(),
                 static_cast<unsigned long long>(guest_physical), std::strerror(error));
    return false;
  }
  try {
    page_slots_.emplace(guest_physical, slot);
  } catch (...) {
    vm_.set_memory_region(slot, guest_physical, 0, host);
    return false;
  }
  return true;
}

void Machine::unmap_page(std::uint64_t guest_physical) noexcept {
  std::lock_guard lock(page_slots_mutex_);
  const auto it = page_slots_.find(guest_physical);
  if (it == page_slots_.end()) return;
  // KVM returns once no vCPU can reach the old mapping.
  if (const int error = vm_.set_memory_region(it->second, guest_physical, 0, nullptr); error != 0)
    std::fprintf(stderr, "vpio: %s: unmapping the device page at 0x%llx: %s\n",
                 config_.name.c_str(), static_cast<unsigned long long>(guest_physical),
                 std::strerror(error));
  page_slots_.erase(it);
}

std::size_t Machine::pages_mapped() const {
  std::lock_guard lock(page_slots_mutex_);
  return page_slots_.size();
}

void Machine::post_writes(std::uint16_t port, std::uint16_t bytes, bool on) noexcept {
  if (coalesced_ring_ == nullptr || bytes == 0) return;
  std::lock_guard lock(posted_mutex_);
  std::size_t at = 0;
  while (at < posted_count_ &&
         !(posted_zones_[at].port == port && posted_zones_[at].bytes == bytes))
    ++at;
  const bool registered = at < posted_count_;
  if (registered == on) return;
  if (on && posted_count_ == kMaxPostedZones) {
    std::fprintf(stderr,
                 "vpio: guest '%s': more than %zu posted port ranges; writes to 0x%x "
                 "exit as before\n",
                 config_.name.c_str(), kMaxPostedZones, port);
    return;
  }
  const int err =
      on ? vm_.register_coalesced_pio(port, bytes) : vm_.unregister_coalesced_pio(port, bytes);
  if (err != 0) {
    std::fprintf(stderr, "vpio: guest '%s': %s of ports 0x%x-0x%x failed: %s\n",
                 config_.name.c_str(),
                 on ? "KVM_REGISTER_COALESCED_MMIO (pio)" : "KVM_UNREGISTER_COALESCED_MMIO (pio)",
                 port, port + bytes - 1, std::strerror(err));
    return;
  }
  if (on)
    posted_zones_[posted_count_++] = {port, bytes};
  else
    posted_zones_[at] = posted_zones_[--posted_count_];
}

// Hands every write KVM queued since the last exit to its device, in the
// guest's order; consecutive writes of one size to one port go as one string
// write. Runs on the vCPU thread, which alone consumes the ring, while the
// vCPU is out of KVM_RUN, so KVM adds nothing meanwhile.
void Machine::drain_posted_writes() noexcept {
  kvm_coalesced_mmio_ring* ring = coalesced_ring_;
  if (ring == nullptr) return;
  std::uint32_t first = ring->first;
  const std::uint32_t last = __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE);
  if (first == last) return;
  counters_.ring_drains.fetch_add(1, std::memory_order_relaxed);
  const auto* entries = reinterpret_cast<const CoalescedEntry*>(
      reinterpret_cast<const std::uint8_t*>(ring) + kRingHeaderBytes);
  std::array<std::uint8_t, kMaxPostedBatchBytes> batch;
  std::size_t used = 0;
  std::uint16_t batch_port = 0;
  unsigned batch_size = 0;
  while (first != last && first < coalesced_slots_ && last < coalesced_slots_) {
    const CoalescedEntry& e = entries[first];
    first = (first + 1) % coalesced_slots_;
    // Only PIO zones of at most 4 bytes are ever registered.
    if (e.pio == 0 || e.len == 0 || e.len > 4 || e.phys_addr > 0xffff) continue;
    const auto port = static_cast<std::uint16_t>(e.phys_addr);
    if (used != 0 && (port != batch_port || e.len != batch_size || used + e.len > batch.size())) {
      dispatch_posted(batch_port, batch_size, {batch.data(), used});
      used = 0;
    }
    batch_port = port;
    batch_size = e.len;
    std::memcpy(batch.data() + used, e.data, e.len);
    used += e.len;
  }
  if (used != 0) dispatch_posted(batch_port, batch_size, {batch.data(), used});
  __atomic_store_n(&ring->first, last, __ATOMIC_RELEASE);
}

void Machine::dispatch_posted(std::uint16_t port, unsigned size,
                              std::span<const std::uint8_t> data) noexcept {
  const std::uint64_t elements = data.size() / size;
  counters_.port_accesses.fetch_add(elements, std::memory_order_relaxed);
  counters_.coalesced_accesses.fetch_add(elements, std::memory_order_relaxed);
  const PortRange* range = ports_.find(port);
  if (range == nullptr) {
    counters_.unclaimed_accesses.fetch_add(elements, std::memory_order_relaxed);
    if (observer_) observer_->on_posted(port, std::nullopt, elements);
    return;
  }
  range->device->port_write_posted(static_cast<std::uint16_t>(port - range->base), size, data);
  if (observer_) observer_->on_posted(port, range->device->last_path(), elements);
}

std::string Machine::busy_in_vmm() const {
  const std::uint64_t since = exit_since_ns_.load(std::memory_order_relaxed);
  if (since == 0) return {};
  const std::uint32_t reason = exit_reason_now_.load(std::memory_order_relaxed);
  std::string what = std::string("handling a KVM exit (") + exit_reason_name(reason);
  if (reason == KVM_EXIT_IO) what += ", port " + hex(exit_port_now_.load(std::memory_order_relaxed));
  const std::uint64_t now = now_ns();
  return what + ") for " + std::to_string(now > since ? (now - since) / 1000000 : 0) + " ms";
}

// Where a stopped guest was, for the outcome: a guest stopped by a deadline
// is most often one that waited for an interrupt that never came.
std::string Machine::stopped_where() noexcept {
  try {
    std::string where;
    kvm_regs regs{};
    if (vcpu_.get_regs(regs) == 0)
      where += " at rip=" + hex(regs.rip) + (regs.rflags & kRflagsIf ? " (IF=1)" : " (IF=0)");
    if (halt_waits_ > 0)
      where += "; " + std::to_string(halt_waits_) + " waits in hlt, the last " +
               (waiting_in_hlt_ ? "unfinished" : "ended");
    where += "; irqs pending " + hex(pending_irqs_.load()) + ", injected " +
             std::to_string(counters_.interrupts_injected.load());
    return where;
  } catch (...) {
    return {};
  }
}

Machine::Step Machine::handle_hlt(GuestOutcome& outcome) {
  if (!vcpu_.run_state().if_flag) {
    outcome.kind = GuestOutcome::Kind::halted;
    outcome.status = 0;
    outcome.detail = "halted with interrupts disabled";
    return Step::finished;
  }
  if (interrupt_sources_ == 0) {
    // Nothing could ever wake it: waiting would hang the run.
    outcome.kind = GuestOutcome::Kind::halted;
    outcome.status = 0;
    outcome.detail = "halted with interrupts enabled, but no device can interrupt it";
    return Step::finished;
  }
  std::unique_lock lock(events_mutex_);
  ++halt_waits_;
  waiting_in_hlt_ = true;
  events_changed_.wait(lock, [this] {
    return pending_irqs_ != 0 || !pending_machine_checks_.empty() || stop_requested_;
  });
  waiting_in_hlt_ = !(pending_irqs_ != 0 || !pending_machine_checks_.empty());
  return Step::resume;
}

Machine::Step Machine::crash(GuestOutcome& outcome, std::string what,
                             bool with_registers) noexcept {
  outcome.kind = GuestOutcome::Kind::crashed;
  outcome.status = 0;
  try {
    std::string where;
    try {
      if (with_registers) {
        kvm_regs regs = vcpu_.regs();
        where = " at rip=" + hex(regs.rip) + " rsp=" + hex(regs.rsp);
      }
    } catch (...) {
    }
    outcome.detail = "crashed: " + what + where;
  } catch (...) {
  }
  return Step::finished;
}

void Machine::deliver_pending_events() noexcept {
  kvm_run& state = vcpu_.run_state();
  {
    std::lock_guard lock(events_mutex_);
    // KVM turns a machine check that arrives while the guest still handles the
    // previous one (MCG_STATUS.MCIP set) into a triple fault: hold it until the
    // guest's handler has cleared MCIP.
    std::uint64_t mcg_status = 0;
    if (!pending_machine_checks_.empty() && vcpu_.get_msr(mce::kMsrMcgStatus, mcg_status) == 0 &&
        (mcg_status & mce::kMcgStatusMcip) == 0) {
      int err = vcpu_.inject_machine_check(pending_machine_checks_.front());
      if (err == 0)
        counters_.machine_checks_delivered.fetch_add(1, std::memory_order_relaxed);
      else
        std::fprintf(stderr, "vpio: guest '%s': KVM_X86_SET_MCE failed: %s\n", config_.name.c_str(),
                     std::strerror(err));
      pending_machine_checks_.pop_front();
    }
  }
  std::uint32_t irqs = pending_irqs_.load(std::memory_order_acquire);
  // An interrupt taken between `sti` and `hlt` would run its handler before
  // the hlt, which then sleeps past the event the handler just consumed.
  // KVM's ready_for_interrupt_injection should already say no there; a KVM
  // (or an emulated SVM under it) that loses the shadow at an exit does not,
  // so ask for the shadow itself and wait for the window instead.
  bool inject = irqs != 0 && state.ready_for_interrupt_injection && state.if_flag;
  if (bool shadowed = false; inject && vcpu_.in_interrupt_shadow(shadowed) == 0 && shadowed) {
    counters_.injections_held_in_shadow.fetch_add(1, std::memory_order_relaxed);
    inject = false;
  }
  if (inject) {
    const auto irq = static_cast<unsigned>(__builtin_ctz(irqs));
    pending_irqs_.fetch_and(~(1u << irq), std::memory_order_acq_rel);
    if (vcpu_.inject_interrupt(static_cast<std::uint8_t>(kIrqVectorBase + irq)) == 0) {
      counters_.interrupts_injected.fetch_add(1, std::memory_order_relaxed);
      counters_.interrupts_by_irq[irq].fetch_add(1, std::memory_order_relaxed);
    } else {
      pending_irqs_.fetch_or(1u << irq, std::memory_order_acq_rel);  // try again next entry
    }
  }
  state.request_interrupt_window = pending_irqs_.load(std::memory_order_acquire) != 0 ? 1 : 0;
}

void Machine::raise_irq(unsigned irq) noexcept {
  if (irq >= kIrqLines) return;
  if (config_.linux_guest) {
    // ISA lines are edge-triggered at the PIC and IOAPIC.
    vm_.set_irq_line(irq, true);
    vm_.set_irq_line(irq, false);
    counters_.interrupts_injected.fetch_add(1, std::memory_order_relaxed);
    counters_.interrupts_by_irq[irq].fetch_add(1, std::memory_order_relaxed);
    return;
  }
  pending_irqs_.fetch_or(1u << irq, std::memory_order_acq_rel);
  kick();
}

bool Machine::inject_machine_check(const MachineCheck& event) noexcept {
  if (event.bank >= vcpu_.machine_check_banks()) return false;
  try {
    std::lock_guard lock(events_mutex_);
    if (pending_machine_checks_.size() >= kMaxPendingMachineChecks) return false;
    MachineCheck queued = event;
    if (queued.mcg_status == 0) queued.mcg_status = mce::kMcgStatusMcip | mce::kMcgStatusRipv;
    pending_machine_checks_.push_back(queued);
  } catch (...) {
    return false;
  }
  kick();
  return true;
}

void Machine::request_stop() noexcept {
  stop_requested_ = true;
  kick();
}

void Machine::kick() noexcept {
  std::lock_guard lock(events_mutex_);
  events_changed_.notify_all();
  // From the vCPU's own thread the event is picked up before the next run.
  if (running_ && !pthread_equal(thread_, pthread_self())) pthread_kill(thread_, kick_signal());
}

std::vector<std::uint8_t> read_image(const std::string& path, std::uint64_t ram_bytes) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    throw std::runtime_error("cannot read image '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(info.st_mode))
    throw std::runtime_error("image '" + path + "' is not a regular file");
  const auto limit = ram_bytes > layout::kImageBase ? ram_bytes - layout::kImageBase : 0;
  if (static_cast<std::uint64_t>(info.st_size) > limit)
    throw std::runtime_error("image '" + path + "' is " + std::to_string(info.st_size) +
                             " bytes; at most " + std::to_string(limit) + " fit in " +
                             std::to_string(ram_bytes / kMiB) + " MiB of RAM above 0x100000");
  if (info.st_size == 0) throw std::runtime_error("image '" + path + "' is empty");
  std::ifstream in(path, std::ios::binary);
  std::vector<std::uint8_t> image(static_cast<std::size_t>(info.st_size));
  if (!in.read(reinterpret_cast<char*>(image.data()), info.st_size))
    throw std::runtime_error("cannot read image '" + path + "'");
  return image;
}

}  // namespace vpio

// One guest: a VM with one vCPU, its RAM, its port bus and the exit loop.
// Several Machines run in one process, each on its own thread.
#pragma once

#include <pthread.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hooks/mmio_bus.hpp"
#include "hooks/mmio_window.hpp"
#include "hooks/port_bus.hpp"
#include "kvm/kvm.hpp"
#include "kvm/kvm_identity.hpp"
#include "vmm/console.hpp"
#include "vmm/exit_observer.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/pci_ports.hpp"
#include "vmm/pit_timer.hpp"

namespace vpio {

inline constexpr std::uint64_t kMiB = 1ULL << 20;
inline constexpr std::uint64_t kDefaultRamBytes = 64 * kMiB;
inline constexpr std::uint64_t kMinRamBytes = 2 * kMiB;
inline constexpr std::uint64_t kMaxRamBytes = 3072 * kMiB;  // below the MMIO hole
// Where a Linux guest's memory BARs start: in the MMIO hole, a page each.
inline constexpr std::uint32_t kPciMemoryBase = 0xe0000000u;
// ISA IRQ n reaches the guest as vector kIrqVectorBase + n (no PIC is modelled).
inline constexpr std::uint8_t kIrqVectorBase = 0x20;
inline constexpr unsigned kIrqLines = 16;
inline constexpr unsigned kMachineCheckBanks = 4;

// What a Linux guest gets besides its kernel (MachineConfig::image, a bzImage).
struct LinuxBootConfig {
  std::string kernel_path;  // for messages
  std::string initrd_path;  // empty: no initrd
  std::vector<std::uint8_t> initrd;
  std::string command_line;  // whole, vpio.guest=N included
};

struct MachineConfig {
  std::string name = "guest";
  std::uint64_t ram_bytes = kDefaultRamBytes;
  // A flat image (the guest ABI), or with `linux_guest` set a bzImage.
  std::vector<std::uint8_t> image;
  // A Linux guest: booted by the 64-bit boot protocol, with KVM's in-kernel
  // irqchip and PIT, COM1 as its console, and ended by HLT with interrupts
  // off (Linux's poweroff without ACPI) or the exit port.
  std::optional<LinuxBootConfig> linux_guest;
  // Told of every run and exit (the exit profiler, profile/exit_profiler.hpp),
  // and kept alive by the machine while it runs. None: only the cheap
  // ExitCounters.
  std::shared_ptr<ExitObserver> observer;
  // Let devices post writes (PostedWrites) where KVM offers coalesced PIO.
  // Off: every port write exits, as on a KVM without it.
  bool coalesced_pio = true;
};

struct GuestOutcome {
  enum class Kind { exited, halted, crashed, stopped };
  Kind kind = Kind::stopped;
  std::uint32_t status = 0;  // the value written to the exit port
  std::string detail;        // what happened, for crashes a one-line report
  bool timed_out = false;    // stopped because run_concurrently's deadline passed

  bool ok() const noexcept { return (kind == Kind::exited || kind == Kind::halted) && status == 0; }
};

// Exact counts kept on every run; cheap enough for the hot path.
struct ExitCounters {
  static constexpr unsigned kReasons = 64;
  std::array<std::atomic<std::uint64_t>, kReasons> by_reason{};
  std::atomic<std::uint64_t> userspace_exits{0};
  std::atomic<std::uint64_t> port_accesses{0};       // every element of a string op
  std::atomic<std::uint64_t> coalesced_accesses{0};  // of which posted: no exit of their own
  std::atomic<std::uint64_t> ring_drains{0};         // exits that found posted writes waiting
  std::atomic<std::uint64_t> unclaimed_accesses{0};  // ports no device serves
  std::atomic<std::uint64_t> interrupts_injected{0};
  std::array<std::atomic<std::uint64_t>, kIrqLines> interrupts_by_irq{};  // of which, per ISA line
  std::atomic<std::uint64_t> injections_held_in_shadow{0};  // KVM said ready inside an sti shadow
  std::atomic<std::uint64_t> machine_checks_delivered{0};
};

class Machine final : public PostedWrites, public PageMapper {
 public:
  static constexpr std::uint16_t kExitPort = 0xf4;

  Machine(const Kvm& kvm, MachineConfig config, ConsoleSink* console);
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;
  ~Machine() override;

  const std::string& name() const noexcept { return config_.name; }
  PortBus& ports() noexcept { return ports_; }
  const PortBus& ports() const noexcept { return ports_; }
  // Devices above RAM. An MMIO access no range serves ends the guest.
  MmioBus& mmio() noexcept { return mmio_; }
  const MmioBus& mmio() const noexcept { return mmio_; }
  GuestMemory& memory() noexcept { return memory_; }
  Vcpu& vcpu() noexcept { return vcpu_; }
  const ExitCounters& counters() const noexcept { return counters_; }
  // The KVM this machine runs on, for the profile and --stats to name.
  const KvmIdentity& kvm_identity() const noexcept { return kvm_identity_; }
  const std::string& console_transcript() const noexcept { return console_.transcript(); }
  // Whether run() is running the guest now (for progress; safe from any thread).
  bool running() const noexcept { return running_; }

  // Runs the guest on the calling thread until it exits, halts with
  // interrupts off, crashes or is stopped.
  GuestOutcome run() noexcept;

  bool is_linux() const noexcept { return config_.linux_guest.has_value(); }
  // A Linux guest's PCI bus (configuration mechanism #1, a host bridge);
  // nullptr for a flat guest, which has none.
  PciPorts* pci() noexcept { return pci_.get(); }
  // Adds a PCI function with one I/O BAR serving `window` (PciPorts::
  // add_io_function) and puts its INTA in the guest's MP table on IOAPIC pin
  // `irq`. With `memory`, the function also has a memory BAR serving it,
  // placed in the MMIO hole above RAM (kPciMemoryBase up). Before the guest
  // runs. Throws std::invalid_argument for a flat guest, an IRQ that is not
  // free for PCI (0, 2 and 4: timer, cascade, COM1; past 15), a full bus or
  // an overlap.
  unsigned add_pci_io_function(const hw::PciIdentity& identity, PortDevice& window,
                               std::uint16_t bytes, std::uint16_t base, unsigned irq,
                               std::string name, hw::PciFunction::WindowMoved moved,
                               MmioWindow* memory = nullptr);
  // Safe from any thread. On a Linux guest (in-kernel irqchip) an edge on
  // the ISA line: up, then down.
  void raise_irq(unsigned irq) noexcept;
  // Queued and delivered, in order, before the guest next runs, each once the
  // guest has finished handling the previous one (MCG_STATUS.MCIP clear).
  // Returns false when the bank does not exist or too many are queued.
  bool inject_machine_check(const MachineCheck& event) noexcept;
  static constexpr std::size_t kMaxPendingMachineChecks = 64;
  // A device that can raise interrupts is attached. A guest halted with
  // interrupts enabled and no such device can never wake, and is ended.
  void add_interrupt_source() noexcept { ++interrupt_sources_; }
  void request_stop() noexcept;
  // Where the vCPU thread is, for a run that does not stop when asked: the
  // KVM exit it has been handling for how long (it is then stuck in the
  // VMM, which a stop request cannot interrupt), or "" while in KVM_RUN.
  std::string busy_in_vmm() const;

  // Whether this machine posts writes: its KVM offers coalesced PIO and the
  // config allows it. Otherwise post_writes() does nothing.
  bool posts_writes() const noexcept { return coalesced_ring_ != nullptr; }
  // PostedWrites: registers or drops a coalesced PIO zone. Safe from any
  // thread; a failure is reported on stderr and leaves the writes exiting.
  void post_writes(std::uint16_t port, std::uint16_t bytes, bool on) noexcept override;

  // PageMapper: a device's exit-free page as a memory slot of its own, above
  // RAM. Refuses (false) an unaligned page, one over RAM or already mapped,
  // and one past KVM's slot count. Safe from any thread.
  bool map_page(std::uint64_t guest_physical, std::uint8_t* host) noexcept override;
  void unmap_page(std::uint64_t guest_physical) noexcept override;
  // Device pages mapped now.
  std::size_t pages_mapped() const;

 private:
  class ExitPort;
  class CmosClock;
  class Observed;
  enum class Step { resume, finished };

  Step handle_exit(GuestOutcome& outcome);
  Step handle_io() noexcept;
  Step handle_mmio(GuestOutcome& outcome);
  Step handle_hlt(GuestOutcome& outcome);
  std::string stopped_where() noexcept;
  Step crash(GuestOutcome& outcome, std::string what, bool with_registers = true) noexcept;
  void deliver_pending_events() noexcept;
  void drain_posted_writes() noexcept;
  void dispatch_posted(std::uint16_t port, unsigned size,
                       std::span<const std::uint8_t> data) noexcept;
  void kick() noexcept;
  void load_linux(const Kvm& kvm);
  void watch_for_halt() noexcept;
  bool halted_with_interrupts_off() noexcept;

  MachineConfig config_;
  KvmIdentity kvm_identity_;
  Vm vm_;
  GuestMemory memory_;
  Vcpu vcpu_;
  PortBus ports_;
  MmioBus mmio_;
  ConsolePort console_;
  std::unique_ptr<ExitPort> exit_port_;
  std::unique_ptr<SerialConsole> serial_;  // Linux guests
  std::unique_ptr<PciPorts> pci_;          // Linux guests
  std::uint32_t next_memory_bar_ = kPciMemoryBase;
  std::unique_ptr<CmosClock> cmos_;        // Linux guests
  ExitCounters counters_;
  ExitObserver* observer_ = nullptr;  // config_.observer's
  std::unique_ptr<Observed> observed_;
  ServedPath last_path_;  // of the I/O or MMIO exit just handled, when observed

  // KVM's coalesced ring in the vCPU's mapping, drained on the vCPU thread
  // only; nullptr when writes are not posted.
  kvm_coalesced_mmio_ring* coalesced_ring_ = nullptr;
  std::uint32_t coalesced_slots_ = 0;
  struct PostedZone {
    std::uint16_t port = 0, bytes = 0;
  };
  static constexpr std::size_t kMaxPostedZones = 16;
  std::mutex posted_mutex_;
  std::array<PostedZone, kMaxPostedZones> posted_zones_{};
  std::size_t posted_count_ = 0;

  // Device pages mapped into the guest (PageMapper), by guest-physical
  // address: their memory slots (slot 0 is RAM).
  mutable std::mutex page_slots_mutex_;
  std::map<std::uint64_t, std::uint32_t> page_slots_;
  std::uint32_t memory_slots_ = 0;  // KVM_CAP_NR_MEMSLOTS

  std::mutex events_mutex_;
  std::condition_variable events_changed_;
  std::atomic<std::uint32_t> pending_irqs_{0};
  std::deque<MachineCheck> pending_machine_checks_;
  std::atomic<unsigned> interrupt_sources_{0};
  std::atomic<bool> stop_requested_{false};
  // Set while the vCPU thread handles an exit (steady-clock ns, 0 in
  // KVM_RUN) and the exit's reason and port: read by busy_in_vmm().
  std::atomic<std::uint64_t> exit_since_ns_{0};
  std::atomic<std::uint32_t> exit_reason_now_{0};
  std::atomic<std::uint32_t> exit_port_now_{0};
  // On the vCPU thread: for the report of a guest stopped while it waited.
  std::uint64_t halt_waits_ = 0;
  bool waiting_in_hlt_ = false;
  std::atomic<bool> running_{false};
  bool halt_watch_done_ = false;  // under events_mutex_
  pthread_t thread_{};
  std::optional<std::uint32_t> exit_status_;
  // Flat guests' 8254 (Linux guests have KVM's). Last: its thread, which
  // raises IRQ 0 here, stops before anything it touches goes.
  std::unique_ptr<PitTimer> pit_;
};

// "io", "hlt", "mmio", ... for KVM_EXIT_* values; "other" for the rest.
const char* exit_reason_name(std::uint32_t reason) noexcept;

// Reads a guest image file, with errors that name the file.
std::vector<std::uint8_t> read_image(const std::string& path, std::uint64_t ram_bytes);

}  // namespace vpio

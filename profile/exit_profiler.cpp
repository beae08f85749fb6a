// The exit profiler: what the exit loop used to do itself when profiling.
#include "profile/exit_profiler.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <exception>
#include <string>

namespace vpio {

namespace {

std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

ExitPath served_exit_path(ServedPath path) noexcept {
  return path ? exit_path_of(*path) : ExitPath::unclaimed;
}

// The code bytes that end at rip, up to out.size(): fewer when rip is near 0
// or the page before rip's does not translate; empty when none could be read.
std::span<const std::uint8_t> read_code_before(ObservedGuest& guest, std::uint64_t rip,
                                               std::span<std::uint8_t> out) noexcept {
  constexpr std::uint64_t kPage = 0x1000;
  const auto wanted = static_cast<std::size_t>(std::min<std::uint64_t>(rip, out.size()));
  if (read_guest_code(guest, rip - wanted, out.first(wanted)) == wanted) return out.first(wanted);
  const auto in_page = static_cast<std::size_t>(rip % kPage);
  if (in_page < wanted && read_guest_code(guest, rip - in_page, out.first(in_page)) == in_page)
    return out.first(in_page);
  return {};
}

}  // namespace

unsigned read_guest_code(ObservedGuest& guest, std::uint64_t linear,
                         std::span<std::uint8_t> out) noexcept {
  constexpr std::uint64_t kPage = 0x1000;
  std::size_t done = 0;
  while (done < out.size()) {
    const std::uint64_t at = linear + done;
    std::uint64_t physical = 0;
    if (!guest.translate(at, physical)) break;
    const auto chunk =
        static_cast<std::size_t>(std::min<std::uint64_t>(kPage - at % kPage, out.size() - done));
    const auto bytes = guest.ram(physical, chunk);
    if (bytes.size() != chunk) break;
    std::memcpy(out.data() + done, bytes.data(), chunk);
    done += chunk;
  }
  return static_cast<unsigned>(done);
}

ExitProfiler::ExitProfiler() = default;

void ExitProfiler::on_run_start(ObservedGuest& guest) noexcept {
  try {
    kvm_stats_.emplace(KvmStatsFile::open_for(guest.vcpu_fd()));
    kvm_stats_before_ = kvm_stats_->read();
  } catch (const std::exception& e) {
    kvm_stats_.reset();
    set_kvm_stats_error(e.what());
  }
  started_at_ns_ = now_ns();
}

void ExitProfiler::on_run_end(ObservedGuest&) noexcept {
  profile_.set_run_ns(now_ns() - started_at_ns_);
  if (!kvm_stats_) return;
  try {
    const KvmStatsSnapshot delta = stats_delta(kvm_stats_before_, kvm_stats_->read());
    KvmStatsRecord& record = profile_.kvm_stats();
    for (const std::string& name : kvm_stats_->cumulative_counters())
      if (auto it = delta.find(name); it != delta.end() && it->second.size() == 1)
        record.counters[name] = it->second[0];
    record.available = true;
  } catch (const std::exception& e) {
    set_kvm_stats_error(e.what());
  }
}

void ExitProfiler::set_kvm_stats_error(const char* what) noexcept {
  try {
    profile_.kvm_stats().error = what;
  } catch (...) {
    profile_.kvm_stats().error.clear();  // available stays false
  }
}

void ExitProfiler::on_posted(std::uint16_t port, ServedPath path,
                             std::uint64_t accesses) noexcept {
  // Writes a device took while its port was hooked again count as hooked;
  // the rest reached it with no exit.
  const ExitPath counted = !path                       ? ExitPath::unclaimed
                           : *path == IoPath::hooked ? ExitPath::hooked
                                                     : ExitPath::coalesced;
  profile_.record_posted(port, counted, accesses);
}

void ExitProfiler::on_exit(ObservedGuest& guest, std::uint64_t exited_at_ns,
                           ServedPath path) noexcept {
  const kvm_run& state = guest.exit_state();
  ExitEvent event;
  event.reason = state.exit_reason;
  kvm_regs regs{};
  if (!guest.registers(regs)) regs = {};
  event.rip = regs.rip;
  switch (state.exit_reason) {
    case KVM_EXIT_IO:
      event.path = served_exit_path(path);
      event.write = state.io.direction == KVM_EXIT_IO_OUT;
      event.address = state.io.port;
      event.amount = state.io.count;
      break;
    case KVM_EXIT_MMIO:
      event.path = served_exit_path(path);
      event.write = state.mmio.is_write != 0;
      event.address = state.mmio.phys_addr;
      event.amount = state.mmio.len;
      break;
    case KVM_EXIT_HLT:
      // KVM steps past the one-byte hlt before it exits.
      event.rip -= 1;
      break;
    default: break;
  }
  event.ns = now_ns() - exited_at_ns;
  SiteTotals* site = profile_.record(event);
  if (site == nullptr) return;
  if (!site->bytes_read) read_site(guest, *site, event, regs);
  if (site->rep_count_bytes != 0 && event.reason == KVM_EXIT_IO) {
    // At the exit KVM has already counted an outs element off rcx, not yet
    // the batch an ins reads: the run is over when nothing is left after it.
    // This holds wherever the site was placed: with rip left past a finished
    // run the count register reads 0 and so does what is left (the subtraction
    // stops at 0), whether or not the last batch was already counted off.
    std::uint64_t left = site->rep_count_bytes == 4 ? regs.rcx & 0xffff'ffffULL : regs.rcx;
    if (!event.write) left -= std::min<std::uint64_t>(left, event.amount);
    if (left == 0) ++site->rep_runs;
  }
}

// The instruction of a new site, read once; whether it is a rep ins/outs.
void ExitProfiler::read_site(ObservedGuest& guest, SiteTotals& site, const ExitEvent& event,
                             const kvm_regs& regs) noexcept {
  site.bytes_read = true;
  site.instruction_rip = event.rip;
  if (event.reason == KVM_EXIT_IO) {
    place_io(guest, site, event, regs);
    return;
  }
  try {
    if (event.reason == KVM_EXIT_MMIO && event.write) {
      if (place_store(guest, site, event, regs)) return;
      site.store_unplaced = true;
    }
    site.length = static_cast<std::uint8_t>(read_guest_code(guest, event.rip, site.bytes));
  } catch (...) {
    site.length = 0;  // out of memory decoding: shown as unreadable
  }
}

// KVMs leave rip on an I/O instruction (SVM, VMX) or past it (PVM after an
// `out`), and a rep string op may show both in one run: decode both sides of
// rip for the instruction that makes this very access (docs/profile.md).
void ExitProfiler::place_io(ObservedGuest& guest, SiteTotals& site, const ExitEvent& event,
                            const kvm_regs& regs) noexcept {
  const auto& io = guest.exit_state().io;
  std::array<std::uint8_t, PortIoInstruction::kMaxLength> code_before{};
  const auto before = read_code_before(guest, event.rip, code_before);
  site.length = static_cast<std::uint8_t>(read_guest_code(guest, event.rip, site.bytes));
  const IoExitFacts facts{io.port,  io.size,  io.direction == KVM_EXIT_IO_IN,
                          io.count, regs.rdx, regs.rcx};
  const std::optional<IoPlacement> placed =
      io_sites_.place(before, std::span<const std::uint8_t>(site.bytes.data(), site.length), facts);
  if (!placed) {
    site.io_unplaced = true;
    return;
  }
  const PortIoInstruction& insn = placed->instruction;
  site.io_rip = placed->rip;
  site.instruction_rip = event.rip - placed->back();
  if (placed->rip == IoRip::past) {
    const auto bytes = before.last(insn.length);
    std::copy(bytes.begin(), bytes.end(), site.bytes.begin());
  }
  std::fill(site.bytes.begin() + insn.length, site.bytes.end(), std::uint8_t{0});
  site.length = insn.length;
  if (insn.string && insn.rep) site.rep_count_bytes = insn.address_bytes;
}

// KVM completes an MMIO write before it exits, so rip is past the store: find
// the instruction that ends at rip, writes memory of the written size, and
// whose operand, from the registers now, is the written address (a store
// leaves its address registers as they were; stos, movs and push do not, and
// stay unplaced). The shortest such instruction wins: a longer one would take
// a byte of the previous instruction for a prefix.
bool ExitProfiler::place_store(ObservedGuest& guest, SiteTotals& site, const ExitEvent& event,
                               const kvm_regs& regs) {
  constexpr unsigned kMax = SiteTotals::kMaxInstructionBytes;
  if (event.rip < kMax) return false;
  const std::uint64_t gpr[16] = {regs.rax, regs.rcx, regs.rdx, regs.rbx, regs.rsp, regs.rbp,
                                 regs.rsi, regs.rdi, regs.r8,  regs.r9,  regs.r10, regs.r11,
                                 regs.r12, regs.r13, regs.r14, regs.r15};
  std::array<std::uint8_t, kMax> before{};
  if (read_guest_code(guest, event.rip - kMax, before) != kMax) return false;
  for (unsigned length = 1; length <= kMax; ++length) {
    const auto bytes = std::span<const std::uint8_t>(before).last(length);
    const DecodedInstruction insn = disassembler_.decode(bytes, event.rip - length);
    if (!insn.valid || insn.length != length || !insn.memory || !insn.memory->written ||
        insn.memory->size != event.amount)
      continue;
    const auto linear = insn.memory->address(gpr, event.rip);
    std::uint64_t physical = 0;
    if (!linear || !guest.translate(*linear, physical) || physical != event.address) continue;
    site.instruction_rip = event.rip - length;
    std::copy(bytes.begin(), bytes.end(), site.bytes.begin());
    site.length = static_cast<std::uint8_t>(length);
    return true;
  }
  return false;
}

}  // namespace vpio

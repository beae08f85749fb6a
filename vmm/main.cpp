// The vpio command line: `vpio run GUEST.img ...` boots test guests.
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <string_view>
#include <thread>

#include "vmm/kvm_identity.hpp"
#include "vmm/kvm_probe.hpp"
#include "vmm/lab_choice.hpp"
#include "vmm/launcher.hpp"
#include "vmm/machine.hpp"
#include "vmm/nic.hpp"
#include "vmm/output_file.hpp"
#include "vmm/profile_json.hpp"
#include "vmm/profile_report.hpp"
#include "vmm/profile_svg.hpp"
#include "vmm/run_stats.hpp"

namespace {

using namespace vpio;

struct RunOptions {
  std::vector<std::string> images;
  unsigned ram_mib = kDefaultRamBytes / kMiB;
  bool quiet = false;
  LabOptions lab;  // --lab, --no-lab, --lab-nic
  bool no_coalesced_pio = false;
  unsigned timeout_seconds = 0;
  std::vector<std::string> nics;
  std::string pcap;
  std::string stats;
  // `vpio profile`
  bool profile = false;
  std::string profile_json = "vpio-profile.json";
  std::string profile_svg;  // default: profile_json with .svg
  std::string report;       // --report: re-print this saved profile
  std::size_t top = 20;
};

bool same_file(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;
  std::error_code error;
  if (std::filesystem::equivalent(a, b, error)) return true;  // both exist (links too)
  return std::filesystem::absolute(a, error).lexically_normal() ==
         std::filesystem::absolute(b, error).lexically_normal();
}

std::string svg_path_of(const RunOptions& options) {
  if (!options.profile_svg.empty()) return options.profile_svg;
  return std::filesystem::path(options.profile_json).replace_extension(".svg").string();
}

// Run this very command inside the KVM lab (asked for, or the host has no
// usable /dev/kvm; `why` says which), and map the lab's own failures (124
// timeout, 125 lab failure) to kExitVmmFailure so they are not mistaken for
// guest statuses. VPIO_LAB names another launcher than lab/kvm-lab.
int run_in_lab(int argc, char** argv, const std::string& lab_nic, const std::string& why) {
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  const char* lab_env = std::getenv("VPIO_LAB");
  std::string lab = lab_env != nullptr ? lab_env : std::string(VPIO_SOURCE_DIR) + "/lab/kvm-lab";
  std::fprintf(stderr, "vpio: %s; running inside the KVM lab (%s)\n", why.c_str(), lab.c_str());
  std::vector<std::string> args = {lab};
  if (!lab_nic.empty()) args.insert(args.end(), {"--nic", lab_nic});
  args.insert(args.end(), {"--", self.string()});
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  std::fflush(nullptr);
  pid_t child = ::fork();
  if (child < 0) {
    std::fprintf(stderr, "vpio: fork: %s\n", std::strerror(errno));
    return kExitVmmFailure;
  }
  if (child == 0) {
    ::setenv("VPIO_IN_LAB", "1", 1);
    ::execv(lab.c_str(), cargs.data());
    std::fprintf(stderr, "vpio: cannot start the KVM lab '%s': %s\n", lab.c_str(),
                 std::strerror(errno));
    ::_exit(kExitVmmFailure);
  }
  // The lab handles SIGINT/SIGTERM itself; we only wait for it.
  ::signal(SIGINT, SIG_IGN);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status)) return kExitVmmFailure;
  const int code = WEXITSTATUS(status);
  constexpr int kLabTimeout = 124, kLabFailure = 125;
  if (code == kLabTimeout || code == kLabFailure) {
    std::fprintf(stderr, "vpio: the KVM lab %s\n",
                 code == kLabTimeout ? "timed out" : "failed (see its message above)");
    return kExitVmmFailure;
  }
  return code;
}

// Inside the lab only the current directory is writable and /tmp is the lab's
// own: refuse paths that would silently go missing there.
void check_paths_for_lab(const RunOptions& options) {
  const std::string cwd = std::filesystem::current_path().string() + "/";
  auto inside_cwd = [&](const std::string& path) {
    return std::filesystem::absolute(path).lexically_normal().string().starts_with(cwd);
  };
  for (const auto& image : options.images) {
    auto absolute = std::filesystem::absolute(image).lexically_normal().string();
    if (absolute.starts_with("/tmp/") && !inside_cwd(image))
      throw std::invalid_argument("image '" + image +
                                  "' is under /tmp, which the KVM lab cannot see; run from its "
                                  "directory or copy it below the current directory");
  }
  auto must_be_inside = [&](const std::string& path, const char* option) {
    if (!path.empty() && !inside_cwd(path))
      throw std::invalid_argument(std::string(option) + " '" + path +
                                  "' must be below the current directory when running in the KVM "
                                  "lab (the only place the lab can write)");
  };
  must_be_inside(options.stats, "--stats");
  must_be_inside(options.pcap, "--pcap");
  if (options.profile) {
    must_be_inside(options.profile_json, "--output");
    must_be_inside(svg_path_of(options), "--svg");
  }
}

// Every file the run will write, checked before any guest (or the lab)
// starts, so that a path it cannot write is bad input, not results lost at
// the end.
void check_output_paths(const RunOptions& options) {
  if (!options.pcap.empty()) check_output_path(options.pcap, "--pcap");
  if (!options.stats.empty()) check_output_path(options.stats, "--stats");
  if (options.profile) {
    check_output_path(options.profile_json, "--output");
    check_output_path(svg_path_of(options), "--svg");
  }
}

// Writes one of the run's files, saying on stderr which and why it could not.
bool write_output(const std::string& path, std::string_view text, const char* option) {
  const std::error_code error = write_output_file(path, text);
  if (error)
    std::fprintf(stderr, "vpio: %s %s: %s\n", option, path.c_str(), error.message().c_str());
  return !error;
}

// `vpio profile --report FILE.json`: re-prints a saved profile (and redraws
// its picture when --svg is given).
int report_command(const RunOptions& options) {
  try {
    if (!options.profile_svg.empty()) check_output_path(options.profile_svg, "--svg");
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "vpio: %s\n", e.what());
    return kExitUsage;
  }
  nlohmann::json profile;
  try {
    profile = load_profile(options.report);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "vpio: --report %s\n", e.what());
    return kExitUsage;
  }
  std::fputs(profile_text_report(profile, options.top).c_str(), stdout);
  if (!options.profile_svg.empty() &&
      !write_output(options.profile_svg, profile_svg(profile), "--svg"))
    return kExitOutputFailed;
  return 0;
}

// Stands in for devices when checking port layouts before any VM exists.
class PlaceholderDevice final : public PortDevice {
 public:
  std::uint32_t port_read(std::uint16_t, unsigned) noexcept override { return 0; }
  void port_write(std::uint16_t, unsigned, std::uint32_t) noexcept override {}
};

void check_port_layout(std::size_t guests, const std::vector<NicSpec>& nics) {
  PlaceholderDevice placeholder;
  for (unsigned i = 0; i < guests; ++i) {
    PortBus bus;
    bus.add(ConsolePort::kPort, 1, placeholder, "console");
    bus.add(Machine::kExitPort, 1, placeholder, "exit");
    for (const auto& spec : nics)
      if (!spec.guest || *spec.guest == i)
        bus.add(spec.port, hw::Ne2000::kWindowPorts, placeholder, "ne2000");
  }
}

// Stops every guest on SIGINT or SIGTERM, so Ctrl-C ends a run cleanly.
class StopOnSignal {
 public:
  explicit StopOnSignal(const std::vector<std::unique_ptr<Machine>>& machines) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    thread_ = std::thread([this, set, &machines] {
      const timespec tick{0, 100'000'000};
      while (!done_) {
        if (sigtimedwait(&set, nullptr, &tick) > 0) {
          for (const auto& m : machines) m->request_stop();
        }
      }
    });
  }
  ~StopOnSignal() {
    done_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

std::string guest_name(const std::string& path, std::map<std::string, int>& seen) {
  std::string stem = std::filesystem::path(path).stem().string();
  int n = ++seen[stem];
  return n == 1 ? stem : stem + "#" + std::to_string(n);
}

void print_exit_report(const std::vector<std::unique_ptr<Machine>>& machines,
                       const std::vector<GuestOutcome>& outcomes,
                       const std::vector<GuestNics>& nics_of) {
  std::fprintf(stderr,
               "vpio: %-14s %-8s %8s %10s %10s %10s %8s %8s %6s %4s %7s %7s %10s %8s %6s %4s\n",
               "guest", "outcome", "status", "kvm-exits", "port-acc", "coalesced", "io-exits",
               "hlt", "irqs", "mce", "nic-tx", "nic-rx", "direct", "hooked", "ctx-sw", "viol");
  for (std::size_t i = 0; i < machines.size(); ++i) {
    const auto& c = machines[i]->counters();
    const NicTotals t = nic_totals(nics_of[i]);
    std::fprintf(stderr,
                 "vpio: %-14s %-8s %8" PRIu32 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64
                 " %8" PRIu64 " %8" PRIu64
                 " %6" PRIu64 " %4" PRIu64 " %7" PRIu64 " %7" PRIu64 " %10" PRIu64 " %8" PRIu64
                 " %6" PRIu64 " %4" PRIu64 "\n",
                 machines[i]->name().c_str(), outcome_name(outcomes[i].kind), outcomes[i].status,
                 c.userspace_exits.load(), c.port_accesses.load(), c.coalesced_accesses.load(),
                 c.by_reason[KVM_EXIT_IO].load(),
                 c.by_reason[KVM_EXIT_HLT].load(), c.interrupts_injected.load(),
                 c.machine_checks_delivered.load(), t.frames_sent, t.frames_received, t.direct,
                 t.hooked, t.context_switches, t.violations);
  }
}

// How the --pcap recording ended: its frame count, or the write that failed.
bool report_recording(const Network& network, const std::string& path) {
  if (const std::error_code error = network.pcap_write_error()) {
    std::fprintf(stderr, "vpio: --pcap %s: %s (recording stopped after %" PRIu64 " whole frames)\n",
                 path.c_str(), error.message().c_str(), network.frames_recorded());
    return false;
  }
  std::fprintf(stderr, "vpio: %" PRIu64 " frames recorded in %s\n", network.frames_recorded(),
               path.c_str());
  return true;
}

// Writes the profile and its picture and prints its report, the report also
// when a file could not be written.
bool write_profile(const RunOptions& options, const std::vector<std::unique_ptr<Machine>>& machines,
                   const std::vector<GuestOutcome>& outcomes) {
  const nlohmann::json profile = profile_json(machines, outcomes);
  const std::string svg = svg_path_of(options);
  const bool json_written = write_output(
      options.profile_json,
      profile.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", "--output");
  const bool svg_written = write_output(svg, profile_svg(profile), "--svg");
  std::fflush(stdout);
  std::fputs(profile_text_report(profile, options.top).c_str(), stdout);
  if (json_written && svg_written)
    std::fprintf(stdout, "vpio: profile written to %s, picture to %s\n",
                 options.profile_json.c_str(), svg.c_str());
  else if (json_written)
    std::fprintf(stdout, "vpio: profile written to %s\n", options.profile_json.c_str());
  else if (svg_written)
    std::fprintf(stdout, "vpio: picture written to %s\n", svg.c_str());
  return json_written && svg_written;
}

int run_command(const RunOptions& options, int argc, char** argv) {
  const std::uint64_t ram = std::uint64_t{options.ram_mib} * kMiB;
  std::vector<MachineConfig> configs;
  std::vector<NicSpec> nic_specs;
  std::map<std::string, int> seen;
  std::map<std::string, unsigned> sharers;  // vpio guests per physical card
  try {
    check_lab_options(options.lab);
    for (const auto& text : options.nics) {
      NicSpec spec = parse_nic_spec(text);
      if (spec.mode == NicMode::passthrough && !spec.guest && options.images.size() > 1)
        throw std::invalid_argument(
            "--nic: passthrough gives the card whole to one guest and cannot share it; with "
            "several guests add guest=N");
      if (spec.guest && *spec.guest >= options.images.size())
        throw std::invalid_argument("--nic: guest=" + std::to_string(*spec.guest) + " but only " +
                                    std::to_string(options.images.size()) +
                                    " guest(s) given (guests count from 0)");
      if (spec.mac && !spec.guest && options.images.size() > 1)
        throw std::invalid_argument("--nic: mac= with several guests needs guest=N");
      nic_specs.push_back(spec);
    }
    check_port_layout(options.images.size(), nic_specs);
    std::map<std::string, unsigned> passthrough_owner;
    for (const auto& spec : nic_specs)
      if (spec.mode == NicMode::passthrough) {
        const unsigned guest = spec.guest.value_or(0);
        auto [it, fresh] = passthrough_owner.emplace(spec.hw, guest);
        if (!fresh)
          throw std::invalid_argument("--nic: physical card '" + spec.hw +
                                      "' given by passthrough to guests " +
                                      std::to_string(it->second) + " and " + std::to_string(guest) +
                                      "; passthrough cannot share a card");
      }
    for (const auto& spec : nic_specs)
      if (spec.mode == NicMode::vpio) {
        if (passthrough_owner.contains(spec.hw))
          throw std::invalid_argument("--nic: physical card '" + spec.hw +
                                      "' is given by passthrough and shared by vpio; a card is "
                                      "one or the other");
        sharers[spec.hw] += spec.guest ? 1u : static_cast<unsigned>(options.images.size());
        if (sharers[spec.hw] > kMaxVpioGuests)
          throw std::invalid_argument(
              "--nic: " + std::to_string(sharers[spec.hw]) + " guests share card '" + spec.hw +
              "' in vpio mode; at most " + std::to_string(kMaxVpioGuests) + " fit its memory");
      }
    for (const auto& path : options.images) {
      MachineConfig config;
      config.name = guest_name(path, seen);
      config.ram_bytes = ram;
      config.image = read_image(path, ram);
      config.profile = options.profile;
      config.coalesced_pio = !options.no_coalesced_pio;
      configs.push_back(std::move(config));
    }
    check_output_paths(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vpio: %s\n", e.what());
    return kExitUsage;
  }
  // Inputs are checked before the lab boots, so bad ones fail fast anywhere.
  // The host's KVM is probed only when the options leave the choice open.
  const bool in_lab = std::getenv("VPIO_IN_LAB") != nullptr;
  KvmProbe host_kvm;
  KvmPlace place = KvmPlace::host;
  std::string why_lab;
  try {
    place = choose_kvm_place(options.lab, in_lab, [&host_kvm] {
      host_kvm = probe_kvm();
      return host_kvm.usable;
    });
    if (options.lab.lab)
      why_lab = "--lab given";
    else if (!options.lab.lab_nic.empty())
      why_lab = "--lab-nic given (it implies --lab)";
    else
      why_lab = "no usable /dev/kvm on this host: " + host_kvm.reason;
    if (place == KvmPlace::lab) check_paths_for_lab(options);
    if (place == KvmPlace::lab && options.lab.lab_nic.empty())
      for (const auto& spec : nic_specs)
        if (host_card_base(spec))
          throw std::invalid_argument(
              "--nic hw=" + spec.hw +
              " names a card on the host running the VMM, but the guests run in the KVM lab (" +
              why_lab + "), whose VM has no card; add --lab-nic ne2k-isa,iobase=" +
              spec.hw.substr(5) + " to give it QEMU's NE2000 there");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vpio: %s\n", e.what());
    return kExitUsage;
  }
  if (place == KvmPlace::lab) return run_in_lab(argc, argv, options.lab.lab_nic, why_lab);
  // A host card this process may not reach (no root, or a kernel without
  // ioperm, as in a PVM guest) is refused before any guest is set up.
  if (!in_lab)
    for (const auto& spec : nic_specs)
      if (const auto base = host_card_base(spec))
        if (const auto error = host_card_access_error(*base)) {
          std::fprintf(stderr,
                       "vpio: --nic hw=%s: this process cannot reach the host's ports: %s; for "
                       "QEMU's NE2000 in the KVM lab instead, add --lab-nic ne2k-isa,iobase=%s%s\n",
                       spec.hw.c_str(), error->c_str(), spec.hw.substr(5).c_str(),
                       options.lab.no_lab ? " and drop --no-lab" : "");
          return kExitVmmFailure;
        }

  ConsoleSink console(std::cout, configs.size() > 1);
  // Declared after the machines so it goes first: tap reader threads raise
  // IRQs on machines and must stop before the machines do.
  std::vector<std::unique_ptr<Machine>> machines;
  std::unique_ptr<Network> network;
  std::vector<GuestNics> nics_of(configs.size());
  try {
    network = std::make_unique<Network>(
        options.pcap.empty() ? std::nullopt : std::optional<std::filesystem::path>(options.pcap));
    Kvm kvm;
    for (auto& config : configs)
      machines.push_back(std::make_unique<Machine>(kvm, std::move(config), &console));
    for (const auto& spec : nic_specs)
      for (unsigned i = 0; i < machines.size(); ++i)
        if (!spec.guest || *spec.guest == i) {
          const hw::MacAddress mac = spec.mac.value_or(default_mac(i));
          if (spec.mode == NicMode::emulate)
            nics_of[i].emulated.push_back(&network->attach_emulated(*machines[i], spec, mac));
          else if (spec.mode == NicMode::passthrough)
            nics_of[i].passthrough.push_back(&network->attach_passthrough(*machines[i], spec, mac));
          else
            nics_of[i].vpio.push_back(
                &network->attach_vpio(*machines[i], spec, mac, sharers[spec.hw]));
        }
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "vpio: %s\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vpio: cannot set up the guests: %s\n", e.what());
    return kExitVmmFailure;
  }

  std::vector<GuestOutcome> outcomes;
  {
    StopOnSignal stop_on_signal(machines);
    outcomes = run_concurrently(machines, std::chrono::seconds(options.timeout_seconds));
  }
  network->stop_monitors();
  std::cout.flush();
  for (std::size_t i = 0; i < machines.size(); ++i)
    if (outcomes[i].kind == GuestOutcome::Kind::crashed ||
        outcomes[i].kind == GuestOutcome::Kind::stopped)
      std::fprintf(stderr, "vpio: guest '%s' %s\n", machines[i]->name().c_str(),
                   outcomes[i].detail.c_str());
  if (!options.quiet) print_exit_report(machines, outcomes, nics_of);
  // Every output is attempted even after one failed: what can be kept is.
  bool outputs_written = true;
  if (!options.pcap.empty() && !report_recording(*network, options.pcap)) outputs_written = false;
  // Guest names come from file names, which need not be UTF-8.
  if (!options.stats.empty() &&
      !write_output(options.stats,
                    run_stats(machines, outcomes, nics_of)
                            .dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
                        "\n",
                    "--stats"))
    outputs_written = false;
  if (options.profile && !write_profile(options, machines, outcomes)) outputs_written = false;
  return outputs_written ? exit_code_for(outcomes) : kExitOutputFailed;
}

// `vpio kvm-info`: the KVM of this host (never the lab's), or exit 1 with the
// reason it is not usable: it must open, speak API 12 and create a VM.
int kvm_info_command() {
  constexpr int kNoUsableKvm = 1;
  try {
    const Kvm kvm;
    const Vm probe(kvm);
    std::fputs(kvm_identity_text(describe(kvm)).c_str(), stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vpio: no usable KVM on this host: %s\n", e.what());
    return kNoUsableKvm;
  }
}

void add_run_options(CLI::App* run, RunOptions& options) {
  run->add_option("images", options.images, "Guest images (flat binaries)")
      ->check(CLI::ExistingFile);
  run->add_option("--ram", options.ram_mib, "Guest RAM in MiB, per guest")
      ->check(CLI::Range(2u, 3072u))
      ->capture_default_str();
  run->add_option("--timeout", options.timeout_seconds,
                  "Stop guests still running after this many seconds (0: never)")
      ->check(CLI::Range(0u, 86400u))
      ->capture_default_str();
  run->add_option(
         "--nic", options.nics,
         "Give guests an NE2000: MODE[,port=0x300][,irq=9][,wire=hub|hub:NAME|"
         "tap:IFNAME|none][,mac=52:54:00:12:34:56][,guest=N][,hw=chip|port:BASE][,queue=64]"
         "[,tx-pages=N]. "
         "MODE is emulate (the guest's own emulated card), passthrough (the physical card hw, "
         "given whole to one guest: every access direct) or vpio (the physical card shared by "
         "up to 8 guests through the monitor; queue bounds each guest's receive queue; tx-pages "
         "its transmit area on the card, 6 to 52 pages, by default 12 for up to 4 guests, else "
         "6). hw=chip "
         "is vpio's own chip on the wire standing in for hardware; hw=port:0x300 a real NE2000 "
         "at that host I/O base (ioperm; needs root; its interrupt is polled). Without guest=N "
         "every guest gets a card, MACs 52:54:00:12:34:56 + guest index. Repeatable.")
      ->type_name("SPEC")
      ->allow_extra_args(false);
  run->add_option("--pcap", options.pcap, "Record every frame on the default hub to this file")
      ->type_name("FILE");
  run->add_option("--stats", options.stats,
                  "Write the run's counters as JSON to this file (docs/run-stats.md)")
      ->type_name("FILE");
  run->add_option("--lab-nic", options.lab.lab_nic,
                  "Run in the KVM lab (implies --lab) and give the lab VM this NE2000, QEMU's, "
                  "for hw=port cards (lab/kvm-lab --nic syntax, e.g. "
                  "ne2k-isa,iobase=0x300,irq=9,pcap=wire.pcap)")
      ->type_name("SPEC");
  run->add_flag("--lab", options.lab.lab,
                "Run the guests inside the KVM lab (lab/kvm-lab: kvm-amd under QEMU) even when "
                "this host's /dev/kvm is usable");
  run->add_flag("-q,--quiet", options.quiet, "Do not print the exit report");
  run->add_flag("--no-coalesced-pio", options.no_coalesced_pio,
                "Let every write to a NIC's data port exit, even where KVM could queue it in "
                "its coalesced ring (KVM_CAP_COALESCED_PIO) without an exit");
  run->add_flag("--no-lab", options.lab.no_lab,
                "Run on this host's /dev/kvm, failing if it is not usable, never in the KVM lab");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vpio: a KVM VMM for model-based virtual passthrough I/O.\n"
      "Boots freestanding test guests (flat images loaded at 0x100000, entered in\n"
      "64-bit mode; console on port 0xE9, exit status by a write to port 0xF4).",
      "vpio"};
  app.require_subcommand(1);
  RunOptions options;
  auto* run = app.add_subcommand("run",
                                 "Boot one or more guests, each in its own VM, and exit "
                                 "with the first non-zero guest status (70 if a guest "
                                 "crashed, 71 if the VMM failed, 74 if an output file could "
                                 "not be written, 2 for bad input)");
  add_run_options(run, options);
  auto* profile = app.add_subcommand(
      "profile",
      "Run guests like `run` and write their exit profile: every exit by reason, port or MMIO "
      "address, direction and path (direct, hooked, emulated, unclaimed), with its time and "
      "the guest instruction that caused it, beside KVM's own counters (docs/profile.md). "
      "Prints the report; with --report, re-prints a saved profile instead");
  add_run_options(profile, options);
  profile->add_option("-o,--output", options.profile_json, "Write the profile JSON here")
      ->type_name("FILE.json")
      ->capture_default_str();
  profile
      ->add_option("--svg", options.profile_svg,
                   "Draw the profile (exits per port by path, latency histograms) here; "
                   "default: the --output name with .svg")
      ->type_name("FILE.svg");
  profile->add_option("--report", options.report, "Print this saved profile and exit")
      ->type_name("FILE.json")
      ->check(CLI::ExistingFile);
  // CLI11 would read "-1" into the unsigned count as a huge one, i.e. "all".
  const CLI::Validator not_negative(
      [](const std::string& text) {
        return text.starts_with('-') ? text + " is negative; give 0 (every row) or more"
                                     : std::string();
      },
      "", "not negative");
  profile->add_option("--top", options.top, "Rows of ports and sites listed per guest (0: all)")
      ->check(not_negative)
      ->capture_default_str();
  auto* kvm_info = app.add_subcommand(
      "kvm-info",
      "Print this host's KVM (vendor module, kernel, API version, the capabilities vpio uses); "
      "exit 1 saying why when /dev/kvm is missing or unusable");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  if (kvm_info->parsed()) return kvm_info_command();
  options.profile = profile->parsed();
  if (options.profile && !options.report.empty()) {
    if (!options.images.empty()) {
      std::fprintf(stderr, "vpio: profile --report prints a saved profile; give it no images\n");
      return kExitUsage;
    }
    for (const char* name : {"--ram", "--timeout", "--nic", "--pcap", "--stats", "--lab-nic",
                             "--lab", "--no-lab", "--no-coalesced-pio", "--output",
                             "--quiet"})
      if (profile->count(name) > 0) {
        std::fprintf(stderr, "vpio: profile --report prints a saved profile; %s does not apply\n",
                     name);
        return kExitUsage;
      }
    if (same_file(options.profile_svg, options.report)) {
      std::fprintf(stderr, "vpio: --svg '%s' would overwrite the profile given to --report\n",
                   options.profile_svg.c_str());
      return kExitUsage;
    }
    return report_command(options);
  }
  if (options.profile && same_file(options.profile_json, svg_path_of(options))) {
    std::fprintf(stderr, "vpio: --output and --svg both name '%s'; give them different files\n",
                 options.profile_json.c_str());
    return kExitUsage;
  }
  if (options.images.empty()) {
    std::fprintf(stderr, "vpio: %s: give at least one guest image\n",
                 options.profile ? "profile" : "run");
    return kExitUsage;
  }
  return run_command(options, argc, argv);
}

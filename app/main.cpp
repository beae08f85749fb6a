// The vpio command line: `vpio run GUEST.img ...` boots test guests.
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
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

#include "app/exit_report.hpp"
#include "app/lab_choice.hpp"
#include "app/launcher.hpp"
#include "app/nic.hpp"
#include "app/output_file.hpp"
#include "app/profile_json.hpp"
#include "app/progress.hpp"
#include "app/run_stats.hpp"
#include "app/version.hpp"
#include "base/fd.hpp"
#include "kvm/kvm_identity.hpp"
#include "kvm/kvm_probe.hpp"
#include "profile/render/profile_report.hpp"
#include "profile/render/profile_svg.hpp"
#include "vmm/linux_boot.hpp"
#include "vmm/machine.hpp"

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
  std::string console_dir;  // --console-dir: each guest's console to DIR/NAME.log
  std::string initrd;       // --initrd: every Linux guest's initial ramdisk
  std::string append;       // --append: every Linux guest's command line
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

// The picture's path: --svg, else the profile's with .svg; none (empty) when
// the profile goes to stdout and --svg was not given.
std::string svg_path_of(const RunOptions& options) {
  if (!options.profile_svg.empty()) return options.profile_svg;
  if (is_stdout_path(options.profile_json)) return {};
  return std::filesystem::path(options.profile_json).replace_extension(".svg").string();
}

// A guest's console file in --console-dir.
std::string console_file_name(const std::string& guest) { return guest + ".log"; }

// The files the command writes, by option, only those it will write.
std::vector<std::pair<const char*, std::string>> output_paths(const RunOptions& options) {
  std::vector<std::pair<const char*, std::string>> paths;
  if (!options.pcap.empty()) paths.emplace_back("--pcap", options.pcap);
  if (!options.stats.empty()) paths.emplace_back("--stats", options.stats);
  if (options.profile && options.report.empty())
    paths.emplace_back("--output", options.profile_json);
  if (options.profile) {
    const std::string svg = options.report.empty() ? svg_path_of(options) : options.profile_svg;
    if (!svg.empty()) paths.emplace_back("--svg", svg);
  }
  return paths;
}

// The option whose output goes to stdout ("-"), or nullptr. When there is
// one, everything else vpio would print on stdout (guest consoles, the
// profile report) goes to stderr, so stdout holds that output alone.
const char* stdout_output(const RunOptions& options) {
  for (const auto& [option, path] : output_paths(options))
    if (is_stdout_path(path)) return option;
  return nullptr;
}

// Where the human-readable text goes: stdout unless an output took it.
FILE* text_stream(const RunOptions& options) {
  return stdout_output(options) != nullptr ? stderr : stdout;
}

// A path as messages name it.
std::string shown_path(const std::string& path) { return is_stdout_path(path) ? "stdout" : path; }

// Run this very command inside the KVM lab (asked for, or the host has no
// usable /dev/kvm; `why` says which) and return its exit status. The lab's
// own failures (its timeout, 124, or a failed lab, 125) become
// kExitVmmFailure; the lab's status file tells them from the same codes
// returned by vpio inside (124 is vpio's --timeout) or by a guest. VPIO_LAB
// names another launcher than lab/kvm-lab.
int run_in_lab(int argc, char** argv, const RunOptions& options, const std::string& why) {
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  const char* lab_env = std::getenv("VPIO_LAB");
  std::string lab = lab_env != nullptr ? lab_env : std::string(VPIO_SOURCE_DIR) + "/lab/kvm-lab";
  std::fprintf(stderr, "vpio: %s; running inside the KVM lab (%s)\n", why.c_str(), lab.c_str());
  char status_path[] = "/tmp/vpio-lab-status-XXXXXX";
  const Fd status_file(::mkstemp(status_path));
  if (!status_file.valid()) {
    std::fprintf(stderr, "vpio: cannot create a file for the lab's status: %s\n",
                 std::strerror(errno));
    return kExitVmmFailure;
  }
  std::vector<std::string> args = {lab, "--status-file", status_path};
  if (!options.lab.lab_nic.empty()) args.insert(args.end(), {"--nic", options.lab.lab_nic});
  // The lab's own limit (3000 s unless told) must leave --timeout room to act.
  constexpr unsigned kLabDefaultTimeout = 3000, kLabTimeoutMargin = 300;
  if (options.timeout_seconds + kLabTimeoutMargin > kLabDefaultTimeout)
    args.insert(args.end(),
                {"--timeout", std::to_string(options.timeout_seconds + kLabTimeoutMargin)});
  args.insert(args.end(), {"--", self.string()});
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  // The lab's stderr is a serial port, a terminal whatever ours is: vpio
  // inside takes this answer for whether to draw progress, and how wide.
  const std::string columns = std::to_string(stderr_terminal_columns());
  std::fflush(nullptr);
  pid_t child = ::fork();
  if (child < 0) {
    std::fprintf(stderr, "vpio: fork: %s\n", std::strerror(errno));
    ::unlink(status_path);
    return kExitVmmFailure;
  }
  if (child == 0) {
    ::setenv("VPIO_IN_LAB", "1", 1);
    ::setenv("VPIO_PROGRESS_COLUMNS", columns.c_str(), 1);
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
  char reported[16] = {};
  const ssize_t got = ::pread(status_file.get(), reported, sizeof reported - 1, 0);
  ::unlink(status_path);
  if (!WIFEXITED(status)) return kExitVmmFailure;
  const int code = WEXITSTATUS(status);
  if (got > 0 && std::atoi(reported) == code) return code;  // vpio's own, inside the lab
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
    if (!path.empty() && !is_stdout_path(path) && !inside_cwd(path))
      throw std::invalid_argument(std::string(option) + " '" + path +
                                  "' must be below the current directory when running in the KVM "
                                  "lab (the only place the lab can write)");
  };
  for (const auto& [option, path] : output_paths(options)) must_be_inside(path, option);
  must_be_inside(options.console_dir, "--console-dir");
}

// Every file the run will write, checked before any guest (or the lab)
// starts, so that a path it cannot write is bad input, not results lost at
// the end.
void check_output_paths(const RunOptions& options) {
  for (const auto& [option, path] : output_paths(options)) check_output_path(path, option);
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
    check_output_paths(options);
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
  std::fputs(profile_text_report(profile, options.top).c_str(), text_stream(options));
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

void check_port_layout(const std::vector<MachineConfig>& guests, const std::vector<NicSpec>& nics) {
  PlaceholderDevice placeholder;
  for (unsigned i = 0; i < guests.size(); ++i) {
    PortBus bus;
    bus.add(ConsolePort::kPort, 1, placeholder, "console");
    bus.add(Machine::kExitPort, 1, placeholder, "exit");
    if (guests[i].linux_guest)
      bus.add(SerialConsole::kPort, hw::Uart16550::kWindowPorts, placeholder, "com1");
    for (const auto& spec : nics)
      if (!spec.guest || *spec.guest == i)
        bus.add(guest_port(spec, guests[i].linux_guest.has_value()), nic_kind(spec).window_ports,
                placeholder, spec.model);
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
        if (const int signal = sigtimedwait(&set, nullptr, &tick); signal > 0) {
          int none = 0;
          signal_.compare_exchange_strong(none, signal);  // the first one counts
          for (const auto& m : machines) m->request_stop();
        }
      }
    });
  }
  ~StopOnSignal() {
    done_ = true;
    thread_.join();
  }
  // The first signal that stopped the guests, or 0.
  int signal() const noexcept { return signal_.load(); }

 private:
  std::atomic<bool> done_{false};
  std::atomic<int> signal_{0};
  std::thread thread_;
};

// The run's counters for its progress line, summed over the guests.
RunProgressSample progress_sample(const std::vector<std::unique_ptr<Machine>>& machines,
                                  const std::vector<GuestNics>& nics_of) {
  RunProgressSample sample;
  sample.guests = static_cast<unsigned>(machines.size());
  for (std::size_t i = 0; i < machines.size(); ++i) {
    sample.exits += machines[i]->counters().userspace_exits.load();
    sample.running += machines[i]->running() ? 1 : 0;
    const auto& nics = nics_of[i];
    if (nics.emulated.empty() && nics.passthrough.empty() && nics.vpio.empty()) continue;
    sample.has_nics = true;
    const NicTotals totals = nic_totals(nics);
    sample.frames_sent += totals.frames_sent;
    sample.frames_received += totals.frames_received;
  }
  return sample;
}

// The progress line of a run on a terminal (none otherwise, or with
// --quiet): from 2 s on, the elapsed time, exits and their rate, frames.
// Console lines for the terminal take it off first.
std::unique_ptr<ProgressLine> start_progress(const RunOptions& options,
                                             const std::vector<std::unique_ptr<Machine>>& machines,
                                             const std::vector<GuestNics>& nics_of,
                                             ConsoleSink& console) {
  const unsigned columns = stderr_terminal_columns();
  if (!progress_wanted(columns, options.quiet)) return nullptr;
  auto progress = std::make_unique<ProgressLine>(
      STDERR_FILENO,
      [&machines, &nics_of, columns, before = RunProgressSample{},
       before_at = ProgressClock::duration{}](ProgressClock::duration elapsed) mutable {
        const RunProgressSample now = progress_sample(machines, nics_of);
        std::string text = run_progress_text(elapsed, now, before, elapsed - before_at, columns);
        before = now;
        before_at = elapsed;
        return text;
      });
  console.set_before_line([line = progress.get()] { line->erase(); });
  return progress;
}

// How the --pcap recording ended: its frame count, or the write that failed.
bool report_recording(const Network& network, const std::string& path) {
  if (const std::error_code error = network.pcap_write_error()) {
    std::fprintf(stderr, "vpio: --pcap %s: %s (recording stopped after %" PRIu64 " whole frames)\n",
                 path.c_str(), error.message().c_str(), network.frames_recorded());
    return false;
  }
  std::fprintf(stderr, "vpio: %" PRIu64 " frames recorded in %s\n", network.frames_recorded(),
               shown_path(path).c_str());
  return true;
}

// Writes the profile and its picture and prints its report, the report also
// when a file could not be written.
bool write_profile(const RunOptions& options, const std::vector<std::unique_ptr<Machine>>& machines,
                   const std::vector<std::shared_ptr<const ExitProfiler>>& profilers,
                   const std::vector<GuestOutcome>& outcomes) {
  const nlohmann::json profile = profile_json(machines, profilers, outcomes);
  const std::string svg = svg_path_of(options);  // none: the profile went to stdout
  const bool json_written = write_output(
      options.profile_json,
      profile.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", "--output");
  const bool svg_written = svg.empty() || write_output(svg, profile_svg(profile), "--svg");
  FILE* text = text_stream(options);
  std::fflush(stdout);
  std::fputs(profile_text_report(profile, options.top).c_str(), text);
  const std::string json_shown = shown_path(options.profile_json), svg_shown = shown_path(svg);
  if (json_written && svg_written && !svg.empty())
    std::fprintf(text, "vpio: profile written to %s, picture to %s\n", json_shown.c_str(),
                 svg_shown.c_str());
  else if (json_written)
    std::fprintf(text, "vpio: profile written to %s\n", json_shown.c_str());
  else if (svg_written && !svg.empty())
    std::fprintf(text, "vpio: picture written to %s\n", svg_shown.c_str());
  return json_written && svg_written;
}

// What a run will do, read from its options alone. Planned before the lab
// boots or any VM exists, so that bad input fails fast anywhere.
struct RunPlan {
  std::vector<std::string> names;  // the guests', from their image files
  std::vector<MachineConfig> configs;
  std::vector<std::shared_ptr<const ExitProfiler>> profilers;  // `vpio profile`: one per guest
  NicPlan nics;
};

// One guest's machine: a flat test image, or a bzImage that boots as Linux
// with the run's initrd and command line (plus vpio.guest=INDEX).
MachineConfig guest_config(const RunOptions& options, const std::string& path,
                           const std::string& name, unsigned index,
                           const std::vector<std::uint8_t>& initrd) {
  const std::uint64_t ram = std::uint64_t{options.ram_mib} * kMiB;
  MachineConfig config;
  config.name = name;
  config.ram_bytes = ram;
  config.image = read_image(path, ram);
  config.coalesced_pio = !options.no_coalesced_pio;
  if (classify_image(config.image, path) == ImageKind::linux_kernel) {
    LinuxBootConfig boot;
    boot.kernel_path = path;
    boot.initrd_path = options.initrd;
    boot.initrd = initrd;
    boot.command_line = linux_command_line(options.append, index);
    const BzImage header = parse_bzimage(config.image, path);
    plan_linux_layout(header, config.image.size(), boot.initrd.size(), boot.command_line.size(),
                      ram, path, boot.initrd_path);
    config.linux_guest = std::move(boot);
  }
  return config;
}

// Every file the run writes (outputs and console files) can be written and
// none is another output or an image.
void check_run_files(const RunOptions& options, const std::vector<std::string>& names) {
  check_output_paths(options);
  std::vector<NamedFile> outputs, inputs;
  for (const auto& [option, path] : output_paths(options)) outputs.push_back({option, path});
  if (!options.console_dir.empty())
    for (const auto& name : names)
      outputs.push_back({"--console-dir", (std::filesystem::path(options.console_dir) /
                                           console_file_name(name)).string()});
  for (const auto& image : options.images) inputs.push_back({"image", image});
  check_distinct_files(outputs, inputs);
  if (!options.console_dir.empty()) {
    std::vector<std::string> files;
    for (const auto& name : names) files.push_back(console_file_name(name));
    check_output_directory(options.console_dir, files, "--console-dir");
  }
}

// Throws, naming the bad input, for anything the run could not do.
RunPlan plan_run(const RunOptions& options) {
  check_lab_options(options.lab);
  RunPlan plan;
  plan.nics = plan_nics(options.nics, options.images.size());
  plan.names = guest_names(options.images);
  std::vector<std::uint8_t> initrd;
  if (!options.initrd.empty()) {
    initrd = read_whole_file(options.initrd, "--initrd");
    if (initrd.empty()) throw std::invalid_argument("--initrd '" + options.initrd + "' is empty");
  }
  for (std::size_t i = 0; i < options.images.size(); ++i) {
    MachineConfig config = guest_config(options, options.images[i], plan.names[i],
                                        static_cast<unsigned>(i), initrd);
    if (options.profile) {
      auto profiler = std::make_shared<ExitProfiler>();
      config.observer = profiler;
      plan.profilers.push_back(std::move(profiler));
    }
    plan.configs.push_back(std::move(config));
  }
  const bool any_linux = std::any_of(plan.configs.begin(), plan.configs.end(),
                                     [](const auto& c) { return c.linux_guest.has_value(); });
  if (!any_linux && (!options.initrd.empty() || !options.append.empty()))
    throw std::invalid_argument(std::string(!options.initrd.empty() ? "--initrd" : "--append") +
                                " applies to Linux guests, and no image given is a bzImage");
  check_port_layout(plan.configs, plan.nics.specs);
  check_run_files(options, plan.names);
  return plan;
}

// Where the guests run: on this host's KVM or in the lab, and why the lab.
struct KvmChoice {
  KvmPlace place = KvmPlace::host;
  std::string why_lab;
};

// The host's KVM is probed only when the options leave the choice open.
// Throws std::invalid_argument for what the lab cannot do: paths it cannot
// see, or a host card without a card in the lab's VM.
KvmChoice choose_kvm(const RunOptions& options, const std::vector<NicSpec>& nics, bool in_lab) {
  KvmProbe host_kvm;
  KvmChoice choice;
  choice.place = choose_kvm_place(options.lab, in_lab, [&host_kvm] {
    host_kvm = probe_kvm();
    return host_kvm.usable;
  });
  if (options.lab.lab)
    choice.why_lab = "--lab given";
  else if (!options.lab.lab_nic.empty())
    choice.why_lab = "--lab-nic given (it implies --lab)";
  else
    choice.why_lab = "no usable /dev/kvm on this host: " + host_kvm.reason;
  if (choice.place != KvmPlace::lab) return choice;
  check_paths_for_lab(options);
  if (!options.lab.lab_nic.empty()) return choice;
  for (const auto& spec : nics) {
    if (host_card_base(spec))
      throw std::invalid_argument(
          "--nic hw=" + spec.hw +
          " names a card on the host running the VMM, but the guests run in the KVM lab (" +
          choice.why_lab + "), whose VM has no card; add --lab-nic ne2k-isa,iobase=" +
          spec.hw.substr(5) + " to give it QEMU's NE2000 there");
    if (host_vfio_address(spec))
      throw std::invalid_argument(
          "--nic hw=" + spec.hw +
          " names a PCI device on the host running the VMM, but the guests run in the KVM "
          "lab (" + choice.why_lab + "), whose VM has no card; add --lab-nic rtl8139 to give it "
          "QEMU's RTL8139 there, bound to vfio-pci at 0000:00:10.0");
  }
  return choice;
}

// What stops this host from running the plan, said on stderr, as the exit
// status (kExitVmmFailure), or 0: a Linux guest on a KVM that cannot boot
// one, a host card this process may not reach (no root, or a kernel without
// ioperm, as in a PVM guest). Checked before any guest is set up.
int host_obstacle(const RunOptions& options, const RunPlan& plan, bool in_lab) {
  for (const auto& config : plan.configs)
    if (config.linux_guest) {
      const std::string module = find_kvm_module("/sys/module");
      if (const std::string obstacle = linux_guest_obstacle(module); !obstacle.empty()) {
        std::fprintf(stderr,
                     "vpio: guest '%s' is a Linux kernel, which this host's KVM (%s) cannot "
                     "boot: %s; add --lab to run it in the KVM lab\n",
                     config.name.c_str(), module.c_str(), obstacle.c_str());
        return kExitVmmFailure;
      }
    }
  if (in_lab) return 0;
  for (const auto& spec : plan.nics.specs)
    if (const auto base = host_card_base(spec))
      if (const auto error = host_card_access_error(*base, nic_kind(spec).window_ports)) {
        std::fprintf(stderr,
                     "vpio: --nic hw=%s: this process cannot reach the host's ports: %s; for "
                     "QEMU's NE2000 in the KVM lab instead, add --lab-nic ne2k-isa,iobase=%s%s\n",
                     spec.hw.c_str(), error->c_str(), spec.hw.substr(5).c_str(),
                     options.lab.no_lab ? " and drop --no-lab" : "");
        return kExitVmmFailure;
      }
  return 0;
}

// The run's machines and their cards.
struct RunGuests {
  std::vector<std::unique_ptr<Machine>> machines;
  // Declared after the machines so it goes first: tap reader threads raise
  // IRQs on machines and must stop before the machines do.
  std::unique_ptr<Network> network;
  std::vector<GuestNics> nics_of;  // per machine
};

// Builds the machines from the plan's configs (which it takes) and attaches
// every --nic. Returns 0, or the exit status after saying why on stderr.
int set_up_guests(const RunOptions& options, RunPlan& plan, ConsoleSink& console,
                  RunGuests& guests) {
  try {
    guests.network = std::make_unique<Network>(
        options.pcap.empty() ? std::nullopt : std::optional<std::filesystem::path>(options.pcap));
    guests.nics_of.resize(plan.configs.size());
    Kvm kvm;
    for (auto& config : plan.configs)
      guests.machines.push_back(std::make_unique<Machine>(kvm, std::move(config), &console));
    Network& network = *guests.network;
    for (const auto& spec : plan.nics.specs)
      for (unsigned i = 0; i < guests.machines.size(); ++i) {
        if (spec.guest && *spec.guest != i) continue;
        Machine& machine = *guests.machines[i];
        GuestNics& nics = guests.nics_of[i];
        const hw::MacAddress mac = spec.mac.value_or(default_mac(i));
        if (spec.mode == NicMode::emulate)
          nics.emulated.push_back(&network.attach_emulated(machine, spec, mac));
        else if (spec.mode == NicMode::passthrough)
          nics.passthrough.push_back(&network.attach_passthrough(machine, spec, mac));
        else
          nics.vpio.push_back(
              &network.attach_vpio(machine, spec, mac, plan.nics.sharers[spec.hw]));
      }
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "vpio: %s\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vpio: cannot set up the guests: %s\n", e.what());
    return kExitVmmFailure;
  }
  return 0;
}

// With --console-dir, sends each guest's console to DIR/NAME.log and adds
// the files to `files`. Checked before the run, so a failure here is the
// file system's, not the input's: reported as a file that could not be
// written (the exit status), before any guest runs; 0 otherwise.
int open_console_files(const RunOptions& options,
                       const std::vector<std::unique_ptr<Machine>>& machines,
                       ConsoleSink& console, std::vector<std::string>& files) {
  if (options.console_dir.empty()) return 0;
  if (const std::error_code error = make_output_directory(options.console_dir)) {
    std::fprintf(stderr, "vpio: --console-dir %s: %s\n", options.console_dir.c_str(),
                 error.message().c_str());
    return kExitOutputFailed;
  }
  for (const auto& machine : machines) {
    const std::string path = options.console_dir + "/" + console_file_name(machine->name());
    if (const std::error_code error = console.send_to_file(machine->name(), path)) {
      std::fprintf(stderr, "vpio: --console-dir %s: %s\n", path.c_str(), error.message().c_str());
      return kExitOutputFailed;
    }
    files.push_back(path);
  }
  return 0;
}

// How the guests ended, and the first signal that stopped them (0: none).
struct RunEnd {
  std::vector<GuestOutcome> outcomes;
  int signal = 0;
};

// Runs every guest to its end (or --timeout, or a signal) with the progress
// line, then stops the monitors and says on stderr which guests crashed or
// were stopped.
RunEnd run_guests(const RunOptions& options, RunGuests& guests, ConsoleSink& console) {
  RunEnd end;
  {
    StopOnSignal stop_on_signal(guests.machines);
    const std::unique_ptr<ProgressLine> progress =
        start_progress(options, guests.machines, guests.nics_of, console);
    end.outcomes = run_concurrently(guests.machines, std::chrono::seconds(options.timeout_seconds));
    console.set_before_line({});
    end.signal = stop_on_signal.signal();
  }
  guests.network->stop_monitors();
  std::cout.flush();
  for (std::size_t i = 0; i < guests.machines.size(); ++i) {
    const GuestOutcome& outcome = end.outcomes[i];
    if (outcome.kind != GuestOutcome::Kind::crashed && outcome.kind != GuestOutcome::Kind::stopped)
      continue;
    const bool by_signal =
        end.signal > 0 && outcome.kind == GuestOutcome::Kind::stopped && !outcome.timed_out;
    std::fprintf(stderr, "vpio: guest '%s' %s%s\n", guests.machines[i]->name().c_str(),
                 outcome.detail.c_str(),
                 by_signal ? (std::string(" on SIG") + sigabbrev_np(end.signal)).c_str() : "");
  }
  return end;
}

// Says whether every console file was written whole, naming those that
// were not.
bool report_console_files(const ConsoleSink& console, const std::vector<std::string>& files) {
  if (files.empty()) return true;
  const auto errors = console.file_errors();
  for (const auto& [path, error] : errors)
    std::fprintf(stderr, "vpio: --console-dir %s: %s (lines after it are lost)\n", path.c_str(),
                 error.message().c_str());
  if (!errors.empty()) return false;
  std::string list;
  for (const auto& path : files) list += (list.empty() ? "" : ", ") + path;
  std::fprintf(stderr, "vpio: consoles written to %s\n", list.c_str());
  return true;
}

// Writes the run's outputs (pcap report, console files, --stats, the
// profile). Every one is attempted even after one failed: what can be kept
// is. True when all were written.
bool write_run_outputs(const RunOptions& options, const RunPlan& plan, const RunGuests& guests,
                       const RunEnd& end, const ConsoleSink& console,
                       const std::vector<std::string>& console_files) {
  bool written = true;
  if (!options.pcap.empty() && !report_recording(*guests.network, options.pcap)) written = false;
  if (!report_console_files(console, console_files)) written = false;
  // Guest names come from file names, which need not be UTF-8.
  if (!options.stats.empty() &&
      !write_output(options.stats,
                    run_stats(guests.machines, end.outcomes, guests.nics_of)
                            .dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
                        "\n",
                    "--stats"))
    written = false;
  if (options.profile && !write_profile(options, guests.machines, plan.profilers, end.outcomes))
    written = false;
  return written;
}

int run_command(const RunOptions& options, int argc, char** argv) {
  const bool in_lab = std::getenv("VPIO_IN_LAB") != nullptr;
  RunPlan plan;
  KvmChoice kvm;
  try {
    plan = plan_run(options);
    kvm = choose_kvm(options, plan.nics.specs, in_lab);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vpio: %s\n", e.what());
    return kExitUsage;
  }
  if (kvm.place == KvmPlace::lab) return run_in_lab(argc, argv, options, kvm.why_lab);
  if (const int refused = host_obstacle(options, plan, in_lab)) return refused;

  ConsoleSink console(stdout_output(options) != nullptr ? std::cerr : std::cout,
                      plan.configs.size() > 1);
  RunGuests guests;
  if (const int failed = set_up_guests(options, plan, console, guests)) return failed;
  std::vector<std::string> console_files;
  if (const int failed = open_console_files(options, guests.machines, console, console_files))
    return failed;
  const RunEnd end = run_guests(options, guests, console);
  if (!options.quiet)
    std::fputs(exit_report_text(exit_report_rows(guests.machines, end.outcomes, guests.nics_of))
                   .c_str(),
               stderr);
  const bool written = write_run_outputs(options, plan, guests, end, console, console_files);
  return written ? exit_code_for(end.outcomes, end.signal) : kExitOutputFailed;
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

// --help: option names in a 24-column margin, their text wrapped to end by
// column 80. A line of text keeps its indent, and its continuation lines hang
// under its second column (the text after two spaces), if it has one.
constexpr std::size_t kHelpNameColumns = 24, kHelpTextColumns = 80 - kHelpNameColumns;

std::string wrapped(std::string_view text) {
  constexpr auto npos = std::string_view::npos;
  std::string out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    std::string_view line = text.substr(start, end - start);
    const std::size_t indent = std::min(line.find_first_not_of(' '), line.size());
    std::size_t hang = indent;
    if (const std::size_t gap = line.find("  ", indent); gap != npos)
      hang = std::min(line.find_first_not_of(' ', gap), indent + kHelpTextColumns / 2);
    for (bool first = true;; first = false) {
      if (!first) out.append(hang, ' ');
      const std::size_t room = first ? kHelpTextColumns : kHelpTextColumns - hang;
      std::size_t cut = line.size() <= room ? npos : line.rfind(' ', room);
      if (line.size() > room && (cut == npos || (first && cut < indent + 1)))
        cut = line.find(' ', room);  // a word longer than the room stands alone
      if (cut == npos) {
        out.append(line);
        break;
      }
      out.append(line.substr(0, cut)).append("\n");
      line = line.substr(cut);
      line.remove_prefix(std::min(line.find_first_not_of(' '), line.size()));
    }
    if (end == text.size()) return out;
    out.append("\n");
    start = end + 1;
  }
}

void add_run_options(CLI::App* run, RunOptions& options) {
  // Validators would add their own words to the metavariable
  // ("UINT:UINT in [2 - 3072]"); the help text says the limits instead.
  const auto quiet = [](CLI::Validator validator) { return validator.description(""); };
  run->add_option("IMAGE", options.images,
                  wrapped("Guest images, each in a VM of its own: flat binaries loaded at "
                          "0x100000 (docs/guest-abi.md), or Linux bzImages, told apart by their "
                          "setup header (docs/linux-guests.md)"))
      ->type_name("")
      ->check(quiet(CLI::ExistingFile));
  run->add_option("--ram", options.ram_mib,
                  wrapped("RAM of each guest in MiB, 2 to 3072 (default 64)"))
      ->type_name("MIB")
      ->check(quiet(CLI::Range(2u, 3072u)));
  run->add_option("--initrd", options.initrd,
                  wrapped("Initial ramdisk (initramfs) of every Linux guest"))
      ->type_name("FILE");
  run->add_option("--append", options.append,
                  wrapped("Kernel command line of every Linux guest; vpio adds vpio.guest=N, N "
                          "the guest's index from 0. console=ttyS0 shows the kernel's messages"))
      ->type_name("CMDLINE");
  run->add_option("--timeout", options.timeout_seconds,
                  wrapped("Stop guests still running after SECONDS and exit 124, as coreutils' "
                          "timeout does (default 0: no limit; at most 86400)"))
      ->type_name("SECONDS")
      ->check(quiet(CLI::Range(0u, 86400u)));
  run->add_option(
         "--nic", options.nics,
         wrapped("Give guests a network card (an NE2000 unless model= says otherwise); "
                 "repeatable. SPEC is MODE[,KEY=VALUE]..., "
                 "MODE one of\n"
                 "  emulate       the guest's own emulated card\n"
                 "  passthrough   the host's card (hw=) given whole to one guest: every access "
                 "direct\n"
                 "  vpio          the host's card shared by up to 8 guests through the monitor\n"
                 "What the guest sees (its card):\n"
                 "  model=NAME    the device: ne2000 (the default), rtl8139 (a bus master: "
                 "docs/rtl8139-vpio.md), or template (the template device of "
                 "docs/model-authoring.md: 16 ports, flat guests only)\n"
                 "  port=BASE     I/O base of its window (an NE2000's 0x20 ports, an "
                 "RTL8139's 0x100), a multiple of the window's size (default 0x300; an "
                 "RTL8139's PCI function in a Linux guest: 0xc000, clear of COM1)\n"
                 "  irq=N         ISA IRQ 0-15, at vector 0x20+N (default 9)\n"
                 "  mac=MAC       its MAC (default 52:54:00:12:34:56 + guest index; not for "
                 "passthrough of hw=port)\n"
                 "  guest=N       only guest N (from 0) gets the card (default: every guest)\n"
                 "What the host provides (the card and its wire):\n"
                 "  hw=chip       passthrough and vpio: vpio's own NE2000 chip stands in for "
                 "hardware (default)\n"
                 "  hw=port:BASE  a real NE2000 at that host I/O base, 0x100-0x3e0 (ioperm, "
                 "root; IRQ polled; --lab-nic for QEMU's)\n"
                 "  hw=vfio:ADDR  a real PCI card bound to vfio-pci at ADDR (e.g. "
                 "0000:00:10.0): its DMA confined by the IOMMU to what vpio maps (each "
                 "guest's RAM); --lab-nic rtl8139 for QEMU's RTL8139 there\n"
                 "  wire=WIRE     the cable of an emulated card or the chip: hub (default), "
                 "hub:NAME, tap:IFNAME or none; a real card has its own\n"
                 "  queue=N       vpio: frames held for each guest until its ring has room "
                 "(default 64)\n"
                 "  tx-pages=N    vpio: each guest's transmit area on the card, 6 to 52 pages "
                 "(default 12, two buffers, for up to 4 guests, else 6)\n"
                 "  mmio=ADDRESS  flat guests: where the card's MMIO window goes, for a "
                 "model with one (template)\n"
                 "README, \"--nic\"; docs/vpio.md, docs/real-hardware.md"))
      ->type_name("SPEC")
      ->allow_extra_args(false);
  run->add_option("--pcap", options.pcap,
                  wrapped("Record every frame on the default hub to FILE (- for stdout)"))
      ->type_name("FILE");
  run->add_option("--stats", options.stats,
                  wrapped("Write the run's counters as JSON to FILE (- for stdout; "
                          "docs/run-stats.md)"))
      ->type_name("FILE");
  run->add_option("--console-dir", options.console_dir,
                  wrapped("Write each guest's console to DIR/NAME.log, unprefixed, instead of "
                          "the interleaved \"[NAME] \" lines on stdout. NAME is the guest's name "
                          "in the exit report: its image's name, with #2, #3, ... for repeats. "
                          "DIR is made if missing (its parent must exist)"))
      ->type_name("DIR");
  run->add_option("--lab-nic", options.lab.lab_nic,
                  wrapped("Run in the KVM lab (implies --lab) and give the lab VM this card, "
                          "QEMU's: an NE2000 for hw=port cards, or an RTL8139 behind the lab's "
                          "IOMMU, bound to vfio-pci at 0000:00:10.0, for hw=vfio (lab/kvm-lab "
                          "--nic syntax, e.g. ne2k-isa,iobase=0x300,irq=9,pcap=wire.pcap or "
                          "rtl8139,pcap=wire.pcap)"))
      ->type_name("SPEC");
  run->add_flag("--lab", options.lab.lab,
                wrapped("Run the guests inside the KVM lab (lab/kvm-lab: kvm-amd under QEMU) "
                        "even when this host's /dev/kvm is usable"));
  run->add_flag("-q,--quiet", options.quiet,
                wrapped("Print no exit report, and no progress line (otherwise drawn on stderr, "
                        "when it is a terminal, for a run past 2 s)"));
  run->add_flag("--no-coalesced-pio", options.no_coalesced_pio,
                wrapped("Let every write to a NIC's data port exit, even where KVM could queue "
                        "it in its coalesced ring (KVM_CAP_COALESCED_PIO) without an exit"));
  run->add_flag("--no-lab", options.lab.no_lab,
                wrapped("Run on this host's /dev/kvm, failing if it is not usable, never in the "
                        "KVM lab"));
  run->footer(
      "Exit status: 0 when every guest exited with 0 or halted; else the first non-zero\n"
      "guest status (its low byte), 2 for bad input, 70 if a guest crashed, 71 if the\n"
      "VMM failed, 74 if an output file could not be written, 124 if --timeout stopped\n"
      "a guest, 128 + N if signal N stopped the run (130: Ctrl-C, 143: SIGTERM).\n"
      "The exit report's columns: docs/run-stats.md.");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vpio: a KVM VMM for model-based virtual passthrough I/O.\n"
      "Boots freestanding test guests (flat images loaded at 0x100000, entered in\n"
      "64-bit mode; console on port 0xE9, exit status by a write to port 0xF4).",
      "vpio"};
  app.require_subcommand(1);
  app.get_formatter()->column_width(kHelpNameColumns);
  app.set_version_flag("-V,--version", std::string("vpio ") + version_text(),
                       "Print vpio's version and exit");
  RunOptions options;
  auto* run = app.add_subcommand("run", wrapped("Boot one or more guests, each in its own VM, "
                                                "and exit with the first non-zero guest "
                                                "status"));
  add_run_options(run, options);
  auto* profile = app.add_subcommand(
      "profile",
      wrapped("Run guests like `run` and write their exit profile: every exit by reason, port "
              "or MMIO address, direction and path (direct, hooked, emulated, unclaimed), with "
              "its time and the guest instruction that caused it, beside KVM's own counters "
              "(docs/profile.md). Prints the report; with --report, re-prints a saved profile "
              "instead"));
  add_run_options(profile, options);
  profile
      ->add_option("-o,--output", options.profile_json,
                   wrapped("Write the profile JSON to FILE (default vpio-profile.json; - for "
                           "stdout)"))
      ->type_name("FILE");
  profile
      ->add_option("--svg", options.profile_svg,
                   wrapped("Draw the profile (exits per port by path, latency histograms) to "
                           "FILE (default: the --output name with .svg, none when it is -; - "
                           "for stdout)"))
      ->type_name("FILE");
  profile
      ->add_option("--report", options.report,
                   wrapped("Print the saved profile FILE (and with --svg draw it) and exit"))
      ->type_name("FILE")
      ->check(CLI::Validator(CLI::ExistingFile).description(""));
  // CLI11 would read "-1" into the unsigned count as a huge one, i.e. "all".
  const CLI::Validator not_negative(
      [](const std::string& text) {
        return text.starts_with('-') ? text + " is negative; give 0 (every row) or more"
                                     : std::string();
      },
      "", "not negative");
  profile
      ->add_option("--top", options.top,
                   wrapped("Rows of ports and sites listed per guest (default 20; 0: all)"))
      ->type_name("N")
      ->check(not_negative);
  auto* kvm_info = app.add_subcommand(
      "kvm-info",
      wrapped("Print this host's KVM (vendor module, kernel, API version, the capabilities vpio "
              "uses); exit 1 saying why when /dev/kvm is missing or unusable"));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  if (kvm_info->parsed()) return kvm_info_command();
  options.profile = profile->parsed();
  {
    const char* first = nullptr;
    for (const auto& [option, path] : output_paths(options))
      if (is_stdout_path(path)) {
        if (first != nullptr) {
          std::fprintf(stderr,
                       "vpio: %s and %s both name stdout ('-'); only one output can go there\n",
                       first, option);
          return kExitUsage;
        }
        first = option;
      }
  }
  if (options.profile && !options.report.empty()) {
    if (!options.images.empty()) {
      std::fprintf(stderr, "vpio: profile --report prints a saved profile; give it no images\n");
      return kExitUsage;
    }
    for (const char* name : {"--ram", "--timeout", "--nic", "--pcap", "--stats", "--console-dir",
                             "--initrd", "--append", "--lab-nic", "--lab", "--no-lab",
                             "--no-coalesced-pio", "--output", "--quiet"})
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

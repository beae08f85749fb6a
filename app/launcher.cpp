// Several guests, one thread each.
#include "app/launcher.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>

namespace vpio {

std::vector<std::string> guest_names(const std::vector<std::string>& image_paths) {
  std::vector<std::string> names;
  std::set<std::string> taken;
  std::map<std::string, unsigned> seen;
  for (const auto& path : image_paths) {
    const std::string stem = std::filesystem::path(path).stem().string();
    std::string name = stem;
    if (++seen[stem] > 1 || taken.contains(name)) {
      unsigned n = std::max(seen[stem], 2u);
      while (taken.contains(stem + "#" + std::to_string(n))) ++n;
      name = stem + "#" + std::to_string(n);
    }
    taken.insert(name);
    names.push_back(name);
  }
  return names;
}

std::vector<GuestOutcome> run_concurrently(const std::vector<std::unique_ptr<Machine>>& machines,
                                           std::chrono::milliseconds deadline) {
  std::vector<Machine*> pointers;
  for (const auto& machine : machines) pointers.push_back(machine.get());
  return run_concurrently(pointers, deadline);
}

std::vector<GuestOutcome> run_concurrently(const std::vector<Machine*>& machines,
                                           std::chrono::milliseconds deadline) {
  std::vector<GuestOutcome> outcomes(machines.size());
  std::mutex mutex;
  std::condition_variable all_done;
  std::size_t finished = 0;
  std::vector<bool> done(machines.size(), false);  // under mutex
  std::vector<std::thread> threads;
  threads.reserve(machines.size());
  for (std::size_t i = 0; i < machines.size(); ++i)
    threads.emplace_back([&, i] {
      outcomes[i] = machines[i]->run();
      std::lock_guard lock(mutex);
      ++finished;
      done[i] = true;
      all_done.notify_all();
    });
  // A guest stopped before the deadline (a signal) was not stopped by it.
  bool deadline_passed = false;
  if (deadline.count() > 0) {
    std::unique_lock lock(mutex);
    const auto all_finished = [&] { return finished == machines.size(); };
    if (!all_done.wait_for(lock, deadline, all_finished)) {
      deadline_passed = true;
      for (const auto& machine : machines) machine->request_stop();
      // A vCPU thread stuck in the VMM (a lock never released, a device
      // that never answers) would keep the joins below waiting forever, and
      // --timeout would not end the run: say where each one is, and end.
      if (!all_done.wait_for(lock, kStopGrace, all_finished)) {
        for (std::size_t i = 0; i < machines.size(); ++i) {
          if (done[i]) continue;
          const std::string where = machines[i]->busy_in_vmm();
          std::fprintf(stderr,
                       "vpio: guest '%s' did not stop within %lld s of the --timeout: its vCPU "
                       "thread is %s\n",
                       machines[i]->name().c_str(), static_cast<long long>(kStopGrace.count()),
                       where.empty() ? "in KVM_RUN and does not return from it"
                                     : ("stuck in the VMM, " + where).c_str());
        }
        std::fflush(stderr);
        std::_Exit(kExitVmmFailure);
      }
    }
  }
  for (auto& t : threads) t.join();
  for (auto& outcome : outcomes)
    if (outcome.kind == GuestOutcome::Kind::stopped && deadline_passed) {
      outcome.timed_out = true;
      outcome.detail = "stopped: still running after " + std::to_string(deadline.count()) +
                       " ms" +
                       (outcome.detail.starts_with("stopped by the VMM")
                            ? outcome.detail.substr(std::string_view("stopped by the VMM").size())
                            : std::string());
    }
  return outcomes;
}

int exit_code_for(const std::vector<GuestOutcome>& outcomes, int stopping_signal) noexcept {
  // A crash, then a stop by the deadline, then any other stop outweigh any
  // guest status.
  for (const auto& outcome : outcomes)
    if (outcome.kind == GuestOutcome::Kind::crashed) return kExitGuestCrashed;
  for (const auto& outcome : outcomes)
    if (outcome.kind == GuestOutcome::Kind::stopped && outcome.timed_out) return kExitTimedOut;
  for (const auto& outcome : outcomes)
    if (outcome.kind == GuestOutcome::Kind::stopped)
      return stopping_signal > 0 ? kExitSignalBase + stopping_signal : kExitVmmFailure;
  for (const auto& outcome : outcomes) {
    if (outcome.status != 0) {
      int code = static_cast<int>(outcome.status & 0xff);
      return code != 0 ? code : 1;
    }
  }
  return 0;
}

}  // namespace vpio

// A progress line for runs that take a while: drawn on stderr only when it
// is a terminal, redrawn in place (\r) every second, and erased before other
// output and at the end, so the report that follows starts on a clean line.
// `vpio run` draws one from 2 s on (never with --quiet); the benchmark
// drivers draw "row N/M" while their rows run.
#pragma once

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace vpio {

using ProgressClock = std::chrono::steady_clock;

// A run's line appears once it has taken this long, then changes this often.
inline constexpr std::chrono::milliseconds kProgressDelay{2000};
inline constexpr std::chrono::milliseconds kProgressInterval{1000};

// The columns of the terminal on stderr, or 0 when stderr is not a terminal.
// VPIO_PROGRESS_COLUMNS, when set, answers instead: vpio sets it for its copy
// in the KVM lab, whose stderr is the lab's serial port (a terminal, whatever
// the user's stderr is), to the host's answer.
unsigned stderr_terminal_columns();

// Whether a run shows a progress line: only on a terminal (columns > 0), and
// never with --quiet.
bool progress_wanted(unsigned terminal_columns, bool quiet) noexcept;
// Whether the line is on screen `elapsed` into the run: not before `delay`.
bool progress_due(ProgressClock::duration elapsed,
                  ProgressClock::duration delay = kProgressDelay) noexcept;

// "0:07", "12:34", "1:02:03".
std::string elapsed_text(ProgressClock::duration elapsed);
// "1,234,567".
std::string thousands(std::uint64_t value);
// `text` cut to leave the terminal's last column free: a line that filled it
// would wrap, and \r would then return to the wrong line.
std::string fit_to_terminal(std::string text, unsigned columns);

// What a run's line shows, summed over its guests.
struct RunProgressSample {
  std::uint64_t exits = 0;  // vpio's kvm-exits so far
  std::uint64_t frames_sent = 0, frames_received = 0;
  unsigned running = 0, guests = 0;
  bool has_nics = false;
};
// "vpio: 0:12, 2/2 running, 152,301 exits (8,420/s), frames 1,234 out, 1,230
// in": guests still running of all, vpio's exits, their rate over `interval`
// since `before`, frames the guests' cards sent and received; fitted to
// `columns`.
std::string run_progress_text(ProgressClock::duration elapsed, const RunProgressSample& now,
                              const RunProgressSample& before, ProgressClock::duration interval,
                              unsigned columns);
// "PROGRAM: row 3/40 (LABEL), 0:12", fitted to `columns`.
std::string row_progress_text(std::string_view program, unsigned row, unsigned rows,
                              std::string_view label, ProgressClock::duration elapsed,
                              unsigned columns);

// Draws text(elapsed) on `fd` from `delay` on, every `interval`, from a
// thread of its own, until destroyed; the line is erased then. text() runs
// on that thread without the line's lock held.
class ProgressLine {
 public:
  using Text = std::function<std::string(ProgressClock::duration elapsed)>;
  ProgressLine(int fd, Text text, ProgressClock::duration delay = kProgressDelay,
               ProgressClock::duration interval = kProgressInterval);
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  ~ProgressLine();

  // Takes the line off the terminal now, if it is drawn, so other output
  // starts on a clean line; the next tick draws it again. Thread-safe.
  void erase() noexcept;

 private:
  void tick_loop();
  void draw(const std::string& text) noexcept;
  void erase_locked() noexcept;

  int fd_;
  Text text_;
  ProgressClock::duration delay_, interval_;
  ProgressClock::time_point start_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::size_t drawn_ = 0;  // bytes of the line now on screen
  std::thread thread_;
};

// One row of a benchmark driver's table while it runs. On a terminal
// (columns > 0) its "PROGRAM: row N/M (LABEL), 0:12" line is drawn at once
// and kept up to date until the row is done; elsewhere "PROGRAM: row N/M:
// LABEL" is written once, a line for the log. Erase it before other output
// to the terminal, the row's table line included (destroying it erases it).
class RowProgress {
 public:
  RowProgress(std::string_view program, unsigned row, unsigned rows, std::string_view label,
              unsigned columns = stderr_terminal_columns(), int fd = STDERR_FILENO);
  void erase() noexcept {
    if (line_) line_->erase();
  }

 private:
  std::unique_ptr<ProgressLine> line_;
};

}  // namespace vpio

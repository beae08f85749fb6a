// The progress line.
#include "app/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "app/exit_report.hpp"

namespace vpio {
namespace {

// A terminal that reports no size (a serial line) is taken as this wide.
constexpr unsigned kDefaultTerminalColumns = 80;

void write_all(int fd, std::string_view text) noexcept {
  while (!text.empty()) {
    const ssize_t written = ::write(fd, text.data(), text.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;  // a progress line is best effort
    text.remove_prefix(static_cast<std::size_t>(written));
  }
}

double seconds_of(ProgressClock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

unsigned stderr_terminal_columns() {
  if (const char* given = std::getenv("VPIO_PROGRESS_COLUMNS")) {
    unsigned columns = 0;
    const char* end = given + std::char_traits<char>::length(given);
    const auto [at, error] = std::from_chars(given, end, columns);
    return error == std::errc() && at == end ? columns : 0;
  }
  if (::isatty(STDERR_FILENO) == 0) return 0;
  winsize size{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return kDefaultTerminalColumns;
}

bool progress_wanted(unsigned terminal_columns, bool quiet) noexcept {
  return terminal_columns > 0 && !quiet;
}

bool progress_due(ProgressClock::duration elapsed, ProgressClock::duration delay) noexcept {
  return elapsed >= delay;
}

std::string elapsed_text(ProgressClock::duration elapsed) {
  const auto total = std::chrono::duration_cast<std::chrono::seconds>(elapsed).count();
  const auto hours = total / 3600, minutes = total / 60 % 60, seconds = total % 60;
  char text[32];
  if (hours > 0)
    std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", static_cast<long long>(hours),
                  static_cast<long long>(minutes), static_cast<long long>(seconds));
  else
    std::snprintf(text, sizeof text, "%lld:%02lld", static_cast<long long>(minutes),
                  static_cast<long long>(seconds));
  return text;
}

std::string thousands(std::uint64_t value) {
  std::string digits = std::to_string(value);
  for (std::size_t i = digits.size(); i > 3; i -= 3) digits.insert(i - 3, ",");
  return digits;
}

std::string fit_to_terminal(std::string text, unsigned columns) {
  if (columns == 0) return {};
  return cut_to_columns(text, columns - 1);
}

std::string run_progress_text(ProgressClock::duration elapsed, const RunProgressSample& now,
                              const RunProgressSample& before, ProgressClock::duration interval,
                              unsigned columns) {
  std::string text = "vpio: " + elapsed_text(elapsed) + ", " + std::to_string(now.running) + "/" +
                     std::to_string(now.guests) + " running, " + thousands(now.exits) + " exits";
  const double seconds = seconds_of(interval);
  if (seconds > 0 && now.exits >= before.exits)
    text += " (" +
            thousands(static_cast<std::uint64_t>(
                static_cast<double>(now.exits - before.exits) / seconds + 0.5)) +
            "/s)";
  if (now.has_nics)
    text += ", frames " + thousands(now.frames_sent) + " out, " + thousands(now.frames_received) +
            " in";
  return fit_to_terminal(std::move(text), columns);
}

std::string row_progress_text(std::string_view program, unsigned row, unsigned rows,
                              std::string_view label, ProgressClock::duration elapsed,
                              unsigned columns) {
  std::string text = std::string(program) + ": row " + std::to_string(row) + "/" +
                     std::to_string(rows) + " (" + std::string(label) + "), " +
                     elapsed_text(elapsed);
  return fit_to_terminal(std::move(text), columns);
}

ProgressLine::ProgressLine(int fd, Text text, ProgressClock::duration delay,
                           ProgressClock::duration interval)
    : fd_(fd),
      text_(std::move(text)),
      delay_(delay),
      interval_(interval),
      start_(ProgressClock::now()),
      thread_([this] { tick_loop(); }) {}

ProgressLine::~ProgressLine() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  std::lock_guard lock(mutex_);
  erase_locked();
}

void ProgressLine::erase() noexcept {
  std::lock_guard lock(mutex_);
  erase_locked();
}

void ProgressLine::erase_locked() noexcept {
  if (drawn_ == 0) return;
  try {
    write_all(fd_, "\r" + std::string(drawn_, ' ') + "\r");
  } catch (...) {
  }
  drawn_ = 0;
}

void ProgressLine::draw(const std::string& text) noexcept {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  try {
    // Blanks over what is left of a longer line before; the cursor ends
    // after them, where nothing else writes while the line is up.
    const std::size_t columns = text_columns(text);
    write_all(fd_, "\r" + text + std::string(drawn_ > columns ? drawn_ - columns : 0, ' '));
    drawn_ = std::max(drawn_, columns);
  } catch (...) {
  }
}

void ProgressLine::tick_loop() {
  auto next = start_ + std::max(delay_, ProgressClock::duration::zero());
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_until(lock, next, [this] { return stopping_; })) return;
    }
    const auto elapsed = ProgressClock::now() - start_;
    if (progress_due(elapsed, delay_)) {
      try {
        draw(text_(elapsed));
      } catch (...) {
      }
    }
    next += interval_;
  }
}

RowProgress::RowProgress(std::string_view program, unsigned row, unsigned rows,
                         std::string_view label, unsigned columns, int fd) {
  if (columns == 0) {
    write_all(fd, std::string(program) + ": row " + std::to_string(row) + "/" +
                      std::to_string(rows) + ": " + std::string(label) + "\n");
    return;
  }
  line_ = std::make_unique<ProgressLine>(
      fd,
      [program = std::string(program), row, rows, label = std::string(label),
       columns](ProgressClock::duration elapsed) {
        return row_progress_text(program, row, rows, label, elapsed, columns);
      },
      ProgressClock::duration::zero());
}

}  // namespace vpio

// The progress line: when it is shown (a terminal, not --quiet, past 2 s),
// what it says, and how it is drawn and erased in place.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "app/exit_report.hpp"
#include "app/progress.hpp"

namespace vpio {
namespace {

using namespace std::chrono_literals;

TEST(Progress, ShownOnlyOnATerminalAndNeverWhenQuiet) {
  EXPECT_TRUE(progress_wanted(80, false));
  EXPECT_TRUE(progress_wanted(1, false));
  EXPECT_FALSE(progress_wanted(0, false)) << "stderr is not a terminal";
  EXPECT_FALSE(progress_wanted(80, true)) << "--quiet";
  EXPECT_FALSE(progress_wanted(0, true));
}

TEST(Progress, DueAfterTwoSecondsOrTheDelayGiven) {
  EXPECT_FALSE(progress_due(0ms));
  EXPECT_FALSE(progress_due(1999ms));
  EXPECT_TRUE(progress_due(2000ms));
  EXPECT_TRUE(progress_due(10min));
  EXPECT_TRUE(progress_due(0ms, 0ms));
  EXPECT_FALSE(progress_due(499ms, 500ms));
}

// vpio sets VPIO_PROGRESS_COLUMNS for its copy in the KVM lab; a value that
// is not a number means no terminal.
TEST(Progress, TheLabTakesTheHostsTerminalWidth) {
  ::setenv("VPIO_PROGRESS_COLUMNS", "132", 1);
  EXPECT_EQ(stderr_terminal_columns(), 132u);
  ::setenv("VPIO_PROGRESS_COLUMNS", "0", 1);
  EXPECT_EQ(stderr_terminal_columns(), 0u);
  ::setenv("VPIO_PROGRESS_COLUMNS", "wide", 1);
  EXPECT_EQ(stderr_terminal_columns(), 0u);
  ::unsetenv("VPIO_PROGRESS_COLUMNS");
  if (::isatty(STDERR_FILENO) == 0) {
    EXPECT_EQ(stderr_terminal_columns(), 0u);
  }
}

TEST(Progress, ElapsedTimeAndCounts) {
  EXPECT_EQ(elapsed_text(0s), "0:00");
  EXPECT_EQ(elapsed_text(7s + 900ms), "0:07");
  EXPECT_EQ(elapsed_text(754s), "12:34");
  EXPECT_EQ(elapsed_text(3723s), "1:02:03");
  EXPECT_EQ(thousands(0), "0");
  EXPECT_EQ(thousands(999), "999");
  EXPECT_EQ(thousands(1000), "1,000");
  EXPECT_EQ(thousands(1234567), "1,234,567");
}

TEST(Progress, TheRunLineSaysTimeGuestsExitsAndFrames) {
  RunProgressSample before, now;
  before.exits = 100'000;
  now.exits = 152'301;
  now.guests = 2;
  now.running = 2;
  now.has_nics = true;
  now.frames_sent = 1234;
  now.frames_received = 1230;
  EXPECT_EQ(run_progress_text(12s, now, before, 1s, 200),
            "vpio: 0:12, 2/2 running, 152,301 exits (52,301/s), frames 1,234 out, 1,230 in");
  now.has_nics = false;
  now.guests = 1;
  now.running = 0;
  EXPECT_EQ(run_progress_text(3s, now, RunProgressSample{}, 2s, 200),
            "vpio: 0:03, 0/1 running, 152,301 exits (76,151/s)");
}

// The line never reaches the terminal's last column: it would wrap, and \r
// would return to the wrong line.
TEST(Progress, TheLineFitsTheTerminal) {
  RunProgressSample now;
  now.exits = 123'456'789;
  now.guests = 8;
  now.running = 8;
  now.has_nics = true;
  const std::string line = run_progress_text(75s, now, RunProgressSample{}, 1s, 40);
  EXPECT_EQ(text_columns(line), 39u) << line;
  EXPECT_TRUE(line.starts_with("vpio: 1:15, 8/8 running, 123,456,789")) << line;
  EXPECT_TRUE(line.ends_with("\u2026")) << line;
  EXPECT_EQ(fit_to_terminal("short", 80), "short");
  EXPECT_EQ(fit_to_terminal("short", 0), "");
}

TEST(Progress, TheRowLineNamesTheRowOfAll) {
  EXPECT_EQ(row_progress_text("bench_nic_modes", 3, 40, "tx 1514 / vpio / chip / posted", 12s, 200),
            "bench_nic_modes: row 3/40 (tx 1514 / vpio / chip / posted), 0:12");
  EXPECT_EQ(text_columns(row_progress_text("bench", 1, 2, std::string(100, 'x'), 0s, 30)), 29u);
}

std::string drain(int fd) {
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0)
    text.append(buffer, static_cast<std::size_t>(n));
  return text;
}

// Drawn in place with \r, a shorter line blanking what is left of a longer
// one, and erased on request and at the end: the terminal ends clean.
TEST(ProgressLine, DrawsInPlaceAndErasesAtTheEnd) {
  int ends[2];
  ASSERT_EQ(::pipe2(ends, O_CLOEXEC), 0);
  {
    int ticks = 0;
    ProgressLine line(
        ends[1], [&ticks](ProgressClock::duration) { return ++ticks == 1 ? "first!" : "tick"; },
        0ms, 20ms);
    std::this_thread::sleep_for(70ms);
    line.erase();
  }
  ::close(ends[1]);
  const std::string out = drain(ends[0]);
  ::close(ends[0]);
  EXPECT_TRUE(out.starts_with("\rfirst!\rtick  ")) << out;
  EXPECT_NE(out.find("\r      \r"), std::string::npos) << "erase() blanks the 6 columns drawn";
  EXPECT_EQ(out.find('\n'), std::string::npos) << out;
}

TEST(ProgressLine, DrawsNothingBeforeItsDelayAndStopsAtOnce) {
  int ends[2];
  ASSERT_EQ(::pipe2(ends, O_CLOEXEC), 0);
  const auto start = ProgressClock::now();
  {
    ProgressLine line(
        ends[1], [](ProgressClock::duration) { return "never"; }, 1h);
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_LT(ProgressClock::now() - start, 5s);
  ::close(ends[1]);
  EXPECT_EQ(drain(ends[0]), "");
  ::close(ends[0]);
}

// A benchmark's row: on a terminal its line at once, erased when the row is
// done; elsewhere one plain line per row for the log.
TEST(RowProgress, ALineOnATerminalALogLineElsewhere) {
  int ends[2];
  ASSERT_EQ(::pipe2(ends, O_CLOEXEC), 0);
  { const RowProgress log("bench", 2, 5, "tx 64 / vpio", 0, ends[1]); }
  {
    RowProgress terminal("bench", 3, 5, "rx 1514 / emulate", 100, ends[1]);
    std::this_thread::sleep_for(50ms);
  }
  ::close(ends[1]);
  const std::string out = drain(ends[0]);
  ::close(ends[0]);
  const std::string drawn = "bench: row 3/5 (rx 1514 / emulate), 0:00";
  EXPECT_TRUE(out.starts_with("bench: row 2/5: tx 64 / vpio\n\r" + drawn)) << out;
  EXPECT_TRUE(out.ends_with("\r" + std::string(drawn.size(), ' ') + "\r")) << out;
}

}  // namespace
}  // namespace vpio

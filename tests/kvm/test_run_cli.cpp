// `vpio run` and `vpio profile` conventions end to end on KVM: an output
// sent to stdout ("-") leaves stdout to it alone; --console-dir gives each
// guest a console file of its own; a long run on a terminal shows progress.
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "support.hpp"

namespace vpio::test {
namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs a shell command line as it is: `output` is its stdout alone.
CommandResult run_shell(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// A fresh directory per test, removed at the end.
class ScratchDirectory {
 public:
  explicit ScratchDirectory(const std::string& name)
      : path_(testing::TempDir() + name + "-" + std::to_string(::getpid())) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  ~ScratchDirectory() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// `--stats -`: stdout is exactly the JSON (a pipe into jq works); the guests'
// console lines and the exit report go to stderr; no file named "-".
TEST_F(KvmTest, StatsToStdoutLeavesStdoutToTheJson) {
  const ScratchDirectory dir("stats-stdout");
  const auto result = run_shell("cd " + dir.path() + " && " + vpio_binary() + " run --stats - " +
                                build_path("guests/hello.img") + " " +
                                build_path("guests/exit_status.img") + " 2>" + dir / "stderr");
  ASSERT_EQ(result.exit_code, 42) << result.output << read_file(dir / "stderr");
  nlohmann::json stats;
  ASSERT_NO_THROW(stats = nlohmann::json::parse(result.output)) << result.output;
  EXPECT_EQ(stats["schema"], "vpio-run-stats/1");
  EXPECT_EQ(stats["guests"].size(), 2u);
  const std::string errors = read_file(dir / "stderr");
  EXPECT_NE(errors.find("[hello] Hello from a vpio guest!"), std::string::npos) << errors;
  EXPECT_NE(errors.find("vpio: guest "), std::string::npos) << errors;  // the exit report
  EXPECT_FALSE(fs::exists(dir / "-"));
}

// `vpio profile -o -`: the profile JSON alone on stdout, the report on
// stderr, and no picture unless --svg names one.
TEST_F(KvmTest, ProfileToStdoutLeavesStdoutToTheProfile) {
  const ScratchDirectory dir("profile-stdout");
  const std::string stderr_path = dir.path() + ".stderr";  // beside it: dir stays empty
  const auto result = run_shell("cd " + dir.path() + " && " + vpio_binary() + " profile -q -o - " +
                                build_path("guests/hello.img") + " 2>" + stderr_path);
  ASSERT_EQ(result.exit_code, 0) << result.output << read_file(stderr_path);
  nlohmann::json profile;
  ASSERT_NO_THROW(profile = nlohmann::json::parse(result.output)) << result.output;
  EXPECT_EQ(profile["schema"], "vpio-profile/2");
  const std::string errors = read_file(stderr_path);
  fs::remove(stderr_path);
  EXPECT_NE(errors.find("vpio profile: 1 guest"), std::string::npos) << errors;
  EXPECT_NE(errors.find("vpio: profile written to stdout\n"), std::string::npos) << errors;
  EXPECT_NE(errors.find("Hello from a vpio guest!"), std::string::npos) << errors;
  EXPECT_TRUE(fs::is_empty(dir.path())) << "no '-', no '-.svg'";
}

// The lines of `guest` in interleaved console output ("[guest] text").
std::string lines_of(const std::string& output, const std::string& guest) {
  std::string lines;
  std::istringstream in(output);
  const std::string prefix = "[" + guest + "] ";
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(prefix)) lines += line.substr(prefix.size()) + "\n";
  return lines;
}

// Three guests, two of one image: each file holds exactly its guest's lines,
// unprefixed, the same lines the default interleaved stdout shows for it;
// stdout then carries none, and vpio names the files it wrote.
TEST_F(KvmTest, ConsoleDirGivesEachGuestItsOwnFile) {
  const ScratchDirectory dir("console-dir");
  const std::string images = build_path("guests/hello.img") + " " +
                             build_path("guests/exit_status.img") + " " +
                             build_path("guests/hello.img");
  const auto interleaved = run_command(vpio_binary() + " run -q " + images);
  ASSERT_EQ(interleaved.exit_code, 42) << interleaved.output;
  const std::string consoles = dir / "consoles";  // made by vpio
  const auto result = run_shell(vpio_binary() + " run -q --console-dir " + consoles + " " + images +
                                " 2>" + dir / "stderr");
  const std::string errors = read_file(dir / "stderr");
  ASSERT_EQ(result.exit_code, 42) << result.output << errors;
  EXPECT_EQ(result.output, "") << "no console line on stdout";
  for (const char* guest : {"hello", "exit_status", "hello#2"}) {
    SCOPED_TRACE(guest);
    const std::string expected = lines_of(interleaved.output, guest);
    ASSERT_FALSE(expected.empty()) << interleaved.output;
    EXPECT_EQ(read_file(consoles + "/" + guest + ".log"), expected);
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(consoles), fs::directory_iterator()), 3);
  EXPECT_NE(errors.find("vpio: consoles written to " + consoles + "/hello.log, " + consoles +
                        "/exit_status.log, " + consoles + "/hello#2.log\n"),
            std::string::npos)
      << errors;
}

// A run past 2 s on a terminal shows its progress line on stderr, redrawn in
// place with \r and erased before what follows; with --quiet, or on a pipe,
// there is none. script(1) gives vpio its terminal.
TEST_F(KvmTest, AProgressLineOnATerminalOnly) {
  if (std::system("command -v script >/dev/null 2>&1") != 0) GTEST_SKIP() << "no script(1)";
  const std::string spin = write_temp_image(spin_forever_code(), "spin.img");
  // In the lab, kvm-lab sets VPIO_PROGRESS_COLUMNS from the suite's stderr;
  // here vpio must look at its own.
  const std::string run = "env -u VPIO_PROGRESS_COLUMNS " + vpio_binary() + " run --timeout 3 ";
  const auto tty = run_command("script -qec '" + run + spin + "' /dev/null");
  EXPECT_EQ(tty.exit_code, kExitTimedOut) << tty.output;
  const std::size_t line = tty.output.find("\rvpio: 0:02, 1/1 running, ");
  const std::size_t next = tty.output.find("vpio: guest 'spin' stopped");
  ASSERT_NE(line, std::string::npos) << tty.output;
  ASSERT_NE(next, std::string::npos) << tty.output;
  EXPECT_LT(line, next);
  // Erased: blanks over it, back to the line's start, then the next message.
  EXPECT_TRUE(tty.output.substr(0, next).ends_with("   \r")) << tty.output;
  EXPECT_EQ(tty.output.find("\n", line), tty.output.find("\n", next)) << "no line break in it";

  const auto quiet = run_command("script -qec '" + run + "-q " + spin + "' /dev/null");
  EXPECT_EQ(quiet.exit_code, kExitTimedOut) << quiet.output;
  EXPECT_EQ(quiet.output.find(" running, "), std::string::npos) << quiet.output;
  const auto piped = run_command(run + spin);
  EXPECT_EQ(piped.exit_code, kExitTimedOut) << piped.output;
  EXPECT_EQ(piped.output.find(" running, "), std::string::npos) << piped.output;
}

}  // namespace
}  // namespace vpio::test

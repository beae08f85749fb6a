// The check of the run's output files before any guest starts, and their
// write after it: every refusal is one line naming the option, the path and
// the errno text once.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "app/output_file.hpp"

namespace vpio {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed with everything in it at the end.
class ScratchDirectory {
 public:
  ScratchDirectory() {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("vpio_output_" + std::string(test->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directory(path_);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  ~ScratchDirectory() {
    std::error_code ignored;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ignored);
    fs::remove_all(path_, ignored);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string refusal(const std::string& path, const std::string& option) {
  try {
    check_output_path(path, option);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

std::string contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::size_t occurrences(const std::string& text, const std::string& part) {
  std::size_t count = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++count;
  return count;
}

TEST(OutputFile, ANewFileIsCheckedAndNotLeftBehind) {
  const ScratchDirectory dir;
  EXPECT_EQ(refusal(dir / "stats.json", "--stats"), "");
  EXPECT_FALSE(fs::exists(dir / "stats.json"));
}

TEST(OutputFile, AnExistingFileKeepsItsContentsUntilTheWrite) {
  const ScratchDirectory dir;
  std::ofstream(dir / "stats.json") << "last run";
  EXPECT_EQ(refusal(dir / "stats.json", "--stats"), "");
  EXPECT_EQ(contents(dir / "stats.json"), "last run");
  EXPECT_FALSE(write_output_file(dir / "stats.json", "this run"));
  EXPECT_EQ(contents(dir / "stats.json"), "this run");
}

TEST(OutputFile, AMissingDirectoryIsNamed) {
  EXPECT_EQ(refusal("/nonexistent-vpio-dir/x.json", "--stats"),
            "--stats /nonexistent-vpio-dir/x.json: No such file or directory");
}

TEST(OutputFile, ADirectoryIsNamedOnce) {
  const ScratchDirectory dir;
  const std::string message = refusal(dir.path().string(), "--pcap");
  EXPECT_EQ(message, "--pcap " + dir.path().string() + ": Is a directory");
  EXPECT_EQ(occurrences(message, "Is a directory"), 1u);
}

// /dev/full opens; only a write finds it full, and the empty write the check
// makes is enough.
TEST(OutputFile, DevFullIsFoundByTheEmptyWrite) {
  EXPECT_EQ(refusal("/dev/full", "--svg"), "--svg /dev/full: No space left on device");
  EXPECT_EQ(write_output_file("/dev/full", "{}\n"), std::errc::no_space_on_device);
}

TEST(OutputFile, DevicesThatTakeWritesAreAccepted) {
  EXPECT_EQ(refusal("/dev/null", "--stats"), "");
  EXPECT_FALSE(write_output_file("/dev/null", "{}\n"));
}

// sysfs takes no new file, not even from root; where it is mounted read-only
// the errno differs, so only the form of the message is fixed.
TEST(OutputFile, AReadOnlyPlaceIsRefused) {
  const std::string path = "/sys/vpio-output-test.json";
  const std::string message = refusal(path, "--output");
  EXPECT_TRUE(message.starts_with("--output " + path + ": ")) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(OutputFile, ADirectoryWithoutWritePermissionIsRefused) {
  const ScratchDirectory dir;
  fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec);
  if (::access(dir.path().c_str(), W_OK) == 0)
    GTEST_SKIP() << "this process writes where permissions say it may not (root)";
  EXPECT_EQ(refusal(dir / "p.json", "--output"),
            "--output " + (dir / "p.json") + ": Permission denied");
}

// Opening a FIFO for writing would wait for its reader (a process
// substitution's reader comes later): it is accepted as it is.
TEST(OutputFile, AFifoIsAcceptedWithoutWaitingForItsReader) {
  const ScratchDirectory dir;
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0) << std::strerror(errno);
  EXPECT_EQ(refusal(dir / "fifo", "--stats"), "");
}

// Stdout stands in for fd 1 while it lives: a file in the scratch directory.
class CapturedStdout {
 public:
  explicit CapturedStdout(const std::string& path) {
    std::fflush(stdout);
    saved_ = ::dup(STDOUT_FILENO);
    const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(file, STDOUT_FILENO);
    ::close(file);
  }
  CapturedStdout(const CapturedStdout&) = delete;
  CapturedStdout& operator=(const CapturedStdout&) = delete;
  ~CapturedStdout() {
    std::fflush(stdout);
    ::dup2(saved_, STDOUT_FILENO);
    ::close(saved_);
  }

 private:
  int saved_ = -1;
};

// "-" is stdout, as in coreutils: checked by the empty write, written there,
// and no file named "-" appears in the current directory.
TEST(OutputFile, DashIsStdoutAndNoFileNamedDash) {
  const ScratchDirectory dir;
  const fs::path cwd = fs::current_path();
  fs::current_path(dir.path());
  {
    const CapturedStdout captured(dir / "stdout");
    EXPECT_EQ(refusal("-", "--stats"), "");
    std::printf("buffered first, ");
    EXPECT_FALSE(write_output_file("-", "{\"schema\": 1}\n"));
  }
  fs::current_path(cwd);
  EXPECT_FALSE(fs::exists(dir / "-"));
  EXPECT_EQ(contents(dir / "stdout"), "buffered first, {\"schema\": 1}\n");
  EXPECT_TRUE(is_stdout_path("-"));
  EXPECT_FALSE(is_stdout_path("./-"));  // a file named "-", spelled so on purpose
}

std::string directory_refusal(const std::string& dir, const std::vector<std::string>& files) {
  try {
    check_output_directory(dir, files, "--console-dir");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

// A console directory: made if missing (not its parents) and removed again
// after the check; an existing one is used as it is; each file in it is
// checked as an output file.
TEST(OutputDirectory, IsCheckedLikeAFileAndNotLeftBehind) {
  const ScratchDirectory dir;
  EXPECT_EQ(directory_refusal(dir / "new", {"a.log", "b.log"}), "");
  EXPECT_FALSE(fs::exists(dir / "new"));
  EXPECT_EQ(directory_refusal(dir / "no/new", {"a.log"}),
            "--console-dir " + (dir / "no/new") + ": No such file or directory");
  EXPECT_EQ(directory_refusal(dir.path().string(), {"a.log"}), "");
  EXPECT_TRUE(fs::is_empty(dir.path()));
  std::ofstream(dir / "file") << "x";
  EXPECT_EQ(directory_refusal(dir / "file", {"a.log"}),
            "--console-dir " + (dir / "file") + ": Not a directory");
  fs::create_directory(dir / "a.log");
  EXPECT_EQ(directory_refusal(dir.path().string(), {"a.log"}),
            "--console-dir " + (dir / "a.log") + ": Is a directory");
  EXPECT_EQ(directory_refusal(dir / "new2", {"x.log", "y.log"}), "");
  EXPECT_FALSE(fs::exists(dir / "new2"));

  EXPECT_FALSE(make_output_directory(dir / "made"));
  EXPECT_TRUE(fs::is_directory(dir / "made"));
  EXPECT_FALSE(make_output_directory(dir / "made"));  // there already: fine
  EXPECT_EQ(make_output_directory(dir / "file"), std::errc::not_a_directory);
  EXPECT_EQ(make_output_directory(dir / "no/made"), std::errc::no_such_file_or_directory);
}

std::string clash(const std::vector<NamedFile>& outputs, const std::vector<NamedFile>& inputs = {}) {
  try {
    check_distinct_files(outputs, inputs);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

// Two outputs naming one file would write over each other's results; an
// output naming a guest's image would write over the image.
TEST(OutputFile, TwoOutputsOrAnOutputAndAnImageThatAreOneFileAreRefused) {
  const ScratchDirectory scratch;
  const fs::path dir = scratch.path();
  const std::string stats = (dir / "run.json").string();
  EXPECT_EQ(clash({{"--stats", stats}, {"--pcap", (dir / "run.pcap").string()}}), "");
  // The same path, spelled differently.
  EXPECT_EQ(clash({{"--stats", stats}, {"--pcap", (dir / "." / "sub" / ".." / "run.json").string()}}),
            "--stats " + stats + " and --pcap " + (dir / "." / "sub" / ".." / "run.json").string() +
                " name the same file");
  // Through a symlinked directory, the file not made yet.
  fs::create_directory(dir / "real");
  fs::create_directory_symlink(dir / "real", dir / "link");
  EXPECT_NE(clash({{"-o", (dir / "real" / "p.json").string()},
                   {"--svg", (dir / "link" / "p.json").string()}}),
            "");
  // Hard links of one existing file.
  std::ofstream(dir / "a.json") << "{}";
  fs::create_hard_link(dir / "a.json", dir / "b.json");
  EXPECT_NE(clash({{"--stats", (dir / "a.json").string()}, {"-o", (dir / "b.json").string()}}), "");
  // An output that is a guest's image.
  std::ofstream(dir / "guest.img") << "image";
  EXPECT_EQ(clash({{"--stats", (dir / "guest.img").string()}},
                  {{"image", (dir / "guest.img").string()}}),
            "image " + (dir / "guest.img").string() + " and --stats " +
                (dir / "guest.img").string() + " name the same file");
  EXPECT_EQ(clash({{"--stats", stats}}, {{"image", (dir / "guest.img").string()}}), "");
  // stdout twice is the caller's to refuse, not a file.
  EXPECT_EQ(clash({{"--stats", "-"}, {"--pcap", "-"}}), "");
}

TEST(OutputFile, WriteErrorsCarryErrno) {
  const ScratchDirectory dir;
  EXPECT_EQ(write_output_file(dir.path().string(), "x"), std::errc::is_a_directory);
  EXPECT_EQ(write_output_file("/nonexistent-vpio-dir/x.json", "x"),
            std::errc::no_such_file_or_directory);
}

}  // namespace
}  // namespace vpio

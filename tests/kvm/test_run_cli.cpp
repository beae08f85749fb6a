// `vpio run` and `vpio profile` conventions end to end on KVM: an output
// sent to stdout ("-") leaves stdout to it alone.
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

}  // namespace
}  // namespace vpio::test

// Output files: the check before the run and the write after it.
#include "app/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "base/fd.hpp"

namespace vpio {
namespace {

constexpr mode_t kNewFileMode = 0666;  // less the umask, as for any new file

[[noreturn]] void refuse(const std::string& path, std::string_view option, int error) {
  throw std::invalid_argument(std::string(option) + " " + path + ": " + std::strerror(error));
}

bool is_fifo(const std::string& path) {
  struct stat status {};
  return ::stat(path.c_str(), &status) == 0 && S_ISFIFO(status.st_mode);
}

std::error_code last_error() { return {errno, std::generic_category()}; }

std::error_code write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t written = ::write(fd, text.data(), text.size());
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return last_error();
    text.remove_prefix(static_cast<std::size_t>(written));
  }
  return {};
}

}  // namespace

void check_output_path(const std::string& path, std::string_view option) {
  if (is_stdout_path(path)) {
    if (::write(STDOUT_FILENO, "", 0) < 0) refuse(path, option, errno);
    return;
  }
  // A new file proves the directory takes it. It goes again at once, so a run
  // refused for another reason leaves nothing behind; O_EXCL makes sure what
  // goes is the file just made, never a link's target.
  Fd created(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kNewFileMode));
  if (created.valid()) {
    ::unlink(path.c_str());
    return;
  }
  if (errno != EEXIST) refuse(path, option, errno);
  if (is_fifo(path)) return;
  // O_CREAT for a link to nothing: the run's own open would create its target.
  const Fd existing(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, kNewFileMode));
  if (!existing.valid()) refuse(path, option, errno);
  if (::write(existing.get(), "", 0) < 0) refuse(path, option, errno);
}

void check_output_directory(const std::string& dir, const std::vector<std::string>& files,
                            std::string_view option) {
  if (is_stdout_path(dir))
    throw std::invalid_argument(std::string(option) +
                                " -: give a directory (without it the consoles go to stdout)");
  constexpr mode_t kNewDirectoryMode = 0777;  // less the umask
  const bool made = ::mkdir(dir.c_str(), kNewDirectoryMode) == 0;
  if (!made && errno != EEXIST) refuse(dir, option, errno);
  struct stat status {};
  if (::stat(dir.c_str(), &status) != 0) refuse(dir, option, errno);
  if (!S_ISDIR(status.st_mode)) refuse(dir, option, ENOTDIR);
  try {
    for (const auto& file : files) check_output_path(dir + "/" + file, option);
  } catch (...) {
    if (made) ::rmdir(dir.c_str());
    throw;
  }
  if (made) ::rmdir(dir.c_str());
}

void check_distinct_files(const std::vector<NamedFile>& outputs,
                          const std::vector<NamedFile>& inputs) {
  namespace fs = std::filesystem;
  const auto same = [](const std::string& a, const std::string& b) {
    std::error_code error;
    const fs::path canonical_a = fs::weakly_canonical(fs::absolute(a), error);
    if (error) return false;  // found unwritable by check_output_path instead
    const fs::path canonical_b = fs::weakly_canonical(fs::absolute(b), error);
    if (error) return false;
    if (canonical_a == canonical_b) return true;
    return fs::equivalent(canonical_a, canonical_b, error) && !error;  // hard links
  };
  const auto refuse = [](const NamedFile& a, const NamedFile& b) {
    throw std::invalid_argument(a.option + " " + a.path + " and " + b.option + " " + b.path +
                                " name the same file");
  };
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    if (is_stdout_path(outputs[i].path)) continue;
    for (std::size_t j = i + 1; j < outputs.size(); ++j)
      if (!is_stdout_path(outputs[j].path) && same(outputs[i].path, outputs[j].path))
        refuse(outputs[i], outputs[j]);
    for (const auto& input : inputs)
      if (same(outputs[i].path, input.path)) refuse(input, outputs[i]);
  }
}

std::error_code make_output_directory(const std::string& dir) {
  constexpr mode_t kNewDirectoryMode = 0777;
  if (::mkdir(dir.c_str(), kNewDirectoryMode) == 0) return {};
  const int error = errno;
  struct stat status {};
  if (error == EEXIST && ::stat(dir.c_str(), &status) == 0 && S_ISDIR(status.st_mode)) return {};
  return {error == EEXIST ? ENOTDIR : error, std::generic_category()};
}

std::error_code write_output_file(const std::string& path, std::string_view text) {
  if (is_stdout_path(path)) {
    if (std::fflush(stdout) != 0) return last_error();
    return write_all(STDOUT_FILENO, text);
  }
  Fd file(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kNewFileMode));
  if (!file.valid()) return last_error();
  if (const std::error_code error = write_all(file.get(), text)) return error;
  if (file.close() != 0) return last_error();
  return {};
}

}  // namespace vpio

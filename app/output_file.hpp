// The files a run writes (--stats, --pcap, --output, --svg): checked before
// any guest starts, so a path that cannot be written is bad input rather than
// results lost after the run, and written with errors that say why.
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace vpio {

// The path that names stdout, as in coreutils and tcpdump -w: `--stats -`.
inline constexpr std::string_view kStdoutPath = "-";
inline bool is_stdout_path(std::string_view path) noexcept { return path == kStdoutPath; }

// Throws std::invalid_argument("OPTION PATH: <errno text>") unless `path` can
// be opened for writing as the run will open it. Leaves an existing file's
// contents alone and removes a file it had to create. Opening is followed by
// an empty write, which files, pipes and terminals take as nothing but a
// device that refuses every write (/dev/full) refuses. A FIFO is accepted
// unopened: opening it would wait for its reader. "-" is stdout, given the
// same empty write (a closed stdout is refused); no file named "-" is made.
void check_output_path(const std::string& path, std::string_view option);

// Throws std::invalid_argument("OPTION DIR: <errno text>") unless `dir` is a
// directory, or can be made one (its parent exists), in which every name of
// `files` passes check_output_path. A directory made for the check is
// removed again, as a file is; "-" is refused (it is no directory).
void check_output_directory(const std::string& dir, const std::vector<std::string>& files,
                            std::string_view option);
// Makes `dir` unless it is a directory already (not its parents, as mkdir):
// the error, or an empty code.
std::error_code make_output_directory(const std::string& dir);

// One file a command names: the option (or "image") and the path given.
struct NamedFile {
  std::string option;
  std::string path;
};
// Throws std::invalid_argument("OPTION1 PATH1 and OPTION2 PATH2 name the same
// file") when two of `outputs`, or an output and one of `inputs`, are one
// file: the same path once made absolute with symlinks resolved as far as it
// exists, or hard links of one existing file. Either would write over the
// other's results (or over a guest's image). "-" (stdout) is left out: the
// caller refuses two of those on its own.
void check_distinct_files(const std::vector<NamedFile>& outputs,
                          const std::vector<NamedFile>& inputs = {});

// Creates or truncates `path` and writes `text` to it: the error of the call
// that failed (open, write or close), or an empty code. "-" writes to stdout
// (flushing stdio's buffer first) and leaves it open.
std::error_code write_output_file(const std::string& path, std::string_view text);

}  // namespace vpio

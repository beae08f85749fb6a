// The files a run writes (--stats, --pcap, --output, --svg): checked before
// any guest starts, so a path that cannot be written is bad input rather than
// results lost after the run, and written with errors that say why.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

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

// Creates or truncates `path` and writes `text` to it: the error of the call
// that failed (open, write or close), or an empty code. "-" writes to stdout
// (flushing stdio's buffer first) and leaves it open.
std::error_code write_output_file(const std::string& path, std::string_view text);

}  // namespace vpio

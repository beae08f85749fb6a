// PcapRecorder: files it writes must read back byte for byte through libpcap
// and be accepted by an independent reader (tshark).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "hw/net/mac_address.hpp"
#include "net/frame_queue.hpp"
#include "net/hub.hpp"
#include "net/pcap_recorder.hpp"
#include "tests/support/net_test_names.hpp"

namespace vpio::net {
namespace {

// The wires carry hw/'s frames.

namespace fs = std::filesystem;

constexpr std::size_t kRoundTripFrames = 1000;

// A file under the temp directory, unique per process and test, removed at
// the end of the test.
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& suffix) {
    static std::atomic<int> counter{0};
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("vpio_" + std::string(test->name()) + "_" + std::to_string(::getpid()) + "_" +
             std::to_string(counter++) + suffix);
  }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  ~ScratchFile() {
    std::error_code ignored;
    fs::remove(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Frame i of the round-trip set: lengths spread evenly over 60..1514, bytes
// from a generator seeded by i, and i itself in the payload so that no two
// frames are alike.
std::vector<std::uint8_t> round_trip_frame(std::size_t index) {
  const std::size_t length =
      kMinFrameBytes + index * (kMaxFrameBytes - kMinFrameBytes) / (kRoundTripFrames - 1);
  std::mt19937 generator(static_cast<std::uint32_t>(index));
  std::vector<std::uint8_t> frame(length);
  for (std::uint8_t& byte : frame) byte = static_cast<std::uint8_t>(generator());
  frame[14] = static_cast<std::uint8_t>(index);
  frame[15] = static_cast<std::uint8_t>(index >> 8);
  return frame;
}

std::vector<std::vector<std::uint8_t>> record_round_trip_set(const fs::path& path) {
  std::vector<std::vector<std::uint8_t>> frames;
  PcapRecorder recorder(path);
  EXPECT_EQ(recorder.path(), path);
  for (std::size_t i = 0; i < kRoundTripFrames; ++i) {
    frames.push_back(round_trip_frame(i));
    recorder.deliver(frames.back());
  }
  EXPECT_EQ(recorder.frames_recorded(), kRoundTripFrames);
  EXPECT_FALSE(recorder.write_error());
  // Flushed per frame, so the file is complete before the recorder closes.
  EXPECT_EQ(read_pcap_frames(path).size(), kRoundTripFrames);
  return frames;
}

std::string find_on_path(const std::string& program) {
  const char* search_path = std::getenv("PATH");
  std::stringstream dirs(search_path != nullptr ? search_path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  // Where the project setup installs it, should the test run with a bare PATH.
  const fs::path installed = fs::path("/usr/bin") / program;
  if (::access(installed.c_str(), X_OK) == 0) return installed.string();
  return {};
}

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(PcapRecorderTest, ThousandFramesReadBackByteForByte) {
  ScratchFile file(".pcap");
  const auto sent = record_round_trip_set(file.path());
  ASSERT_EQ(sent.front().size(), kMinFrameBytes);
  ASSERT_EQ(sent.back().size(), kMaxFrameBytes);

  const auto recorded = read_pcap_frames(file.path());
  ASSERT_EQ(recorded.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) {
    ASSERT_EQ(recorded[i], sent[i]) << "frame " << i;
  }
}

TEST(PcapRecorderTest, TsharkReadsEveryFrameWithItsLengthAndTime) {
  const std::string tshark = find_on_path("tshark");
  ASSERT_FALSE(tshark.empty())
      << "tshark not found on PATH; the project setup installs it (apt-get install tshark). "
         "This test checks our files against an independent reader and must not be skipped.";

  ScratchFile file(".pcap");
  ScratchFile tshark_errors(".stderr");
  const double started =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const auto sent = record_round_trip_set(file.path());
  const double finished =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

  const std::string command = "'" + tshark + "' -n -r '" + file.path().string() +
                              "' -T fields -e frame.len -e frame.time_epoch 2>'" +
                              tshark_errors.path().string() + "'";
  FILE* output = ::popen(command.c_str(), "r");
  ASSERT_NE(output, nullptr) << "popen " << command;
  std::string text;
  std::array<char, 4096> chunk{};
  for (std::size_t got; (got = std::fread(chunk.data(), 1, chunk.size(), output)) > 0;) {
    text.append(chunk.data(), got);
  }
  const int status = ::pclose(output);
  ASSERT_EQ(status, 0) << command << "\n" << read_text_file(tshark_errors.path());

  std::istringstream lines(text);
  std::size_t index = 0;
  double previous_time = 0;
  for (std::string line; std::getline(lines, line); ++index) {
    ASSERT_LT(index, sent.size()) << "tshark reported more frames than were recorded";
    std::istringstream fields(line);
    std::size_t length = 0;
    double time = 0;
    ASSERT_TRUE(fields >> length >> time) << "unexpected tshark line: " << line;
    EXPECT_EQ(length, sent[index].size()) << "frame " << index;
    // Microsecond timestamps, so allow one tick of rounding either side.
    EXPECT_GE(time, started - 1e-3) << "frame " << index;
    EXPECT_LE(time, finished + 1e-3) << "frame " << index;
    EXPECT_GE(time, previous_time) << "frame " << index;
    previous_time = time;
  }
  EXPECT_EQ(index, sent.size()) << read_text_file(tshark_errors.path());
}

TEST(PcapRecorderTest, UnopenableFileThrowsNamingIt) {
  const fs::path impossible = "/nonexistent-vpio-directory/wire.pcap";
  try {
    PcapRecorder recorder(impossible);
    FAIL() << "opening " << impossible << " should have thrown";
  } catch (const std::exception& error) {
    EXPECT_NE(std::string(error.what()).find(impossible.string()), std::string::npos)
        << error.what();
  }
  try {
    read_pcap_frames(impossible);
    FAIL() << "reading " << impossible << " should have thrown";
  } catch (const std::exception& error) {
    EXPECT_NE(std::string(error.what()).find(impossible.string()), std::string::npos)
        << error.what();
  }
}

// libpcap's own message ends in the errno text too: it must appear once.
TEST(PcapRecorderTest, ADirectoryIsRefusedSayingSoOnce) {
  const fs::path directory = fs::temp_directory_path();
  try {
    PcapRecorder recorder(directory);
    FAIL() << "recording to the directory " << directory << " should have thrown";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::errc::is_a_directory);
    EXPECT_EQ(std::string(error.what()),
              "pcap_dump_open " + directory.string() + ": Is a directory");
  }
}

// The file header is written at once, so a file that takes nothing is found
// before any frame rather than lost at close.
TEST(PcapRecorderTest, AFileThatTakesNoHeaderIsRefusedAtOnce) {
  try {
    PcapRecorder recorder("/dev/full");
    FAIL() << "recording to /dev/full should have thrown";
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::errc::no_space_on_device);
    EXPECT_NE(std::string(error.what()).find("/dev/full"), std::string::npos) << error.what();
  }
}

// The file-size limit makes writes past it fail with EFBIG (SIGXFSZ, which
// would end the process, ignored) for as long as the object lives.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_limit_);
    saved_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{bytes, saved_limit_.rlim_max};
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_limit_);
    std::signal(SIGXFSZ, saved_handler_);
  }

 private:
  rlimit saved_limit_{};
  void (*saved_handler_)(int) = nullptr;
};

// A disk that fills mid-run: the sender never sees an exception, the first
// error is kept, and nothing is recorded after it (a cut-off record would
// garble every later frame).
TEST(PcapRecorderTest, AWriteThatFailsMidRunIsKeptAndEndsTheRecording) {
  constexpr rlim_t kLimitBytes = 20'000;
  constexpr std::size_t kFileHeaderBytes = 24, kRecordHeaderBytes = 16;
  ScratchFile file(".pcap");
  PcapRecorder recorder(file.path());
  {
    const FileSizeLimit limit(kLimitBytes);
    for (std::size_t i = 0; i < 100; ++i)
      EXPECT_NO_THROW(recorder.deliver(round_trip_frame(kRoundTripFrames - 1)));
  }
  EXPECT_EQ(recorder.write_error(), std::errc::file_too_large);
  constexpr std::uint64_t kWholeFrames =
      (kLimitBytes - kFileHeaderBytes) / (kRecordHeaderBytes + kMaxFrameBytes);
  EXPECT_EQ(recorder.frames_recorded(), kWholeFrames);
  // Room again: still nothing more is recorded, and the error stays.
  recorder.deliver(round_trip_frame(0));
  EXPECT_EQ(recorder.frames_recorded(), kWholeFrames);
  EXPECT_EQ(recorder.write_error(), std::errc::file_too_large);
}

TEST(PcapRecorderTest, ConcurrentDeliveriesKeepEachFrameWhole) {
  constexpr std::size_t kThreads = 4;
  constexpr std::size_t kFramesPerThread = 500;
  ScratchFile file(".pcap");
  {
    PcapRecorder recorder(file.path());
    std::vector<std::thread> writers;
    for (std::size_t t = 0; t < kThreads; ++t) {
      writers.emplace_back([&recorder, t] {
        for (std::size_t i = 0; i < kFramesPerThread; ++i) {
          // Each thread writes its own quarter of the round-trip set, twice.
          constexpr std::size_t kSlice = kRoundTripFrames / kThreads;
          recorder.deliver(round_trip_frame(t * kSlice + i % kSlice));
        }
      });
    }
    for (std::thread& w : writers) w.join();
    EXPECT_EQ(recorder.frames_recorded(), kThreads * kFramesPerThread);
  }
  const auto recorded = read_pcap_frames(file.path());
  ASSERT_EQ(recorded.size(), kThreads * kFramesPerThread);
  std::size_t intact = 0;
  for (const auto& frame : recorded) {
    const std::size_t index = frame[14] | (std::size_t{frame[15]} << 8);
    if (index < kRoundTripFrames && frame == round_trip_frame(index)) ++intact;
  }
  EXPECT_EQ(intact, recorded.size());
}

TEST(PcapRecorderTest, AsHubObserverRecordsEachFrameOnce) {
  ScratchFile file(".pcap");
  std::vector<std::vector<std::uint8_t>> sent;
  {
    Hub hub;
    PcapRecorder recorder(file.path());
    FrameQueue a_inbox(64), b_inbox(64), c_inbox(64);
    std::array<HubPort*, 3> ports = {&hub.attach(a_inbox, "a"), &hub.attach(b_inbox, "b"),
                                     &hub.attach(c_inbox, "c")};
    hub.add_observer(recorder);
    for (std::size_t i = 0; i < 30; ++i) {
      sent.push_back(round_trip_frame(i));
      ports[i % ports.size()]->deliver(sent.back());
    }
  }
  EXPECT_EQ(read_pcap_frames(file.path()), sent);
}

}  // namespace
}  // namespace vpio::net

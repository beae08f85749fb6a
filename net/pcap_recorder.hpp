// Records a wire to a pcap file (Ethernet link type) that tcpdump, tshark or
// Wireshark can open, and reads such files back for tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <system_error>
#include <vector>

#include "hw/net/frame_sink.hpp"

// libpcap's handle types, declared here so that users need not see pcap.h.
struct pcap;
struct pcap_dumper;

namespace vpio::net {

// Thread-safe. Each frame is written whole, with the wall-clock time of its
// delivery, and flushed at once so the file can be read while the VM runs and
// survives a crash of the VMM. Attach it as a Hub observer to see each frame
// once. A failed write never throws into the sender (a guest's transmit): the
// recorder keeps its error, records nothing more, and the owner asks
// write_error() at the end.
class PcapRecorder final : public hw::FrameSink {
 public:
  // Creates or truncates `path` and writes the file header; throws naming the
  // file if it cannot.
  explicit PcapRecorder(std::filesystem::path path);
  PcapRecorder(const PcapRecorder&) = delete;
  PcapRecorder& operator=(const PcapRecorder&) = delete;
  ~PcapRecorder() override;

  void deliver(std::span<const std::uint8_t> frame) override;

  const std::filesystem::path& path() const noexcept { return path_; }
  // Frames written and flushed whole, none after a failed write.
  std::uint64_t frames_recorded() const;
  // The first write that failed (errno), or an empty code.
  std::error_code write_error() const;

 private:
  struct PcapCloser {
    void operator()(pcap* handle) const noexcept;
  };
  struct DumperCloser {
    void operator()(pcap_dumper* dumper) const noexcept;
  };

  const std::filesystem::path path_;
  std::unique_ptr<pcap, PcapCloser> dead_handle_;  // pcap_dump_open needs one
  mutable std::mutex mutex_;
  std::unique_ptr<pcap_dumper, DumperCloser> dumper_;
  std::uint64_t frames_recorded_ = 0;
  std::error_code write_error_;
};

// Every frame in a pcap file, in file order, as captured (caplen bytes).
// Throws naming the file if libpcap cannot open or read it.
std::vector<std::vector<std::uint8_t>> read_pcap_frames(const std::filesystem::path& path);

}  // namespace vpio::net

// pcap recording and reading through libpcap.
#include "net/pcap_recorder.hpp"

#include <pcap/pcap.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

namespace vpio::net {

namespace {

// Larger than any frame the wire carries, so nothing is ever truncated; the
// conventional value that readers accept.
constexpr int kSnapshotLength = 65535;

timeval now_as_timeval() {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(since_epoch).count();
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(micros / 1'000'000);
  tv.tv_usec = static_cast<suseconds_t>(micros % 1'000'000);
  return tv;
}

// pcap_dump writes through stdio and reports nothing: a failed write shows in
// the flush or, when stdio wrote out a full buffer on its own, in the
// stream's error flag. errno must be cleared before the write.
std::error_code flush_error(pcap_dumper* dumper) {
  if (pcap_dump_flush(dumper) == 0 && std::ferror(pcap_dump_file(dumper)) == 0) return {};
  return {errno != 0 ? errno : EIO, std::generic_category()};
}

}  // namespace

void PcapRecorder::PcapCloser::operator()(pcap* handle) const noexcept { pcap_close(handle); }

void PcapRecorder::DumperCloser::operator()(pcap_dumper* dumper) const noexcept {
  pcap_dump_close(dumper);  // flushes and closes the file
}

PcapRecorder::PcapRecorder(std::filesystem::path path) : path_(std::move(path)) {
  dead_handle_.reset(pcap_open_dead(DLT_EN10MB, kSnapshotLength));
  if (!dead_handle_) {
    throw std::runtime_error("pcap_open_dead for " + path_.string() + " failed");
  }
  errno = 0;
  dumper_.reset(pcap_dump_open(dead_handle_.get(), path_.c_str()));
  if (!dumper_) {
    // libpcap's message already ends in the errno text: use one or the other.
    if (errno != 0)
      throw std::system_error(errno, std::generic_category(), "pcap_dump_open " + path_.string());
    throw std::runtime_error(std::string("pcap_dump_open: ") + pcap_geterr(dead_handle_.get()));
  }
  // The header sits in stdio's buffer until the first frame; a file that
  // cannot take it (a full disk, /dev/full) is found now rather than at close.
  if (const std::error_code error = flush_error(dumper_.get()))
    throw std::system_error(error, "writing the pcap header to " + path_.string());
}

PcapRecorder::~PcapRecorder() = default;

void PcapRecorder::deliver(std::span<const std::uint8_t> frame) {
  pcap_pkthdr header{};
  header.ts = now_as_timeval();
  header.len = static_cast<bpf_u_int32>(frame.size());
  // Readers reject records longer than the snapshot length; keep the head.
  header.caplen = std::min(header.len, static_cast<bpf_u_int32>(kSnapshotLength));

  std::lock_guard lock(mutex_);
  // After a failed write the file may end in a cut-off record, which would
  // garble every frame written after it.
  if (write_error_) return;
  errno = 0;
  // pcap_dump's first argument is the dumper disguised as the u_char* "user"
  // argument of a pcap_handler callback; the cast is libpcap's convention.
  pcap_dump(reinterpret_cast<u_char*>(dumper_.get()), &header, frame.data());
  write_error_ = flush_error(dumper_.get());
  if (!write_error_) ++frames_recorded_;
}

std::uint64_t PcapRecorder::frames_recorded() const {
  std::lock_guard lock(mutex_);
  return frames_recorded_;
}

std::error_code PcapRecorder::write_error() const {
  std::lock_guard lock(mutex_);
  return write_error_;
}

std::vector<std::vector<std::uint8_t>> read_pcap_frames(const std::filesystem::path& path) {
  char error[PCAP_ERRBUF_SIZE] = {};
  std::unique_ptr<pcap, void (*)(pcap*)> handle(pcap_open_offline(path.c_str(), error), pcap_close);
  if (!handle) {
    throw std::runtime_error("pcap_open_offline " + path.string() + ": " + error);
  }
  std::vector<std::vector<std::uint8_t>> frames;
  for (;;) {
    pcap_pkthdr* header = nullptr;
    const std::uint8_t* data = nullptr;
    const int status = pcap_next_ex(handle.get(), &header, &data);
    if (status == PCAP_ERROR_BREAK) break;  // end of file
    if (status != 1) {
      throw std::runtime_error("pcap_next_ex " + path.string() + ": " + pcap_geterr(handle.get()));
    }
    frames.emplace_back(data, data + header->caplen);
  }
  return frames;
}

}  // namespace vpio::net

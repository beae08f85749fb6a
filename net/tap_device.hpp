// A Linux TAP interface as a wire backend: frames delivered to it go to the
// host's network stack, and frames the host sends out of it reach a receiver.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>

#include "net/fd_reader.hpp"
#include "hw/net/frame_sink.hpp"
#include "base/owned_fd.hpp"

namespace vpio::net {

struct TapCounters {
  std::uint64_t frames_written = 0;  // delivered to the host stack
  std::uint64_t bytes_written = 0;
  std::uint64_t write_failures = 0;  // link down (EIO), queue full, ...
  std::uint64_t frames_read = 0;     // handed to the receiver
  std::uint64_t bytes_read = 0;      // after padding runts
  std::uint64_t runts_padded = 0;    // shorter than hw::kMinFrameBytes on the tap
  std::uint64_t oversize_dropped = 0;
};

// Threading: deliver() may be called from any thread, also while the reader
// runs. The reader thread calls the receiver, one frame at a time, between
// start() and stop(); the receiver must outlive that span (declare it before
// the TapDevice, or call stop() before it goes).
//
// The interface lives as long as this object (it is not made persistent) and
// belongs to the network namespace of the thread that constructs it.
class TapDevice final : public hw::FrameSink {
 public:
  // Creates the tap `requested_name`, or lets the kernel choose ("tapN") when
  // it is empty. Throws std::system_error naming the device and the failed
  // call (ENOENT without /dev/net/tun, EPERM without CAP_NET_ADMIN).
  explicit TapDevice(const std::string& requested_name = {});
  TapDevice(const TapDevice&) = delete;
  TapDevice& operator=(const TapDevice&) = delete;
  ~TapDevice() override;

  const std::string& name() const noexcept { return name_; }

  // Sets IFF_UP; the kernel refuses frames written to a tap that is down.
  void up();

  // Starts the reader thread. Throws std::logic_error if already started.
  void start(hw::FrameSink& receiver);
  // Wakes and joins the reader; idempotent, and start() may follow again.
  void stop() noexcept;

  // Writes one frame to the host stack. Never throws and never blocks: a
  // refused frame is counted in write_failures, as a wire would lose it.
  void deliver(std::span<const std::uint8_t> frame) override;

  TapCounters counters() const noexcept;
  // The errno that ended the reader thread early, or 0.
  int reader_error() const noexcept { return reader_.error(); }

 private:
  // Reads what the tap has queued; the errno that ends the reader, or 0.
  int drain_tap(hw::FrameSink& receiver, std::span<std::uint8_t> buffer);

  std::string name_;
  base::OwnedFd tap_;

  std::atomic<std::uint64_t> frames_written_{0};
  std::atomic<std::uint64_t> bytes_written_{0};
  std::atomic<std::uint64_t> write_failures_{0};
  std::atomic<std::uint64_t> frames_read_{0};
  std::atomic<std::uint64_t> bytes_read_{0};
  std::atomic<std::uint64_t> runts_padded_{0};
  std::atomic<std::uint64_t> oversize_dropped_{0};
  // Last: it stops (in its destructor) before the counters its thread
  // updates go.
  FdReader reader_;
};

}  // namespace vpio::net

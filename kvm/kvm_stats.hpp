// KVM's binary statistics (KVM_GET_STATS_FD, Linux 5.14+): the kernel's own
// per-vCPU counters (exits, io_exits, halt_exits, mmio_exits, ...), read to
// cross-check vpio's exit profile against what KVM counted itself.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/fd.hpp"

namespace vpio {

// One snapshot: every statistic by name, each an array of u64 (1 element for
// a counter, more for a histogram).
using KvmStatsSnapshot = std::map<std::string, std::vector<std::uint64_t>>;

class KvmStatsFile {
 public:
  // Takes an fd in the KVM stats format (what KVM_GET_STATS_FD returns on a
  // VM or vCPU fd). Reads the header and descriptors once; throws
  // std::runtime_error naming what is malformed.
  explicit KvmStatsFile(Fd fd);
  // KVM_GET_STATS_FD on a VM or vCPU fd; throws std::system_error.
  static KvmStatsFile open_for(int kvm_object_fd);

  const std::string& id() const noexcept { return id_; }
  // The values now (one pread of the data block).
  KvmStatsSnapshot read() const;
  // A counter's value now; throws std::out_of_range for an unknown name.
  std::uint64_t counter(const std::string& name) const;
  // The names of the single-valued statistics KVM marks cumulative (counts
  // that only grow, such as exits), as opposed to instant values, peaks and
  // histograms.
  std::vector<std::string> cumulative_counters() const;

 private:
  struct Descriptor {
    std::string name;
    std::uint32_t offset = 0;  // into the data block, in bytes
    std::uint16_t size = 0;    // u64 elements
    std::uint32_t flags = 0;   // KVM_STATS_TYPE_* | KVM_STATS_UNIT_* | KVM_STATS_BASE_*
  };
  Fd fd_;
  std::string id_;
  std::uint32_t data_offset_ = 0;
  std::size_t data_bytes_ = 0;
  std::vector<Descriptor> descriptors_;
};

// b - a for every statistic both hold (counters only grow; histograms per
// bucket).
KvmStatsSnapshot stats_delta(const KvmStatsSnapshot& before, const KvmStatsSnapshot& after);

}  // namespace vpio

// The KVM binary-stats reader on files laid out as the kernel lays them out.
#include <gtest/gtest.h>
#include <linux/kvm.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "kvm/kvm_stats.hpp"

namespace vpio {
namespace {

// header (24 bytes) | id (name_size) | descriptors (16 + name_size each) | data
struct Stat {
  std::string first;                  // name
  std::vector<std::uint64_t> second;  // values
  std::uint32_t flags = KVM_STATS_TYPE_CUMULATIVE;
};

Fd stats_file(const std::vector<Stat>& stats) {
  constexpr std::uint32_t kNameSize = 48;
  const std::uint32_t id_offset = 24, desc_offset = id_offset + kNameSize;
  const auto entries = static_cast<std::uint32_t>(stats.size());
  const std::uint32_t data_offset = desc_offset + entries * (16 + kNameSize);
  std::size_t words = 0;
  for (const auto& stat : stats) words += stat.second.size();
  std::vector<char> file(data_offset + words * 8);
  const std::uint32_t header[6] = {0, kNameSize, entries, id_offset, desc_offset, data_offset};
  std::memcpy(file.data(), header, sizeof header);
  std::strcpy(file.data() + id_offset, "kvm-1234/vcpu_0");
  std::uint32_t offset = 0;
  for (std::uint32_t i = 0; i < entries; ++i) {
    char* d = file.data() + desc_offset + i * (16 + kNameSize);
    const auto size = static_cast<std::uint16_t>(stats[i].second.size());
    std::memcpy(d, &stats[i].flags, 4);
    std::memcpy(d + 6, &size, 2);
    std::memcpy(d + 8, &offset, 4);
    std::strcpy(d + 16, stats[i].first.c_str());
    std::memcpy(file.data() + data_offset + offset, stats[i].second.data(), size * 8u);
    offset += size * 8u;
  }
  Fd fd(::memfd_create("kvm-stats", 0));
  EXPECT_EQ(::write(fd.get(), file.data(), file.size()), static_cast<ssize_t>(file.size()));
  return fd;
}

TEST(KvmStats, ReadsCountersAndHistogramsByName) {
  KvmStatsFile stats(
      stats_file({{"exits", {1234}}, {"halt_wait_hist", {1, 2, 3}}, {"io_exits", {77}}}));
  EXPECT_EQ(stats.id(), "kvm-1234/vcpu_0");
  const KvmStatsSnapshot s = stats.read();
  EXPECT_EQ(s.at("exits"), std::vector<std::uint64_t>{1234});
  EXPECT_EQ(s.at("halt_wait_hist"), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(stats.counter("io_exits"), 77u);
  EXPECT_THROW(stats.counter("mmio_exits"), std::out_of_range);
}

TEST(KvmStats, CumulativeCountersLeaveOutInstantsPeaksAndHistograms) {
  KvmStatsFile stats(stats_file({{"exits", {1234}},
                                 {"halt_wait_hist", {1, 2, 3}},
                                 {"blocking", {1}, KVM_STATS_TYPE_INSTANT},
                                 {"max_mmu_page_hash", {9}, KVM_STATS_TYPE_PEAK},
                                 {"io_exits", {77}}}));
  EXPECT_EQ(stats.cumulative_counters(), (std::vector<std::string>{"exits", "io_exits"}));
}

TEST(KvmStats, DeltaIsPerStatistic) {
  const KvmStatsSnapshot a{{"exits", {10}}, {"h", {1, 1}}, {"gone", {5}}};
  const KvmStatsSnapshot b{{"exits", {25}}, {"h", {3, 1}}, {"new", {9}}};
  const KvmStatsSnapshot d = stats_delta(a, b);
  EXPECT_EQ(d.at("exits"), std::vector<std::uint64_t>{15});
  EXPECT_EQ(d.at("h"), (std::vector<std::uint64_t>{2, 0}));
  EXPECT_FALSE(d.contains("gone"));
  EXPECT_FALSE(d.contains("new"));
}

TEST(KvmStats, ATruncatedFileIsNamed) {
  Fd fd(::memfd_create("kvm-stats", 0));
  const std::uint32_t header[6] = {0, 48, 3, 24, 72, 400};
  ASSERT_EQ(::write(fd.get(), header, sizeof header), static_cast<ssize_t>(sizeof header));
  try {
    KvmStatsFile stats(std::move(fd));
    ADD_FAILURE() << "accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("ends inside its id"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vpio

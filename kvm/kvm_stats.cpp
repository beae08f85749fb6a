// KVM's binary statistics file: header, id string, descriptors, data block.
#include "kvm/kvm_stats.hpp"

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <stdexcept>

namespace vpio {
namespace {

void read_exactly(int fd, void* out, std::size_t bytes, std::uint64_t at, const char* what) {
  auto* p = static_cast<char*>(out);
  std::size_t done = 0;
  while (done < bytes) {
    const ssize_t n = ::pread(fd, p + done, bytes - done, static_cast<off_t>(at + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(std::string("pread of the KVM stats ") + what);
    if (n == 0) throw std::runtime_error(std::string("KVM stats file ends inside its ") + what);
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

KvmStatsFile KvmStatsFile::open_for(int kvm_object_fd) {
  const int fd = ::ioctl(kvm_object_fd, KVM_GET_STATS_FD, nullptr);
  if (fd < 0) throw_errno("KVM_GET_STATS_FD");
  return KvmStatsFile(Fd(fd));
}

KvmStatsFile::KvmStatsFile(Fd fd) : fd_(std::move(fd)) {
  kvm_stats_header header{};
  read_exactly(fd_.get(), &header, sizeof header, 0, "header");
  if (header.name_size == 0 || header.name_size > 4096)
    throw std::runtime_error("KVM stats header gives a name size of " +
                             std::to_string(header.name_size));
  std::string id(header.name_size, '\0');
  read_exactly(fd_.get(), id.data(), id.size(), header.id_offset, "id");
  id_ = id.c_str();
  data_offset_ = header.data_offset;
  // The name follows the fixed fields directly (16 bytes in the kernel's
  // layout). Neither sizeof nor offsetof of `name` says so in C++: the
  // header's flexible-array wrapper holds an empty struct, which C++ sizes 1.
  constexpr std::size_t kFixed = offsetof(kvm_stats_desc, bucket_size) + sizeof(std::uint32_t);
  static_assert(kFixed == 16);
  const std::size_t entry = kFixed + header.name_size;
  std::vector<char> block(entry * header.num_desc);
  read_exactly(fd_.get(), block.data(), block.size(), header.desc_offset, "descriptors");
  for (std::uint32_t i = 0; i < header.num_desc; ++i) {
    kvm_stats_desc d{};
    std::memcpy(&d, block.data() + i * entry, kFixed);
    const char* name = block.data() + i * entry + kFixed;
    Descriptor desc;
    desc.name.assign(name, strnlen(name, header.name_size));
    desc.offset = d.offset;
    desc.size = d.size;
    desc.flags = d.flags;
    if (desc.offset % 8 != 0)
      throw std::runtime_error("KVM stat '" + desc.name + "' at a misaligned offset " +
                               std::to_string(desc.offset));
    data_bytes_ = std::max<std::size_t>(data_bytes_, desc.offset + std::size_t{desc.size} * 8);
    descriptors_.push_back(std::move(desc));
  }
}

KvmStatsSnapshot KvmStatsFile::read() const {
  std::vector<std::uint64_t> data(data_bytes_ / 8);
  read_exactly(fd_.get(), data.data(), data_bytes_, data_offset_, "data");
  KvmStatsSnapshot out;
  for (const Descriptor& d : descriptors_) {
    const auto first = data.begin() + d.offset / 8;
    out[d.name].assign(first, first + d.size);
  }
  return out;
}

std::uint64_t KvmStatsFile::counter(const std::string& name) const { return read().at(name).at(0); }

std::vector<std::string> KvmStatsFile::cumulative_counters() const {
  std::vector<std::string> names;
  for (const Descriptor& d : descriptors_)
    if ((d.flags & KVM_STATS_TYPE_MASK) == KVM_STATS_TYPE_CUMULATIVE && d.size == 1)
      names.push_back(d.name);
  return names;
}

KvmStatsSnapshot stats_delta(const KvmStatsSnapshot& before, const KvmStatsSnapshot& after) {
  KvmStatsSnapshot out;
  for (const auto& [name, values] : after) {
    auto it = before.find(name);
    if (it == before.end() || it->second.size() != values.size()) continue;
    auto& d = out[name];
    for (std::size_t i = 0; i < values.size(); ++i) d.push_back(values[i] - it->second[i]);
  }
  return out;
}

}  // namespace vpio

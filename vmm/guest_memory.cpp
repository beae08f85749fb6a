// Guest RAM backed by an anonymous private mapping.
#include "vmm/guest_memory.hpp"

#include <sys/mman.h>

#include "base/fd.hpp"

namespace vpio {

GuestMemory::GuestMemory(std::uint64_t bytes) : size_(bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw_errno("mmap guest memory");
  base_ = static_cast<std::uint8_t*>(p);
}

GuestMemory::~GuestMemory() { ::munmap(base_, size_); }

std::span<std::uint8_t> GuestMemory::bytes(std::uint64_t gpa, std::uint64_t length) const noexcept {
  if (!contains(gpa, length)) return {};
  return {base_ + gpa, static_cast<std::size_t>(length)};
}

}  // namespace vpio

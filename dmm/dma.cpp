// DMA targets against a guest's share.
#include "dmm/dma.hpp"

#include "hw/hex.hpp"

namespace vpio::dmm {
namespace {

// [start, start + bytes) inside [range_start, range_start + range_bytes),
// with no wrap on either side.
bool inside(std::uint64_t start, std::uint64_t bytes, std::uint64_t range_start,
            std::uint64_t range_bytes) noexcept {
  if (range_bytes == 0) return false;
  const std::uint64_t last = start + (bytes - 1);
  const std::uint64_t range_last = range_start + (range_bytes - 1);
  return last >= start && range_last >= range_start && start >= range_start &&
         last <= range_last;
}

}  // namespace

bool share_holds(const DmaShare& share, const DmaTarget& target) noexcept {
  if (target.bytes == 0) return true;
  if (target.space == DmaSpace::device_memory) {
    for (const DeviceRange& r : share.device_memory)
      if (inside(target.device_address, target.bytes, r.address, r.bytes)) return true;
    return false;
  }
  if (share.ram == nullptr) return false;
  const auto device_address = share.ram->translate(target.guest_address, target.bytes);
  return device_address && *device_address == target.device_address;
}

std::string describe(const DmaTarget& target) {
  std::string text = target.space == DmaSpace::device_memory ? "device memory " : "guest RAM ";
  text += hw::hex(target.device_address) + "+" + hw::hex(target.bytes);
  text += " (guest " + hw::hex(target.guest_address) + "), ";
  text += target.direction == DmaDirection::device_reads ? "device reads" : "device writes";
  return text;
}

}  // namespace vpio::dmm

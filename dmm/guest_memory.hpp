// A guest's RAM as a device model and its monitor see it: guest-physical
// ranges, where each is in this process (for the monitor's own copies, a
// received frame into the guest's ring, say), and the DMA address (IOVA) a
// bus master reaches it at. The VMM builds it from the guest's memory
// slots; it knows nothing of KVM. A model validates a guest's DMA with
// translate() (the range must lie wholly in one RAM range: no hole, no
// wrap, nothing of the VMM's or another guest's) and programs the device
// with the address it returns.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace vpio::dmm {

struct RamRange {
  std::uint64_t guest_address = 0;   // guest-physical start
  std::uint64_t bytes = 0;
  std::uint8_t* host = nullptr;      // where it is mapped here; null: not mapped
  std::uint64_t device_address = 0;  // the DMA address of its first byte
};

class GuestMemory {
 public:
  GuestMemory() = default;
  // Throws std::invalid_argument naming the range when one is empty, wraps
  // past 2^64 (as guest-physical or as DMA address), or overlaps another.
  explicit GuestMemory(std::vector<RamRange> ranges);

  std::span<const RamRange> ranges() const noexcept { return ranges_; }
  // The RAM range holding all of [address, address + bytes), if one does.
  // bytes 0: none (an empty DMA has no address to validate).
  const RamRange* find(std::uint64_t address, std::uint64_t bytes) const noexcept;
  bool contains(std::uint64_t address, std::uint64_t bytes) const noexcept {
    return find(address, bytes) != nullptr;
  }
  // The DMA address the device reaches guest-physical `address` at, when
  // all of [address, address + bytes) is RAM of one range; else nullopt.
  std::optional<std::uint64_t> translate(std::uint64_t address,
                                         std::uint64_t bytes) const noexcept;
  // The range in this process, when it is mapped RAM of one range; else
  // an empty span.
  std::span<std::uint8_t> host_view(std::uint64_t address, std::uint64_t bytes) const noexcept;

 private:
  std::vector<RamRange> ranges_;  // sorted by guest_address
};

}  // namespace vpio::dmm

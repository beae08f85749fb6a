// An NE2000 chip on a wire, standing in for a physical card.
#pragma once

#include "devices/chip_stand_in.hpp"
#include "devices/ne2000/ne2000.hpp"

namespace vpio::devices {

class ChipDevice final : public ChipStandIn<Ne2000> {
 public:
  explicit ChipDevice(hw::MacAddress mac)
      : ChipStandIn("emulated NE2000 (stand-in for hardware)", mac) {}
};

}  // namespace vpio::devices

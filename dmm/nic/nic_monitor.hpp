// A monitor that shares one network card between guests, as the VMM drives
// it: a dmm::Monitor that takes each guest with the MAC of the card it sees.
// Each NIC device's monitor (devices/<name>/) is one.
#pragma once

#include <string>

#include "dmm/shared_device.hpp"
#include "hw/net/mac_address.hpp"

namespace vpio::dmm::nic {

class NicMonitor : public Monitor {
 public:
  // A new guest whose card has this MAC. Throws std::invalid_argument
  // naming the guest when the card has no room for it or the MAC is taken.
  virtual SharedGuest& add_guest(std::string name, hw::MacAddress mac,
                                 GuestCallbacks callbacks) = 0;
};

}  // namespace vpio::dmm::nic

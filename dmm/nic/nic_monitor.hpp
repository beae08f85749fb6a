// A monitor that shares one network card between guests, as the VMM drives
// it: a dmm::Monitor that takes each guest with the MAC of the card it sees.
// Each NIC device's monitor (devices/<name>/) is one.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include "dmm/nic/frame_demux.hpp"
#include "dmm/shared_device.hpp"
#include "hw/net/mac_address.hpp"

namespace vpio::dmm::nic {

// The report every NIC guest's share gives (SharedGuest::report()): its
// MAC, the core's counts of it, what it sent, and what the demultiplexer
// counted of its receiving; a device adds its own counts after these.
inline Report guest_report(const hw::MacAddress& mac, const SharedGuestCounts& shared,
                           std::uint64_t frames_sent, const ReceiverCounts& received) {
  return {{{"mac", mac.to_string()}},
          {{"context_switches", shared.context_switches},
           {"violations", shared.violations},
           {"frames_sent", frames_sent},
           {"frames_received", received.frames_received},
           {"frames_filtered", received.frames_filtered},
           {"frames_missed", received.frames_missed},
           {"queue_drops", received.queue_drops},
           {"frames_queued", received.frames_queued}}};
}

class NicMonitor : public Monitor {
 public:
  // A new guest whose card has this MAC. Throws std::invalid_argument
  // naming the guest when the card has no room for it or the MAC is taken.
  virtual SharedGuest& add_guest(std::string name, hw::MacAddress mac,
                                 GuestCallbacks callbacks) = 0;

 protected:
  // add_guest's refusals, the same for every NIC: throws, naming `monitor`
  // (as messages name the monitor) and the guest, when the card set up for max_guests
  // has them all, or when one of `guests` (each with name() and mac())
  // has the MAC already.
  template <typename Guests>
  static void check_new_guest(std::string_view monitor, const std::string& name,
                              const hw::MacAddress& mac, const Guests& guests,
                              std::size_t max_guests, const std::string& card) {
    if (guests.size() >= max_guests)
      throw std::invalid_argument(std::string(monitor) + ": no room for guest '" + name +
                                  "': the card " + card + " is set up for " +
                                  std::to_string(max_guests) + " guests");
    for (const auto& g : guests)
      if (g->mac() == mac)
        throw std::invalid_argument(std::string(monitor) + ": guest '" + name + "' wants MAC " +
                                    mac.to_string() + ", which guest '" + g->name() + "' has");
  }
};

}  // namespace vpio::dmm::nic

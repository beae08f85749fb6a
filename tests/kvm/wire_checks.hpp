// Checks on what a recorded wire carried and what a guest reported, shared by
// the KVM tests (vpio's chip on a hub) and the lab tests (QEMU's card).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "guests/net_proto.h"
#include "devices/ne2000/ne2000.hpp"

namespace vpio::test {

using Frame = std::vector<std::uint8_t>;

inline hw::MacAddress mac_at(const Frame& f, std::size_t offset) {
  hw::MacAddress mac;
  std::copy_n(f.begin() + static_cast<std::ptrdiff_t>(offset), 6, mac.bytes.begin());
  return mac;
}

// Frames on the wire addressed to `mac` (or to everyone) from anyone else.
inline std::uint64_t addressed_to(const std::vector<Frame>& wire, const hw::MacAddress& mac) {
  std::uint64_t n = 0;
  for (const Frame& f : wire)
    if (mac_at(f, 6) != mac && (mac_at(f, 0) == mac || (f[0] & 1) != 0)) ++n;
  return n;
}

// Every frame on the wire is a well-formed protocol frame from a known
// station, under its own source address.
inline void expect_wire_clean(const std::vector<Frame>& wire,
                              const std::vector<hw::MacAddress>& known) {
  ASSERT_FALSE(wire.empty());
  for (std::size_t n = 0; n < wire.size(); ++n) {
    ASSERT_EQ(net_check_frame(wire[n].data(), wire[n].size()), NET_OK) << "frame " << n;
    const hw::MacAddress src = mac_at(wire[n], 6);
    EXPECT_NE(std::find(known.begin(), known.end(), src), known.end())
        << "frame " << n << " from " << src.to_string();
  }
}

inline std::uint16_t be16(const Frame& f, std::size_t at) {
  return static_cast<std::uint16_t>(f[at] << 8 | f[at + 1]);
}

// What one guest put on the wire, by the addresses its frames carry.
struct SenderTally {
  std::uint64_t frames = 0;
  std::uint64_t tcp_payload = 0;  // TCP payload bytes, retransmissions included
};

// Every frame on the wire is from one of the Linux guests (guests/linux/init),
// and carries that guest's IPv4 address (10.0.15.N+1) wherever it names a
// sender: the IPv4 source, ARP's sender hardware and protocol addresses.
// Returns each guest's tally.
inline std::vector<SenderTally> tally_by_sender(const std::vector<Frame>& wire,
                                                const std::vector<hw::MacAddress>& macs) {
  std::vector<SenderTally> tally(macs.size());
  for (std::size_t n = 0; n < wire.size(); ++n) {
    const Frame& f = wire[n];
    SCOPED_TRACE("frame " + std::to_string(n));
    if (f.size() < 14) {
      ADD_FAILURE() << f.size() << " bytes";
      continue;
    }
    const hw::MacAddress src = mac_at(f, 6);
    const auto it = std::find(macs.begin(), macs.end(), src);
    if (it == macs.end()) {
      ADD_FAILURE() << "from " << src.to_string() << ", no guest's MAC";
      continue;
    }
    const auto guest = static_cast<std::size_t>(it - macs.begin());
    const std::uint8_t own_ip[4] = {10, 0, 15, static_cast<std::uint8_t>(guest + 1)};
    ++tally[guest].frames;
    switch (be16(f, 12)) {
      case 0x0800: {  // IPv4: source address at 26
        if (f.size() < 34) {
          ADD_FAILURE() << "a short IPv4 frame";
          break;
        }
        EXPECT_TRUE(std::equal(own_ip, own_ip + 4, f.begin() + 26))
            << "an IPv4 frame under guest " << guest << "'s MAC from another address";
        const std::size_t ihl = (f[14] & 0x0f) * 4u;
        if (f[23] == 6 && f.size() >= 14 + ihl + 20) {  // TCP
          const std::size_t total = be16(f, 16);
          const std::size_t header = ihl + (f[14 + ihl + 12] >> 4) * 4u;
          if (total > header) tally[guest].tcp_payload += total - header;
        }
        break;
      }
      case 0x0806:  // ARP: sender MAC at 22, sender IPv4 at 28
        if (f.size() < 42) {
          ADD_FAILURE() << "a short ARP frame";
          break;
        }
        EXPECT_EQ(mac_at(f, 22), src) << "an ARP under guest " << guest << "'s MAC names another";
        EXPECT_TRUE(std::equal(own_ip, own_ip + 4, f.begin() + 28))
            << "an ARP under guest " << guest << "'s MAC for another address";
        break;
      case 0x86dd:  // IPv6 (init does not turn it off): its link-local source
        break;      // address is the guest's own MAC, checked above
      default: ADD_FAILURE() << "ethertype " << std::hex << be16(f, 12) << " from guest " << guest;
    }
  }
  return tally;
}

// The lines of a guest's report that do not depend on timing: poll counts do,
// and so does the number of strays (ANNOUNCEs the peer repeats until the
// first DATA reaches it).
inline std::string timing_free_results(const std::string& text) {
  std::string kept;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.find("polls") == std::string::npos)
      kept += std::regex_replace(line, std::regex("[0-9]+ strays"), "N strays") + "\n";
  return kept;
}

}  // namespace vpio::test

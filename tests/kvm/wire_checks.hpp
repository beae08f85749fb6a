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

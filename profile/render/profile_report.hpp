// A vpio-profile/1 document (docs/profile.md): the check that it holds what a
// reader needs, and the plain-text report `vpio profile` prints from it.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace vpio {

// Throws std::invalid_argument naming the first problem with its JSON path:
// "guests[1].ports[3].exits: missing", "guests[0].ports[1].path: 'x' is not
// one of direct, hooked, emulated, unclaimed", "schema is 'x', expected
// vpio-profile/1". Any JSON value is safe to pass. Checks types and enums, not
// arithmetic (sums across tables are not compared).
void validate_profile(const nlohmann::json& profile);

// Reads and validates the saved profile at `path`. Throws
// std::invalid_argument with a one-line message that starts with the path and
// says it is not a vpio profile and why ("not JSON (parse error at byte 1)",
// a validate_profile problem), fit for a terminal: no byte of a file that is
// not JSON, no control character of one that is.
nlohmann::json load_profile(const std::string& path);

// The readable report: per guest its exits by reason, ports, MMIO, paths with
// their time histograms, exit sites, and KVM's counters beside vpio's. `top`
// bounds the port, MMIO and site rows listed per guest (0: all). Validates
// first (throws as validate_profile). Lines are at most 100 columns for any
// strings, counts below 10^12 and times below 10^4 s; the output depends only
// on the input.
std::string profile_text_report(const nlohmann::json& profile, std::size_t top = 20);

}  // namespace vpio

// An exit profile (schema vpio-profile/1, docs/profile.md) drawn as one
// standalone SVG picture, for people who would rather look than read tables.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace vpio {

// One panel per guest, stacked: a title line (name, outcome, exits to
// userspace, handling time, exits by reason), a horizontal bar per port and
// MMIO address split by path (top 16 by exits), and each path's latency
// histogram. The document is UTF-8, starts with `<?xml`, has an explicit
// width, height and viewBox, and uses no external font, CSS or script. The
// same profile always gives the same bytes.
//
// Expects a validated profile, but draws missing or mistyped optional fields
// as empty; throws std::invalid_argument only if profile["guests"] is not an
// array.
std::string profile_svg(const nlohmann::json& profile);

}  // namespace vpio

// The hw/net names the wire tests (tests/unit/test_net_*.cpp) use unqualified,
// inside vpio::net: frames, their sizes and addresses are the chips'
// vocabulary (hw/net/), which the wire side speaks too.
#pragma once

#include "hw/net/frame_sink.hpp"
#include "hw/net/mac_address.hpp"

namespace vpio::net {

using hw::FrameSink;
using hw::kEthernetHeaderBytes;
using hw::kMaxFrameBytes;
using hw::kMaxTaggedFrameBytes;
using hw::kMinFrameBytes;
using hw::MacAddress;

}  // namespace vpio::net

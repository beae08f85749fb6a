// The device-generic isolation harness (docs/fuzzing.md, "Every device"):
// one input is a hostile guest's access stream against any registered
// device's model and monitor (devices/registry.hpp), with an honest guest
// beside it running the device's conformance driver
// (tests/conformance/guest_driver.hpp) and a wire sending to both. After
// each input the harness checks what every device must keep:
//   1. the honest guest gets no machine check, and its driver no complaint;
//   2. every frame on the wire has a whole header and the MAC of the guest
//      that sent it as its source;
//   3. the honest guest's frames reach the wire intact and in order, and
//      the frames the wire sends it reach it intact and in order;
//   4. the honest guest receives no frame that is not for it, and the
//      hostile guest no more than were for it;
//   5. every DMA target the model passes lies in the guest's share.
// Deterministic: no service thread, no clock (a guest's operation that
// holds the device when another needs it is stopped at once).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace vpio::fuzzing {

// Runs one input against the device of that name. Returns an empty string
// when every invariant held, else what broke (the caller aborts on it).
std::string run_device_input(std::string_view device, std::span<const std::uint8_t> input);

}  // namespace vpio::fuzzing

// The device-generic isolation harness (fuzz/device_harness.hpp) without
// libFuzzer: inputs of a fixed pseudo-random sequence, per device of the
// conformance suite, each must end with every invariant held. An input the
// fuzzer once broke goes here as a regression test.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "fuzz/device_harness.hpp"
#include "tests/conformance/guest_driver.hpp"

namespace vpio::fuzzing {
namespace {

TEST(DeviceHarness, RandomInputsBreakNoInvariantOnAnyDevice) {
  for (const auto& device : conformance::conformance_devices()) {
    std::mt19937 rng(16);
    for (unsigned n = 0; n < 300; ++n) {
      std::vector<std::uint8_t> input(rng() % 1024);
      for (auto& byte : input) byte = static_cast<std::uint8_t>(rng());
      const std::string broken = run_device_input(device.kind, input);
      ASSERT_EQ(broken, "") << device.kind << ", input " << n;
    }
  }
}

TEST(DeviceHarness, AnEmptyInputStillSendsTheHonestGuestsFrame) {
  for (const auto& device : conformance::conformance_devices())
    EXPECT_EQ(run_device_input(device.kind, {}), "") << device.kind;
}

TEST(DeviceHarness, AnUnknownDeviceIsNamed) {
  EXPECT_THROW(run_device_input("ne2k", {}), std::invalid_argument);
}

}  // namespace
}  // namespace vpio::fuzzing

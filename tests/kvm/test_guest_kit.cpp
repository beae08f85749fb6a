// A guest built the way a user builds one, outside vpio's tree with the
// installed guest kit and make (tests/guest-kit-test, run first by ctest as
// the guest_kit fixture), boots under `vpio run` on real KVM, prints, and
// exits with main's return value.
#include <filesystem>

#include "tests/kvm/support.hpp"

namespace vpio::test {
namespace {

TEST(GuestKit, AGuestBuiltOutsideTheTreeRunsAndReturnsItsStatus) {
  const std::string image = build_path("guest-kit-test/make/hello_kit.img");
  ASSERT_TRUE(std::filesystem::exists(image))
      << image << " is missing: ctest runs tests/guest-kit-test (the guest_kit fixture) first";
  const CommandResult result = run_command(vpio_binary() + " run --quiet " + image);
  EXPECT_EQ(result.exit_code, 3) << result.output;
  EXPECT_NE(result.output.find("hello from a guest built with the vpio guest kit"),
            std::string::npos)
      << result.output;
}

}  // namespace
}  // namespace vpio::test

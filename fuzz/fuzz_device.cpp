// libFuzzer's entry for the device-generic isolation harness
// (device_harness.hpp), built once per registered device: VPIO_FUZZ_DEVICE
// names it (fuzz/CMakeLists.txt).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "fuzz/device_harness.hpp"

// As fuzz_isolation's (fuzz_isolation.cpp): no fill of new blocks, a small
// quarantine (each input builds three chips).
extern "C" const char* __asan_default_options() {
  return "max_malloc_fill_size=0:quarantine_size_mb=4";
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string broken = vpio::fuzzing::run_device_input(VPIO_FUZZ_DEVICE, {data, size});
  if (!broken.empty()) {
    std::fprintf(stderr, "\nvpio fuzz (%s): ISOLATION INVARIANT BROKEN: %s\n", VPIO_FUZZ_DEVICE,
                 broken.c_str());
    std::abort();
  }
  return 0;
}

// The isolation fuzzer's harness (fuzz/) outside libFuzzer, built by the
// main compiler: every seed runs through it with no invariant broken, and
// the input format reads back what was written.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "fuzz/access_stream.hpp"
#include "fuzz/isolation_harness.hpp"
#include "fuzz/seeds.hpp"

namespace vpio::fuzz {
namespace {

struct Breach : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void run(std::span<const std::uint8_t> input) {
  StreamReader reader(input);
  IsolationHarness harness(reader.layout());
  harness.on_breach = [](const std::string& message) { throw Breach(message); };
  while (const auto op = reader.next()) harness.run(*op);
  harness.finish();
}

TEST(FuzzSeeds, EverySeedRunsWithNoInvariantBroken) {
  for (const Seed& seed : seeds()) {
    SCOPED_TRACE(seed.name);
    try {
      run(seed.input);
    } catch (const Breach& b) {
      ADD_FAILURE() << b.what();
    }
  }
}

TEST(FuzzSeeds, AnInputReadsBackAsTheOpsThatWroteIt) {
  StreamWriter w({.hostile_first = false, .reserved_areas = 3, .honest_probes = true,
                  .hostile_inits = true});
  w.honest(9).remote_dma(0x45fb, 5, true, 4).transmit(0x43, 1514, 0x26);
  w.write(0x1c, 4, 0x11223344).read_string(0x10, 2, 16 * 1024).honest_until(HonestPhase::mid_data);
  EXPECT_EQ(describe(w.bytes()),
            "StreamWriter w({.hostile_first = false, .reserved_areas = 3, .honest_probes = true, "
            ".hostile_inits = true});\n"
            "w.honest(9);\n"
            "w.remote_dma(0x45fb, 5, true, 4);\n"
            "w.transmit(0x43, 1514, 0x26);\n"
            "w.write(0x1c, 4, 0x11223344);\n"
            "w.read_string(0x10, 2, 16384);\n"
            "w.honest_until(HonestPhase::mid_data);\n");
}

TEST(FuzzSeeds, EveryByteStringDecodes) {
  std::vector<std::uint8_t> input;
  for (unsigned i = 0; i < 600; ++i) input.push_back(static_cast<std::uint8_t>(i * 37 + 11));
  StreamReader reader(input);
  (void)reader.layout();
  unsigned ops = 0;
  while (reader.next()) ++ops;
  EXPECT_GT(ops, 50u);
}

}  // namespace
}  // namespace vpio::fuzz

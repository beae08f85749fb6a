// The seed corpus, written as code (fuzz/seeds.cpp) and into fuzz/seeds/ by
// `fuzz_isolation --write-seeds=DIR`.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vpio::fuzz {

struct Seed {
  std::string name;  // the file name in fuzz/seeds/
  std::vector<std::uint8_t> input;
};

std::vector<Seed> seeds();
// Writes every seed into dir (which must exist); false with a message on error.
bool write_seeds(const std::string& dir);

// A libFuzzer dictionary (-dict=): single ops a driver or an attacker uses
// (a transmit, RBCR written, a remote write started, a wide reset, ...),
// each encoded as the input format has it, for mutations to splice in.
bool write_dictionary(const std::string& path);

}  // namespace vpio::fuzz

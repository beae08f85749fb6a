// libFuzzer's entry: each input is a hostile guest's access stream beside an
// honest guest on one shared card (docs/fuzzing.md). `--write-seeds=DIR`
// writes the seed corpus (fuzz/seeds.cpp), `--write-dict=FILE` the
// dictionary, `--decode=FILE` prints an input as code; each then exits.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/access_stream.hpp"
#include "fuzz/isolation_harness.hpp"
#include "fuzz/seeds.hpp"

// ASan's defaults here (ASAN_OPTIONS overrides them): new blocks are not
// filled, and freed ones wait in a quarantine of 4 MiB, a few dozen inputs
// deep (every input builds three card images; filling them and faulting in
// fresh pages for them took half of an input's time).
extern "C" const char* __asan_default_options() {
  return "max_malloc_fill_size=0:quarantine_size_mb=4";
}

namespace {

// Prints an input as the StreamWriter program that writes it.
int decode(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    std::fprintf(stderr, "decode: cannot read %s\n", path.c_str());
    return 1;
  }
  const std::vector<std::uint8_t> input((std::istreambuf_iterator<char>(file)),
                                        std::istreambuf_iterator<char>());
  std::fputs(vpio::fuzz::describe(input).c_str(), stdout);
  return 0;
}

}  // namespace

// Modes of our own before libFuzzer's (which ignores flags that start with
// "--"): --write-seeds=DIR, --write-dict=FILE and --decode=FILE.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  constexpr std::string_view kWriteSeeds = "--write-seeds=";
  constexpr std::string_view kDecode = "--decode=";
  constexpr std::string_view kWriteDict = "--write-dict=";
  for (int i = 1; i < *argc; ++i) {
    const std::string_view arg = (*argv)[i];
    if (arg.starts_with(kWriteSeeds))
      std::exit(vpio::fuzz::write_seeds(std::string(arg.substr(kWriteSeeds.size()))) ? 0 : 1);
    if (arg.starts_with(kDecode)) std::exit(decode(std::string(arg.substr(kDecode.size()))));
    if (arg.starts_with(kWriteDict))
      std::exit(vpio::fuzz::write_dictionary(std::string(arg.substr(kWriteDict.size()))) ? 0 : 1);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vpio::fuzz::StreamReader reader(std::span<const std::uint8_t>(data, size));
  vpio::fuzz::IsolationHarness harness(reader.layout());
  while (const auto op = reader.next()) harness.run(*op);
  harness.finish();
  return 0;
}

// Counting exits into an ExitProfile, without KVM: rows by reason, port, MMIO
// address, path and site, and the log2 latency buckets.
#include <gtest/gtest.h>
#include <linux/kvm.h>

#include "profile/exit_profile.hpp"

namespace vpio {
namespace {

ExitEvent io(std::uint16_t port, bool write, ExitPath path, std::uint64_t rip, std::uint64_t ns,
             std::uint32_t count = 1) {
  ExitEvent e;
  e.reason = KVM_EXIT_IO;
  e.rip = rip;
  e.ns = ns;
  e.path = path;
  e.write = write;
  e.address = port;
  e.amount = count;
  return e;
}

TEST(LatencyHistogram, BucketsArePowersOfTwo) {
  EXPECT_EQ(LatencyHistogram::bucket_of(0), 0u);
  EXPECT_EQ(LatencyHistogram::bucket_of(1), 0u);
  EXPECT_EQ(LatencyHistogram::bucket_of(2), 1u);
  EXPECT_EQ(LatencyHistogram::bucket_of(3), 1u);
  EXPECT_EQ(LatencyHistogram::bucket_of(1023), 9u);
  EXPECT_EQ(LatencyHistogram::bucket_of(1024), 10u);
  EXPECT_EQ(LatencyHistogram::bucket_of(~0ULL), 63u);
  for (unsigned k = 1; k < 63; ++k) {
    EXPECT_EQ(LatencyHistogram::bucket_of(LatencyHistogram::bucket_from(k)), k);
    EXPECT_EQ(LatencyHistogram::bucket_of(LatencyHistogram::bucket_to(k) - 1), k);
  }
}

TEST(ExitProfile, CountsPortsByDirectionAndPathAndSitesByInstruction) {
  ExitProfile p;
  for (int i = 0; i < 3; ++i) p.record(io(0x300, true, ExitPath::direct, 0x100010, 100));
  p.record(io(0x300, true, ExitPath::hooked, 0x100010, 5000));
  p.record(io(0x300, false, ExitPath::direct, 0x100020, 300));
  p.record(io(0x310, false, ExitPath::hooked, 0x100030, 700, 64));  // a rep insw chunk
  EXPECT_EQ(p.exits(), 6u);
  EXPECT_EQ(p.handling_ns(), 3 * 100u + 5000 + 300 + 700);
  EXPECT_EQ(p.by_reason()[KVM_EXIT_IO].exits, 6u);
  EXPECT_EQ(p.by_reason()[KVM_EXIT_IO].amount, 3u + 1 + 1 + 64);

  const auto& ports = p.ports();
  ASSERT_EQ(ports.size(), 4u);
  const Totals& out_direct = ports.at(ExitProfile::key(0x300, true, ExitPath::direct));
  EXPECT_EQ(out_direct.exits, 3u);
  EXPECT_EQ(out_direct.ns, 300u);
  EXPECT_EQ(ports.at(ExitProfile::key(0x300, true, ExitPath::hooked)).exits, 1u);
  EXPECT_EQ(ports.at(ExitProfile::key(0x310, false, ExitPath::hooked)).amount, 64u);

  EXPECT_EQ(p.by_path()[static_cast<unsigned>(ExitPath::direct)].exits, 4u);
  EXPECT_EQ(p.by_path()[static_cast<unsigned>(ExitPath::hooked)].exits, 2u);
  const auto& direct = p.histograms()[static_cast<unsigned>(ExitPath::direct)];
  EXPECT_EQ(direct.exits[LatencyHistogram::bucket_of(100)], 3u);
  EXPECT_EQ(direct.exits[LatencyHistogram::bucket_of(300)], 1u);
  const auto& hooked = p.histograms()[static_cast<unsigned>(ExitPath::hooked)];
  EXPECT_EQ(hooked.exits[12], 1u);  // 5000 ns: [4096, 8192)
  EXPECT_EQ(hooked.exits[9], 1u);   // 700 ns: [512, 1024)

  ASSERT_EQ(p.sites().size(), 3u);
  const SiteTotals& site = p.sites().at(SiteKey{0x100010, KVM_EXIT_IO, true});
  EXPECT_EQ(site.totals.exits, 4u);
  EXPECT_EQ(site.exits_by_path[static_cast<unsigned>(ExitPath::direct)], 3u);
  EXPECT_EQ(site.exits_by_path[static_cast<unsigned>(ExitPath::hooked)], 1u);
  EXPECT_EQ(site.reason, static_cast<std::uint32_t>(KVM_EXIT_IO));
}

TEST(ExitProfile, KeysKeepAddressDirectionAndPathApart) {
  for (std::uint64_t address : {0ULL, 0xffffULL, 0xfee0'0000ULL, (1ULL << 52) + 8})
    for (bool write : {false, true})
      for (unsigned p = 0; p < kExitPaths; ++p) {
        const auto path = static_cast<ExitPath>(p);
        const std::uint64_t k = ExitProfile::key(address, write, path);
        EXPECT_EQ(ExitProfile::key_address(k), address);
        EXPECT_EQ(ExitProfile::key_write(k), write);
        EXPECT_EQ(ExitProfile::key_path(k), path);
      }
}

TEST(ExitProfile, SitesAreHandedOutOnceForTheirBytes) {
  ExitProfile p;
  SiteTotals* first = p.record(io(0x80, false, ExitPath::unclaimed, 0x100000, 10));
  ASSERT_NE(first, nullptr);
  EXPECT_FALSE(first->bytes_read);
  first->bytes_read = true;
  SiteTotals* again = p.record(io(0x80, false, ExitPath::unclaimed, 0x100000, 10));
  EXPECT_EQ(again, first);
  EXPECT_TRUE(again->bytes_read);
}

TEST(ExitProfile, MmioHltAndOtherReasons) {
  ExitProfile p;
  ExitEvent mmio;
  mmio.reason = KVM_EXIT_MMIO;
  mmio.rip = 0x100100;
  mmio.path = ExitPath::emulated;
  mmio.write = true;
  mmio.address = 0xd000'0000;
  mmio.amount = 4;
  mmio.ns = 50;
  p.record(mmio);
  p.record(mmio);
  ExitEvent hlt;
  hlt.reason = KVM_EXIT_HLT;
  hlt.rip = 0x100200;
  hlt.ns = 1'000'000;
  EXPECT_NE(p.record(hlt), nullptr);
  ExitEvent window;
  window.reason = KVM_EXIT_IRQ_WINDOW_OPEN;
  window.rip = 0x100300;
  EXPECT_EQ(p.record(window), nullptr) << "an interrupt window has no instruction of its own";
  p.record_interrupted_run();

  EXPECT_EQ(p.exits(), 4u);
  EXPECT_EQ(p.interrupted_runs(), 1u);
  EXPECT_EQ(p.mmio().at(ExitProfile::key(0xd000'0000, true, ExitPath::emulated)).amount, 8u);
  EXPECT_TRUE(p.ports().empty());
  // Only I/O and MMIO exits have a path: the hlt's wait is not handling.
  EXPECT_EQ(p.by_path()[static_cast<unsigned>(ExitPath::emulated)].exits, 2u);
  EXPECT_EQ(p.by_reason()[KVM_EXIT_HLT].ns, 1'000'000u);
  EXPECT_EQ(p.sites().size(), 2u);
  EXPECT_EQ(p.sites().at(SiteKey{0x100200, KVM_EXIT_HLT, false}).exits_by_path,
            (std::array<std::uint64_t, kExitPaths>{}));
}

TEST(ExitProfile, OneRipKeepsItsReasonsAndDirectionsApart) {
  // An MMIO write is keyed past the store, where the next instruction exits.
  ExitProfile p;
  ExitEvent store;
  store.reason = KVM_EXIT_MMIO;
  store.rip = 0x100010;
  store.write = true;
  store.amount = 4;
  p.record(store);
  p.record(io(0x80, true, ExitPath::unclaimed, 0x100010, 10));
  ExitEvent load = store;
  load.write = false;
  p.record(load);
  EXPECT_EQ(p.sites().size(), 3u);
  EXPECT_EQ(p.sites().at(SiteKey{0x100010, KVM_EXIT_IO, true}).totals.exits, 1u);
}

TEST(ExitProfile, AGuestWithEndlessSitesIsBounded) {
  ExitProfile p;
  const std::size_t extra = 100;
  for (std::uint64_t i = 0; i < ExitProfile::kMaxRows + extra; ++i)
    p.record(io(0x80, false, ExitPath::unclaimed, 0x100000 + i, 10));
  EXPECT_EQ(p.sites().size(), ExitProfile::kMaxRows);
  EXPECT_EQ(p.lost_rows(), extra);
  EXPECT_EQ(p.exits(), ExitProfile::kMaxRows + extra) << "every exit still counts";
  EXPECT_EQ(p.by_path()[static_cast<unsigned>(ExitPath::unclaimed)].exits,
            ExitProfile::kMaxRows + extra);
  EXPECT_EQ(p.ports().at(ExitProfile::key(0x80, false, ExitPath::unclaimed)).exits,
            ExitProfile::kMaxRows + extra);
}

}  // namespace
}  // namespace vpio

// dmm/nic's frame demultiplexer, with receivers that are not cards: what
// any NIC model's monitor gets from it.
#include <gtest/gtest.h>

#include <vector>

#include "dmm/nic/frame_demux.hpp"

namespace vpio::dmm::nic {
namespace {

using Bytes = std::vector<std::uint8_t>;

const hw::MacAddress kA{{0x52, 0x54, 0x00, 0x00, 0x00, 0x0a}};
const hw::MacAddress kB{{0x52, 0x54, 0x00, 0x00, 0x00, 0x0b}};
const hw::MacAddress kC{{0x52, 0x54, 0x00, 0x00, 0x00, 0x0c}};
const hw::MacAddress kNobody{{0x52, 0x54, 0x00, 0x00, 0x00, 0x77}};
const hw::MacAddress kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
const hw::MacAddress kMulticast{{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}};

Bytes frame_to(const hw::MacAddress& to, std::uint8_t tag, std::size_t bytes = 60) {
  Bytes f(bytes, tag);
  std::copy(to.bytes.begin(), to.bytes.end(), f.begin());
  return f;
}

// A card with room for `room` frames, that refuses frames whose byte 14 is
// 0xff (its filter), and that can be stopped.
class TestReceiver final : public FrameReceiver {
 public:
  explicit TestReceiver(hw::MacAddress mac, std::size_t room = 100) : mac_(mac), room_(room) {}
  const hw::MacAddress& mac() const noexcept override { return mac_; }
  bool receiving() const override { return receiving_; }
  bool can_store(std::size_t) const override { return stored.size() < room_; }
  bool store(std::span<const std::uint8_t> frame) override {
    if (frame[14] == 0xff) return false;
    stored.emplace_back(frame.begin(), frame.end());
    return true;
  }
  void held_back() override { ++held; }
  void set_room(std::size_t room) { room_ = room; }

  std::vector<Bytes> stored;
  unsigned held = 0;  // frames that found no room, as the card was told
  bool receiving_ = true;

 private:
  hw::MacAddress mac_;
  std::size_t room_;
};

TEST(FrameDemux, AFrameGoesToItsDestinationOnlyAndAGroupFrameToEveryoneButItsSender) {
  TestReceiver a(kA), b(kB), c(kC);
  FrameDemux demux(8);
  const std::size_t ia = demux.add(a), ib = demux.add(b), ic = demux.add(c);
  EXPECT_TRUE(demux.deliver(frame_to(kB, 1), nullptr));
  EXPECT_FALSE(demux.deliver(frame_to(kNobody, 2), nullptr));
  EXPECT_TRUE(demux.deliver(frame_to(kBroadcast, 3), &a));  // a sent it
  EXPECT_TRUE(demux.deliver(frame_to(kMulticast, 4), nullptr));
  EXPECT_EQ(a.stored, (std::vector<Bytes>{frame_to(kMulticast, 4)}));
  EXPECT_EQ(b.stored, (std::vector<Bytes>{frame_to(kB, 1), frame_to(kBroadcast, 3),
                                          frame_to(kMulticast, 4)}));
  EXPECT_EQ(c.stored, (std::vector<Bytes>{frame_to(kBroadcast, 3), frame_to(kMulticast, 4)}));
  EXPECT_EQ(demux.counts(ia).frames_received, 1u);
  EXPECT_EQ(demux.counts(ib).frames_received, 3u);
  EXPECT_EQ(demux.counts(ic).frames_received, 2u);
}

TEST(FrameDemux, ASenderIsNeverItsOwnDestinationAndShortFramesGoNowhere) {
  TestReceiver a(kA), b(kB);
  FrameDemux demux(8);
  demux.add(a);
  demux.add(b);
  EXPECT_FALSE(demux.deliver(frame_to(kA, 1), &a));
  EXPECT_TRUE(a.stored.empty());
  EXPECT_FALSE(demux.deliver(Bytes(13, 0xff), nullptr));  // shorter than an Ethernet header
  EXPECT_TRUE(b.stored.empty());
  // Loopback: whether a sent frame must go round to others on the card.
  EXPECT_TRUE(demux.addressed_to_others(frame_to(kB, 1), &a));
  EXPECT_FALSE(demux.addressed_to_others(frame_to(kA, 1), &a));
  EXPECT_FALSE(demux.addressed_to_others(frame_to(kNobody, 1), &a));
  EXPECT_TRUE(demux.addressed_to_others(frame_to(kBroadcast, 1), &a));
  const Bytes destination_only(kB.bytes.begin(), kB.bytes.end());
  EXPECT_TRUE(demux.addressed_to_others(destination_only, &a));
  EXPECT_FALSE(demux.addressed_to_others(Bytes(5, 0xff), &a));
}

TEST(FrameDemux, QueuesAreBoundedAndFlushWhenTheCardHasRoom) {
  TestReceiver a(kA, 1);
  FrameDemux demux(2);
  const std::size_t ia = demux.add(a);
  for (std::uint8_t i = 1; i <= 5; ++i) demux.deliver(frame_to(kA, i), nullptr);
  // One stored, two queued, two dropped; the card was told of each of the
  // four that found it full (an RTL8139 interrupts for them: RxOverflow).
  EXPECT_EQ(a.stored.size(), 1u);
  EXPECT_EQ(a.held, 4u);
  auto counts = demux.counts(ia);
  EXPECT_EQ(counts.frames_queued, 2u);
  EXPECT_EQ(counts.queue_drops, 2u);
  EXPECT_TRUE(demux.has_queued(ia));
  a.set_room(10);
  demux.flush(ia);
  EXPECT_EQ(a.held, 4u);
  EXPECT_EQ(a.stored, (std::vector<Bytes>{frame_to(kA, 1), frame_to(kA, 2), frame_to(kA, 3)}));
  counts = demux.counts(ia);
  EXPECT_EQ(counts.frames_queued, 0u);
  EXPECT_EQ(counts.frames_received, 3u);
  EXPECT_FALSE(demux.has_queued(ia));
}

TEST(FrameDemux, AStoppedCardMissesFramesAndAFilteredOneIsCountedApart) {
  TestReceiver a(kA);
  FrameDemux demux(4);
  const std::size_t ia = demux.add(a);
  a.receiving_ = false;
  EXPECT_TRUE(demux.deliver(frame_to(kA, 1), nullptr));  // addressed, though missed
  a.receiving_ = true;
  demux.deliver(frame_to(kA, 0xff), nullptr);  // the card's filter refuses it
  demux.deliver(frame_to(kA, 2), nullptr);
  const auto counts = demux.counts(ia);
  EXPECT_EQ(counts.frames_missed, 1u);
  EXPECT_EQ(counts.frames_filtered, 1u);
  EXPECT_EQ(counts.frames_received, 1u);
  EXPECT_EQ(a.stored, (std::vector<Bytes>{frame_to(kA, 2)}));
}

}  // namespace
}  // namespace vpio::dmm::nic

// A test endpoint on an in-process net::Hub that plays the echo side of
// guests/net_proto.h for several senders at once, announcing itself to each
// by unicast, and that can send trigger frames to guests (hostile.c) once a
// sender has got far enough.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "guests/net_proto.h"
#include "devices/ne2000/ne2000.hpp"
#include "net/hub.hpp"

namespace vpio::test {

// What the endpoint saw from, and sent to, one peer MAC.
struct PeerCounters {
  std::uint64_t data_intact = 0;    // distinct DATA sequences received intact (each echoed)
  std::uint64_t bad = 0;            // our protocol, addressed to us, failed net_check_frame
  std::uint64_t duplicates = 0;     // intact DATA with a sequence seen before (echoed again)
  std::uint64_t echoes = 0;         // ECHO frames sent
  std::uint64_t frames_sent = 0;    // every frame sent to this MAC, of any type
  std::uint64_t triggers_sent = 0;  // of which trigger ANNOUNCEs
  std::uint64_t frames_heard = 0;   // every frame on the wire from this MAC, to anyone
  bool done_seen = false;
  std::uint32_t done_count = 0;  // the sender's count, from its last DONE
};

struct MacLess {
  bool operator()(const hw::MacAddress& a, const hw::MacAddress& b) const {
    return a.bytes < b.bytes;
  }
};

struct EndpointCounters {
  std::map<hw::MacAddress, PeerCounters, MacLess> peers;
  std::uint64_t not_for_us = 0;     // dst neither the endpoint's MAC nor broadcast
  std::uint64_t inbox_dropped = 0;  // arrived while the inbox was full

  PeerCounters peer(const hw::MacAddress& mac) const {
    auto it = peers.find(mac);
    return it == peers.end() ? PeerCounters{} : it->second;
  }
};

// Threading: the hub's deliver() only queues; frames are handled and sent on
// the endpoint's own thread, never while holding its lock (a receiver on the
// hub may take its own locks and deliver back to us). A frame is counted as
// sent just before it goes out, so a peer that has it sees it counted. Other
// calls are thread-safe, except that stop() and the destructor belong to one
// thread.
class NetEchoEndpoint final : public hw::FrameSink {
 public:
  static constexpr std::chrono::milliseconds kAnnounceInterval{20};
  static constexpr std::size_t kInboxCapacity = 4096;

  NetEchoEndpoint(net::Hub& hub, hw::MacAddress mac, std::vector<hw::MacAddress> announce_to,
                  std::string name = "echo-endpoint")
      : hub_(hub), mac_(mac), announce_to_(std::move(announce_to)) {
    port_ = &hub_.attach(*this, std::move(name));
    thread_ = std::thread([this] { run(); });
  }
  NetEchoEndpoint(const NetEchoEndpoint&) = delete;
  NetEchoEndpoint& operator=(const NetEchoEndpoint&) = delete;
  ~NetEchoEndpoint() override { stop(); }

  // Once `watched_sender` has had `after_frames` distinct DATA frames echoed,
  // sends one ANNOUNCE to `target` (once).
  void add_trigger(hw::MacAddress target, hw::MacAddress watched_sender,
                   std::uint64_t after_frames) {
    push_trigger({target, watched_sender, after_frames, false, false});
  }

  // Once `after_frames` frames of any kind from `watched_sender` have been
  // heard on the wire (a sender that talks to no one here, such as
  // net_blast), sends one ANNOUNCE to `target` (once).
  void add_trigger_on_frames_heard(hw::MacAddress target, hw::MacAddress watched_sender,
                                   std::uint64_t after_frames) {
    push_trigger({target, watched_sender, after_frames, true, false});
  }

  // Joins the thread and leaves the hub; counters stay readable.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (port_ != nullptr) hub_.detach(*port_);
    port_ = nullptr;
  }

  EndpointCounters counters() const {
    std::lock_guard lock(mutex_);
    return snapshot();
  }

  // Waits until `holds(counters)` is true; false if `timeout` passed first.
  template <typename Predicate>
  bool wait_until(Predicate holds, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return holds(snapshot()); });
  }

  const hw::MacAddress& mac() const noexcept { return mac_; }

  void deliver(std::span<const std::uint8_t> frame) override {
    {
      std::lock_guard lock(mutex_);
      if (inbox_.size() >= kInboxCapacity) {
        ++inbox_dropped_;
        return;
      }
      inbox_.emplace_back(frame.begin(), frame.end());
    }
    wake_.notify_all();
  }

 private:
  using Frame = std::vector<std::uint8_t>;
  using Clock = std::chrono::steady_clock;

  struct Peer {
    PeerCounters counters;
    std::set<std::uint32_t> sequences;  // distinct DATA sequences received intact
    bool data_seen = false;             // any DATA, even a bad one: stop announcing
  };
  struct Trigger {
    hw::MacAddress target, watched;
    std::uint64_t after_frames;
    bool on_frames_heard;  // count every frame heard, not DATA echoed
    bool fired;
  };

  void push_trigger(const Trigger& trigger) {
    {
      std::lock_guard lock(mutex_);
      triggers_.push_back(trigger);
      poked_ = true;
    }
    wake_.notify_all();
  }

  static constexpr hw::MacAddress kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

  static hw::MacAddress mac_at(const Frame& frame, std::size_t offset) {
    hw::MacAddress mac;
    std::memcpy(mac.bytes.data(), frame.data() + offset, mac.bytes.size());
    return mac;
  }

  EndpointCounters snapshot() const {
    EndpointCounters c;
    for (const auto& [mac, peer] : peers_) c.peers[mac] = peer.counters;
    c.not_for_us = not_for_us_;
    c.inbox_dropped = inbox_dropped_;
    return c;
  }

  // Counts the frame as sent already, so that whoever receives it sees it
  // counted. Called with mutex_ held.
  void queue(std::vector<Frame>& out, const hw::MacAddress& dst, std::uint8_t type,
             std::uint32_t sequence, std::size_t data_len, bool trigger = false) {
    Frame frame(net_frame_bytes(data_len));
    net_build_frame(frame.data(), dst.bytes.data(), mac_.bytes.data(), type, sequence, data_len);
    out.push_back(std::move(frame));
    PeerCounters& c = peers_[dst].counters;
    ++c.frames_sent;
    if (type == NET_MSG_ECHO) ++c.echoes;
    if (trigger) ++c.triggers_sent;
  }

  // Called with mutex_ held.
  void handle(const Frame& frame, std::vector<Frame>& out) {
    if (frame.size() < hw::kEthernetHeaderBytes) return;
    const hw::MacAddress dst = mac_at(frame, 0), src = mac_at(frame, NET_MAC_BYTES);
    ++peers_[src].counters.frames_heard;
    if (dst != mac_) {
      if (dst != kBroadcast) ++not_for_us_;
      return;  // broadcasts are other echoes' ANNOUNCEs: nothing to answer
    }
    const int check = net_check_frame(frame.data(), frame.size());
    if (check == NET_BAD_ETHERTYPE) return;
    net_header h{};
    std::memcpy(&h, frame.data(), std::min(frame.size(), sizeof h));
    Peer& peer = peers_[src];
    if (h.type == NET_MSG_DATA) peer.data_seen = true;
    if (check != NET_OK) {
      ++peer.counters.bad;  // no echo: the sender retransmits
      return;
    }
    if (h.type == NET_MSG_DATA) {
      if (peer.sequences.insert(h.sequence).second)
        ++peer.counters.data_intact;
      else
        ++peer.counters.duplicates;
      // The pattern and checksum follow from sequence and length, which the
      // check has just verified: rebuilding gives the DATA's very bytes.
      queue(out, src, NET_MSG_ECHO, h.sequence, h.length);
    } else if (h.type == NET_MSG_DONE) {
      peer.counters.done_seen = true;
      peer.counters.done_count = h.sequence;
      queue(out, src, NET_MSG_DONE_ACK, static_cast<std::uint32_t>(peer.sequences.size()), 0);
    }
  }

  // Called with mutex_ held.
  void announce_and_trigger(Clock::time_point now, std::vector<Frame>& out) {
    if (now >= next_announce_) {
      for (const hw::MacAddress& to : announce_to_) {
        auto it = peers_.find(to);
        if (it == peers_.end() || !it->second.data_seen)
          queue(out, to, NET_MSG_ANNOUNCE, announces_, 0);
      }
      ++announces_;
      next_announce_ = now + kAnnounceInterval;
    }
    for (Trigger& t : triggers_) {
      auto it = peers_.find(t.watched);
      const std::uint64_t seen = it == peers_.end()  ? 0
                                 : t.on_frames_heard ? it->second.counters.frames_heard
                                                     : it->second.counters.data_intact;
      if (t.fired || seen < t.after_frames) continue;
      t.fired = true;
      queue(out, t.target, NET_MSG_ANNOUNCE, announces_, 0, true);
    }
  }

  void run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      std::vector<Frame> out;
      for (; !inbox_.empty(); inbox_.pop_front()) handle(inbox_.front(), out);
      poked_ = false;
      announce_and_trigger(Clock::now(), out);
      if (!out.empty()) {
        lock.unlock();
        for (const Frame& frame : out) port_->deliver(frame);
        lock.lock();
      }
      changed_.notify_all();
      wake_.wait_until(lock, next_announce_,
                       [this] { return stopping_ || poked_ || !inbox_.empty(); });
    }
  }

  net::Hub& hub_;
  const hw::MacAddress mac_;
  const std::vector<hw::MacAddress> announce_to_;
  net::HubPort* port_ = nullptr;

  mutable std::mutex mutex_;  // guards everything below but the thread
  std::condition_variable wake_;
  mutable std::condition_variable changed_;
  std::deque<Frame> inbox_;
  std::map<hw::MacAddress, Peer, MacLess> peers_;
  std::vector<Trigger> triggers_;
  std::uint64_t not_for_us_ = 0;
  std::uint64_t inbox_dropped_ = 0;
  std::uint32_t announces_ = 0;
  Clock::time_point next_announce_{};
  bool poked_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace vpio::test

// The hub's fan-out and topology changes; see hub.hpp for the threading
// contract.
#include "net/hub.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>
#include <utility>

namespace vpio::net {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;
constexpr int kDrainYieldsBeforeSleeping = 100;

// The hubs this thread is fanning out for, innermost first. Sending into one
// of them again means a wiring loop that would recurse without end; changing
// its topology would wait for this very fan-out to finish.
struct ActiveDelivery {
  const Hub* hub;
  const ActiveDelivery* outer;
};
thread_local const ActiveDelivery* innermost_delivery = nullptr;

bool delivering_for(const Hub* hub) noexcept {
  for (const ActiveDelivery* d = innermost_delivery; d != nullptr; d = d->outer) {
    if (d->hub == hub) return true;
  }
  return false;
}

// Pushes a hub on this thread's delivery list for one fan-out, popping it
// even when a receiver throws.
class DeliveryScope {
 public:
  explicit DeliveryScope(const Hub* hub) noexcept : entry_{hub, innermost_delivery} {
    innermost_delivery = &entry_;
  }
  DeliveryScope(const DeliveryScope&) = delete;
  DeliveryScope& operator=(const DeliveryScope&) = delete;
  ~DeliveryScope() { innermost_delivery = entry_.outer; }

 private:
  ActiveDelivery entry_;
};

}  // namespace

HubPort::HubPort(Hub& hub, hw::FrameSink& receiver, std::string name)
    : hub_(hub), receiver_(receiver), name_(std::move(name)) {}

void HubPort::deliver(std::span<const std::uint8_t> frame) { hub_.forward(*this, frame); }

HubPortCounters HubPort::counters() const noexcept {
  HubPortCounters c;
  c.frames_sent = frames_sent_.load(kRelaxed);
  c.bytes_sent = bytes_sent_.load(kRelaxed);
  c.frames_received = frames_received_.load(kRelaxed);
  c.bytes_received = bytes_received_.load(kRelaxed);
  c.frames_refused = frames_refused_.load(kRelaxed);
  return c;
}

Hub::Hub() : topology_(std::make_shared<Topology>()) {}

Hub::~Hub() = default;

void Hub::refuse_topology_change_during_delivery(const char* call) const {
  if (delivering_for(this)) {
    throw std::logic_error(std::string("Hub::") + call +
                           " called from inside one of the hub's deliveries; it would deadlock");
  }
}

std::shared_ptr<Hub::Topology> Hub::copy_of_current_topology() const {
  auto copy = std::make_shared<Topology>();
  std::lock_guard lock(snapshot_mutex_);
  copy->ports = topology_->ports;
  copy->observers = topology_->observers;
  return copy;
}

void Hub::publish_and_drain(std::shared_ptr<Topology> next) {
  std::shared_ptr<Topology> previous;
  {
    std::lock_guard lock(snapshot_mutex_);
    previous = std::exchange(topology_, std::move(next));
    // From here on no sender can count itself into `previous`.
    previous->replaced.store(true);
  }
  // Fan-outs take microseconds, so yield a little before sleeping: on a host
  // whose CPUs are all busy with vCPUs, a woken sleeper waits a scheduler
  // period (milliseconds) for a CPU. A receiver that blocks ends up in wait().
  for (int spins = 0; spins < kDrainYieldsBeforeSleeping; ++spins) {
    if (previous->fan_outs_in_flight.load() == 0) return;
    std::this_thread::yield();
  }
  for (int in_flight; (in_flight = previous->fan_outs_in_flight.load()) != 0;) {
    previous->fan_outs_in_flight.wait(in_flight);
  }
}

std::shared_ptr<Hub::Topology> Hub::enter_fan_out() {
  std::lock_guard lock(snapshot_mutex_);
  topology_->fan_outs_in_flight.fetch_add(1);
  return topology_;
}

// Sequentially consistent against publish_and_drain: either this decrement
// sees `replaced` and wakes the waiting change, or the change's load sees the
// decremented count and does not sleep.
void Hub::leave_fan_out(Topology& topology) noexcept {
  if (topology.fan_outs_in_flight.fetch_sub(1) == 1 && topology.replaced.load()) {
    topology.fan_outs_in_flight.notify_all();
  }
}

HubPort& Hub::attach(hw::FrameSink& receiver, std::string name) {
  refuse_topology_change_during_delivery("attach");
  // new, not make_unique: the constructor is private to keep ports hub-made.
  std::unique_ptr<HubPort> port(new HubPort(*this, receiver, std::move(name)));
  HubPort& attached = *port;
  std::lock_guard lock(topology_change_mutex_);
  auto next = copy_of_current_topology();
  next->ports.push_back(&attached);
  all_ports_.push_back(std::move(port));
  publish_and_drain(std::move(next));
  return attached;
}

void Hub::detach(HubPort& port) {
  refuse_topology_change_during_delivery("detach");
  std::lock_guard lock(topology_change_mutex_);
  auto next = copy_of_current_topology();
  auto it = std::find(next->ports.begin(), next->ports.end(), &port);
  if (it == next->ports.end()) {
    throw std::invalid_argument("Hub::detach: port '" + port.name() +
                                "' is not attached to this hub");
  }
  next->ports.erase(it);
  port.attached_.store(false);
  publish_and_drain(std::move(next));
}

void Hub::add_observer(hw::FrameSink& observer) {
  refuse_topology_change_during_delivery("add_observer");
  std::lock_guard lock(topology_change_mutex_);
  auto next = copy_of_current_topology();
  // Twice would make it see every frame twice, which breaks its contract.
  if (std::find(next->observers.begin(), next->observers.end(), &observer) !=
      next->observers.end()) {
    throw std::invalid_argument("Hub::add_observer: observer already added");
  }
  next->observers.push_back(&observer);
  publish_and_drain(std::move(next));
}

void Hub::remove_observer(hw::FrameSink& observer) {
  refuse_topology_change_during_delivery("remove_observer");
  std::lock_guard lock(topology_change_mutex_);
  auto next = copy_of_current_topology();
  auto it = std::find(next->observers.begin(), next->observers.end(), &observer);
  if (it == next->observers.end()) {
    throw std::invalid_argument("Hub::remove_observer: not an observer of this hub");
  }
  next->observers.erase(it);
  publish_and_drain(std::move(next));
}

std::size_t Hub::port_count() const {
  std::lock_guard lock(snapshot_mutex_);
  return topology_->ports.size();
}

HubCounters Hub::counters() const noexcept {
  HubCounters c;
  c.frames_forwarded = frames_forwarded_.load(kRelaxed);
  c.runts_dropped = runts_dropped_.load(kRelaxed);
  c.oversize_dropped = oversize_dropped_.load(kRelaxed);
  c.detached_dropped = detached_dropped_.load(kRelaxed);
  c.loop_dropped = loop_dropped_.load(kRelaxed);
  return c;
}

void Hub::forward(HubPort& sender, std::span<const std::uint8_t> frame) {
  if (frame.size() < hw::kEthernetHeaderBytes) {
    runts_dropped_.fetch_add(1, kRelaxed);
    sender.frames_refused_.fetch_add(1, kRelaxed);
    return;
  }
  if (frame.size() > hw::kMaxTaggedFrameBytes) {
    oversize_dropped_.fetch_add(1, kRelaxed);
    sender.frames_refused_.fetch_add(1, kRelaxed);
    return;
  }
  if (delivering_for(this)) {
    loop_dropped_.fetch_add(1, kRelaxed);
    sender.frames_refused_.fetch_add(1, kRelaxed);
    return;
  }

  const std::shared_ptr<Topology> topology = enter_fan_out();
  // Leaves the fan-out also when a receiver throws, so a waiting change is
  // never left hanging.
  struct FanOutEnd {
    Topology& topology;
    ~FanOutEnd() { leave_fan_out(topology); }
  } end{*topology};
  if (!sender.attached_.load()) {
    detached_dropped_.fetch_add(1, kRelaxed);
    sender.frames_refused_.fetch_add(1, kRelaxed);
    return;
  }
  DeliveryScope scope(this);

  // Counters move before the calls so that whoever sees the frame arrive
  // also sees it counted.
  frames_forwarded_.fetch_add(1, kRelaxed);
  sender.frames_sent_.fetch_add(1, kRelaxed);
  sender.bytes_sent_.fetch_add(frame.size(), kRelaxed);
  // Observers first: a receiver may answer (on its own thread) before this
  // loop ends, and a recording must show the frame before its answer.
  for (hw::FrameSink* observer : topology->observers) observer->deliver(frame);
  for (HubPort* port : topology->ports) {
    if (port == &sender) continue;  // a hub never echoes to the sender
    port->frames_received_.fetch_add(1, kRelaxed);
    port->bytes_received_.fetch_add(frame.size(), kRelaxed);
    port->receiver_.deliver(frame);
  }
}

}  // namespace vpio::net

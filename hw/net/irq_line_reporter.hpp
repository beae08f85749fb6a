// How a chip tells its interrupt line about changes of level: with the
// chip's lock dropped while the line is called (the line may call back into
// the chip, or take locks of its own), one change at a time, the last level
// reported always the current one, and never two edges folded into one.
#pragma once

#include <functional>
#include <mutex>
#include <utility>

namespace vpio::hw {

class IrqLineReporter {
 public:
  // With the chip's lock held. The new line has been told nothing yet.
  void set_line_locked(std::function<void(bool asserted)> line) {
    line_ = std::move(line);
    reported_ = false;
  }

  // With the chip's lock held: the guest acknowledged some of the line's
  // causes and others still hold it asserted. On a level-triggered line (PCI
  // INTx) the controller would interrupt again after the handler's EOI;
  // vpio's lines are edges, so the next update() reports a dip and, if the
  // level is still high, a rise: an edge the controller latches and
  // delivers after the EOI, as it would the level.
  void acknowledged_locked() {
    if (reported_) dipped_ = true;
  }

  // Without the chip's lock: takes `mutex` (the chip's) and reports
  // `level()`, evaluated under it, until the level stops changing.
  template <typename Level>
  void update(std::mutex& mutex, const Level& level) {
    std::unique_lock lock(mutex);
    if (notifying_) {
      // Another thread is telling the line right now; it will look again.
      if (reported_ && !level()) dipped_ = true;
      return;
    }
    notifying_ = true;
    for (;;) {
      bool now = level();
      // Acked and raised again while the line was being told: report the
      // dip, so the rise after it is an edge of its own (an edge-triggered
      // line would otherwise miss it, and a guest that read the status in
      // the dip would wait for it).
      if (dipped_ && reported_) now = false;
      dipped_ = false;
      if (now == reported_) break;
      reported_ = now;
      if (!line_) continue;
      std::function<void(bool)> line = line_;
      lock.unlock();
      try {
        line(now);
      } catch (...) {
        lock.lock();
        notifying_ = false;
        throw;
      }
      lock.lock();
    }
    notifying_ = false;
  }

 private:
  std::function<void(bool)> line_;
  bool reported_ = false;   // the level the line was last told
  bool notifying_ = false;  // a thread is calling the line right now
  // The level fell below the reported one while a notifier ran: a rise
  // after it is a new edge, which the notifier must not fold into the old.
  bool dipped_ = false;
};

}  // namespace vpio::hw

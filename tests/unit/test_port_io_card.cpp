// The host-port NE2000 card with vpio's own chip behind a fake port space:
// the probe (found, empty bus, wrong PROM, no reset, refused ports), accesses
// forwarded at base + offset, and the interrupt line derived by polling.
// SystemPorts is never used here: the test host's real ports are off limits.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "devices/ne2000/port_io_card.hpp"

namespace {

using namespace vpio::hw;
using namespace vpio::devices;
using namespace vpio::devices::ne2000;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint16_t kBase = 0x300;
const MacAddress kMac{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};

constexpr std::uint8_t kDcrWord = kDcrNormal | kDcrFifo8Bytes | kDcrWordTransfer;
constexpr std::uint8_t kCrStopped = kCrPage0 | kCrNoDma | kCrStop;
constexpr std::uint8_t kCrRunning = kCrPage0 | kCrNoDma | kCrStart;
constexpr std::uint16_t kDataPort = Ne2000::kDataPort;
constexpr std::uint16_t kResetPort = Ne2000::kResetPort;

// Short enough that the interrupt tests finish quickly, long enough that the
// poller does not hog the card's lock.
constexpr PortIoCardConfig kFastPolls{std::chrono::microseconds(200)};
constexpr auto kPatience = 5s;

// Polls cond until it holds or kPatience passes; a deadline, not a fixed
// sleep, so a slow machine only makes the test slower.
bool eventually(const std::function<bool()>& cond) {
  const auto deadline = Clock::now() + kPatience;
  while (Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(100us);
  }
  return cond();
}

// vpio's chip mapped at base in a fake port space. It counts what the card
// must and must not do: requests, accesses outside the window, and ISR reads
// made while the chip was not on page 0 (there offset 7 is CURR).
class ChipPorts final : public HostPorts {
 public:
  explicit ChipPorts(std::uint16_t window_base = kBase) : base(window_base), chip(kMac) {}

  void request(std::uint16_t first, std::uint16_t count) override {
    ++requests;
    requested_base = first;
    requested_count = count;
    if (refuse) throw std::system_error(EPERM, std::generic_category(), "ioperm refused");
  }
  std::uint8_t inb(std::uint16_t port) override { return static_cast<std::uint8_t>(read(port, 1)); }
  std::uint16_t inw(std::uint16_t port) override {
    return static_cast<std::uint16_t>(read(port, 2));
  }
  std::uint32_t inl(std::uint16_t port) override { return read(port, 4); }
  void outb(std::uint16_t port, std::uint8_t value) override { write(port, 1, value); }
  void outw(std::uint16_t port, std::uint16_t value) override { write(port, 2, value); }
  void outl(std::uint16_t port, std::uint32_t value) override { write(port, 4, value); }
  void ins(std::uint16_t port, unsigned size, std::span<std::uint8_t> data) override {
    if (in_window(port, size)) chip.read_string(offset(port), size, data);
  }
  void outs(std::uint16_t port, unsigned size, std::span<const std::uint8_t> data) override {
    if (in_window(port, size)) chip.write_string(offset(port), size, data);
  }

  unsigned chip_page() { return chip.read(kCr, 1) >> kCrPageShift; }
  // Page-2 read-back of a page-0 write-only register, restoring the page.
  std::uint8_t read_back(std::uint16_t reg) {
    const auto cr = static_cast<std::uint8_t>(chip.read(kCr, 1));
    chip.write(kCr, 1, (cr & ~kCrPage3) | kCrPage2);
    const auto value = static_cast<std::uint8_t>(chip.read(reg, 1));
    chip.write(kCr, 1, cr);
    return value;
  }

  const std::uint16_t base;
  Ne2000 chip;
  bool refuse = false;
  unsigned requests = 0;
  std::uint16_t requested_base = 0;
  std::uint16_t requested_count = 0;
  std::atomic<unsigned> outside_window{0};
  std::atomic<unsigned> isr_reads{0};
  std::atomic<unsigned> isr_reads_off_page0{0};

 private:
  bool in_window(std::uint16_t port, unsigned size) {
    if (port >= base && port + size <= unsigned{base} + Ne2000::kWindowPorts) return true;
    ++outside_window;
    return false;
  }
  std::uint16_t offset(std::uint16_t port) const { return static_cast<std::uint16_t>(port - base); }
  std::uint32_t read(std::uint16_t port, unsigned size) {
    if (!in_window(port, size)) return 0xffffffffu;
    if (offset(port) == kIsr) {
      ++isr_reads;
      if (chip_page() != 0) ++isr_reads_off_page0;
    }
    return chip.read(offset(port), size);
  }
  void write(std::uint16_t port, unsigned size, std::uint32_t value) {
    if (in_window(port, size)) chip.write(offset(port), size, value);
  }
};

// Nothing at any port: an ISA bus floats high.
class EmptyBus final : public HostPorts {
 public:
  void request(std::uint16_t, std::uint16_t) override {}
  std::uint8_t inb(std::uint16_t) override { return 0xff; }
  std::uint16_t inw(std::uint16_t) override { return 0xffff; }
  std::uint32_t inl(std::uint16_t) override { return 0xffffffffu; }
  void outb(std::uint16_t, std::uint8_t) override {}
  void outw(std::uint16_t, std::uint16_t) override {}
  void outl(std::uint16_t, std::uint32_t) override {}
  void ins(std::uint16_t, unsigned, std::span<std::uint8_t> data) override {
    for (auto& byte : data) byte = 0xff;
  }
  void outs(std::uint16_t, unsigned, std::span<const std::uint8_t>) override {}
};

// Some other device: its ports read zero whatever is written.
class SilentDevice final : public HostPorts {
 public:
  void request(std::uint16_t, std::uint16_t) override {}
  std::uint8_t inb(std::uint16_t) override { return 0; }
  std::uint16_t inw(std::uint16_t) override { return 0; }
  std::uint32_t inl(std::uint16_t) override { return 0; }
  void outb(std::uint16_t, std::uint8_t) override {}
  void outw(std::uint16_t, std::uint16_t) override {}
  void outl(std::uint16_t, std::uint32_t) override {}
  void ins(std::uint16_t, unsigned, std::span<std::uint8_t> data) override {
    for (auto& byte : data) byte = 0;
  }
  void outs(std::uint16_t, unsigned, std::span<const std::uint8_t>) override {}
};

void patch_prom(Ne2000& chip, const std::function<void(Ne2000State&)>& patch) {
  Ne2000State state = chip.save();
  patch(state);
  chip.restore(state);
}

std::string probe_error(HostPorts& ports) {
  try {
    PortIoCard card(ports, kBase);
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "(no error)";
}

// Through the card: a remote write of bytes into buffer memory at address.
void remote_write(PortIoCard& card, std::uint16_t address, std::span<const std::uint8_t> bytes) {
  card.write(kDcr, 1, kDcrWord);
  card.write(kRbcr0, 2, static_cast<std::uint32_t>(bytes.size()));
  card.write(kRsar0, 2, address);
  card.write(kCr, 1, kCrPage0 | kCrRemoteWrite | kCrStart);
  card.write_string(kDataPort, 2, bytes);
}

// ---- Probe ----

TEST(PortIoCardProbe, FindsTheChipReadsItsMacAndLeavesItStopped) {
  ChipPorts ports;
  PortIoCard card(ports, kBase);
  EXPECT_EQ(card.mac(), kMac);
  EXPECT_EQ(card.base(), kBase);
  EXPECT_EQ(ports.requests, 1u);
  EXPECT_EQ(ports.requested_base, kBase);
  EXPECT_EQ(ports.requested_count, PortIoCard::kWindowPorts);
  EXPECT_EQ(ports.outside_window, 0u);
  EXPECT_EQ(ports.chip.read(kCr, 1), kCrStopped);
  EXPECT_EQ(ports.chip.read(kIsr, 1) & kIsrInterruptMask, 0u);
  EXPECT_EQ(ports.read_back(kImr), 0u);
  EXPECT_FALSE(ports.chip.irq_asserted());
  EXPECT_EQ(card.describe(),
            "NE2000 at host port 0x300 (PROM 52:54:00:12:34:56), polled every 1000 us");
}

TEST(PortIoCardProbe, EmptyBusIsNoCard) {
  EmptyBus bus;
  const std::string error = probe_error(bus);
  EXPECT_NE(error.find("0x300"), std::string::npos) << error;
  EXPECT_NE(error.find("0xff"), std::string::npos) << error;
}

TEST(PortIoCardProbe, PromWithoutSignatureIsNotAnNe2000) {
  ChipPorts ports;
  patch_prom(ports.chip,
             [](Ne2000State& s) { std::fill(s.prom.end() - 4, s.prom.end(), std::uint8_t{0x42}); });
  const std::string error = probe_error(ports);
  EXPECT_NE(error.find("not an NE2000"), std::string::npos) << error;
  EXPECT_NE(error.find("0x300"), std::string::npos) << error;
  EXPECT_NE(error.find("4242"), std::string::npos) << error;  // the dump shows what was read
  EXPECT_EQ(ports.chip.read(kCr, 1), kCrStopped);             // and the card is left quiet
}

TEST(PortIoCardProbe, BytePerWordPromIsNotAnNe2000) {
  // An 8-bit card's PROM holds each byte once, so word reads pair neighbours.
  ChipPorts ports;
  patch_prom(ports.chip, [](Ne2000State& s) {
    for (std::size_t i = 0; i < s.prom.size(); ++i) s.prom[i] = static_cast<std::uint8_t>(i);
    s.prom[28] = s.prom[29] = s.prom[30] = s.prom[31] = kPromSignature;
  });
  const std::string error = probe_error(ports);
  EXPECT_NE(error.find("not an NE2000"), std::string::npos) << error;
  EXPECT_NE(error.find("0100 0302"), std::string::npos) << error;
}

TEST(PortIoCardProbe, DeviceThatNeverResetsIsRefused) {
  SilentDevice device;
  const std::string error = probe_error(device);
  EXPECT_NE(error.find("0x300"), std::string::npos) << error;
  EXPECT_NE(error.find("did not reset"), std::string::npos) << error;
}

TEST(PortIoCardProbe, MisalignedBaseIsInvalid) {
  ChipPorts ports;
  EXPECT_THROW(PortIoCard(ports, 0x308), std::invalid_argument);
  EXPECT_THROW(PortIoCard(ports, 0x310), std::invalid_argument);
  EXPECT_THROW(PortIoCard(ports, 0xfff0), std::invalid_argument);
  EXPECT_EQ(ports.requests, 0u);
  try {
    PortIoCard card(ports, 0x308);
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("0x308"), std::string::npos) << error.what();
  }
}

TEST(PortIoCardProbe, ZeroPollIntervalIsInvalid) {
  ChipPorts ports;
  EXPECT_THROW(PortIoCard(ports, kBase, PortIoCardConfig{0us}), std::invalid_argument);
}

TEST(PortIoCardProbe, RefusedPortsPropagateBeforeAnyAccess) {
  ChipPorts ports;
  ports.refuse = true;
  EXPECT_THROW(PortIoCard(ports, kBase), std::system_error);
  EXPECT_EQ(ports.requests, 1u);
  EXPECT_EQ(ports.isr_reads, 0u);
  EXPECT_EQ(ports.chip.read(kCr, 1), kCrStopped);  // untouched since its own reset
}

// ---- Accesses ----

TEST(PortIoCardAccess, RegistersGoToBasePlusOffset) {
  ChipPorts ports(0x340);
  PortIoCard card(ports, 0x340);
  card.write(kPstart, 1, 0x46);
  card.write(kPstop, 1, 0x80);
  EXPECT_EQ(ports.read_back(kPstart), 0x46u);
  EXPECT_EQ(ports.read_back(kPstop), 0x80u);
  // A wide write reaches consecutive registers, as on the ISA bus.
  card.write(kRsar0, 2, 0x4123);
  EXPECT_EQ(ports.chip.read(kCrda0, 1), 0x23u);
  EXPECT_EQ(ports.chip.read(kCrda1, 1), 0x41u);
  // Reads come from the card too.
  card.write(kCr, 1, kCrPage1 | kCrStopped);
  card.write(kPar0 + 2, 1, 0xab);
  EXPECT_EQ(card.read(kCr, 1), unsigned{kCrPage1 | kCrStopped});
  EXPECT_EQ(card.read(kPar0 + 2, 1), 0xabu);
  EXPECT_EQ(ports.outside_window, 0u);
}

// The card's own IMR stays 0, so its IRQ never rises on a host without a
// driver for it; the mask lives in the card object and reads back as written.
TEST(PortIoCardAccess, TheCardsOwnImrStaysZeroAndReadsBackAsWritten) {
  ChipPorts ports(kBase);
  PortIoCard card(ports, kBase);
  card.write(kImr, 1, 0x45);
  EXPECT_EQ(ports.read_back(kImr), 0u);
  card.write(kCr, 1, kCrPage2 | kCrStopped);
  EXPECT_EQ(card.read(kImr, 1), 0x45u);
  EXPECT_EQ(card.read(kImr - 1, 2) >> 8, 0x45u);  // a wide read across it
  card.write(kCr, 1, kCrStopped);
  card.write(kImr - 1, 2, 0x7f00);  // a wide write across it
  EXPECT_EQ(ports.read_back(kImr), 0u);
  card.write(kCr, 1, kCrPage2 | kCrStopped);
  EXPECT_EQ(card.read(kImr, 1), 0x7fu);
  // An event the mask lets through is still no interrupt on the card's line.
  card.write(kCr, 1, kCrRunning);
  card.write(kRbcr0, 1, 2);
  card.write(kRbcr1, 1, 0);
  card.write(kRsar0, 1, 0);
  card.write(kRsar1, 1, 0x40);
  card.write(kCr, 1, kCrPage0 | kCrRemoteWrite | kCrStart);
  card.write(kDataPort, 2, 0x1234);
  EXPECT_NE(card.read(kIsr, 1) & kIsrRdc, 0u);
  EXPECT_FALSE(ports.chip.irq_asserted());
}

TEST(PortIoCardAccess, StringOpsMoveBytesThroughRemoteDma) {
  ChipPorts ports;
  PortIoCard card(ports, kBase);
  std::vector<std::uint8_t> sent(64);
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<std::uint8_t>(0x30 + i * 3);
  remote_write(card, 0x4600, sent);
  EXPECT_NE(card.read(kIsr, 1) & kIsrRdc, 0u);
  const Ne2000State state = ports.chip.save();
  EXPECT_TRUE(std::equal(sent.begin(), sent.end(), state.memory.begin() + 0x600));

  card.write(kIsr, 1, kIsrRdc);
  card.write(kRbcr0, 2, static_cast<std::uint32_t>(sent.size()));
  card.write(kRsar0, 2, 0x4600);
  card.write(kCr, 1, kCrPage0 | kCrRemoteRead | kCrStart);
  std::vector<std::uint8_t> received(sent.size());
  card.read_string(kDataPort, 4, received);
  EXPECT_EQ(received, sent);
  EXPECT_NE(card.read(kIsr, 1) & kIsrRdc, 0u);
}

TEST(PortIoCardAccess, AccessesOutsideTheWindowAreRefused) {
  ChipPorts ports;
  PortIoCard card(ports, kBase);
  EXPECT_EQ(card.read(0x1f, 2), 0xffffu);
  EXPECT_EQ(card.read(0x20, 1), 0xffu);
  EXPECT_EQ(card.read(0x00, 3), 0xffffffu);
  card.write(0x1e, 4, 0);
  std::vector<std::uint8_t> buffer(8);
  card.read_string(0x1f, 2, buffer);
  card.write_string(0x20, 1, buffer);
  EXPECT_EQ(ports.outside_window, 0u);
}

// ---- The polled interrupt line ----

struct HandlerCalls {
  std::atomic<unsigned> count{0};
  std::function<void()> handler() {
    return [this] { ++count; };
  }
};

// Waits until the poller has sampled ISR at least n more times, so that a
// handler that was going to fire has had every chance to.
void let_poller_run(PortIoCard& card, std::uint64_t n) {
  const std::uint64_t start = card.counters().polls;
  ASSERT_TRUE(eventually([&] { return card.counters().polls >= start + n; }));
}

TEST(PortIoCardInterrupt, RemoteDmaCompletionRaisesTheHandlerOncePerEdge) {
  ChipPorts ports;
  PortIoCard card(ports, kBase, kFastPolls);
  HandlerCalls calls;
  card.set_interrupt_handler(calls.handler());
  card.write(kImr, 1, kIsrRdc);
  card.write(kCr, 1, kCrRunning);
  const std::vector<std::uint8_t> word{0x12, 0x34};

  remote_write(card, 0x4000, word);
  ASSERT_TRUE(eventually([&] { return calls.count == 1; }));
  // The line stays high until acknowledged: no second call.
  let_poller_run(card, 20);
  EXPECT_EQ(calls.count, 1u);

  // An acknowledgement drops the line; the next completion is a new edge.
  card.write(kIsr, 1, kIsrRdc);
  remote_write(card, 0x4002, word);
  ASSERT_TRUE(eventually([&] { return calls.count == 2; }));
  let_poller_run(card, 20);
  EXPECT_EQ(calls.count, 2u);
  EXPECT_EQ(card.counters().edges, 2u);
  EXPECT_EQ(ports.isr_reads_off_page0, 0u);
}

TEST(PortIoCardInterrupt, AckThatLeavesAnotherCauseKeepsTheLineHigh) {
  ChipPorts ports;
  PortIoCard card(ports, kBase, kFastPolls);
  HandlerCalls calls;
  card.set_interrupt_handler(calls.handler());
  card.write(kImr, 1, kIsrRdc | kIsrPtx);
  card.write(kCr, 1, kCrRunning);
  // A remote DMA completes, then a transmit adds PTX while the line is high.
  remote_write(card, 0x4000, std::vector<std::uint8_t>(60, 0xee));
  ASSERT_TRUE(eventually([&] { return calls.count == 1; }));
  card.write(kTpsr, 1, 0x40);
  card.write(kTbcr0, 2, 60);
  card.write(kCr, 1, kCrRunning | kCrTransmit);
  ASSERT_NE(ports.chip.read(kIsr, 1) & kIsrPtx, 0u);
  // Acknowledging RDC alone leaves PTX pending: the line never fell, so no
  // new edge, as an edge-triggered PIC would see it.
  card.write(kIsr, 1, kIsrRdc);
  let_poller_run(card, 20);
  EXPECT_EQ(calls.count, 1u);
  card.write(kIsr, 1, kIsrPtx);
  remote_write(card, 0x4000, std::vector<std::uint8_t>(2, 0));
  ASSERT_TRUE(eventually([&] { return calls.count == 2; }));
}

TEST(PortIoCardInterrupt, UnmaskingAPendingEventRaisesTheHandler) {
  ChipPorts ports;
  PortIoCard card(ports, kBase, kFastPolls);
  HandlerCalls calls;
  card.set_interrupt_handler(calls.handler());
  card.write(kCr, 1, kCrRunning);
  remote_write(card, 0x4000, std::vector<std::uint8_t>(2, 0));
  let_poller_run(card, 10);
  EXPECT_EQ(calls.count, 0u);  // masked
  // The IMR write re-reads ISR but must leave the rise to the poller, or the
  // edge would be recorded without anyone being told.
  card.write(kImr, 1, kIsrRdc);
  ASSERT_TRUE(eventually([&] { return calls.count == 1; }));
}

TEST(PortIoCardInterrupt, NoIsrReadWhilePage1IsSelected) {
  ChipPorts ports;
  PortIoCard card(ports, kBase, kFastPolls);
  HandlerCalls calls;
  card.set_interrupt_handler(calls.handler());
  card.write(kImr, 1, kIsrRdc);
  let_poller_run(card, 5);

  // Program a remote write on page 0, then select page 1 in the CR write that
  // starts it: the DMA completes while offset 7 is CURR.
  card.write(kDcr, 1, kDcrWord);
  card.write(kRbcr0, 2, 2);
  card.write(kRsar0, 2, 0x4000);
  card.write(kCr, 1, kCrPage1 | kCrRemoteWrite | kCrStart);
  const std::uint64_t polls_before = card.counters().polls;
  const unsigned isr_reads_before = ports.isr_reads;
  card.write(kDataPort, 2, 0xbeef);
  // A fixed wait is safe here: it can only let a failure go unseen, never
  // fail a correct card.
  std::this_thread::sleep_for(20 * kFastPolls.poll_interval);
  EXPECT_EQ(calls.count, 0u);
  EXPECT_EQ(ports.isr_reads, isr_reads_before);
  EXPECT_EQ(card.counters().polls, polls_before);

  // Back on page 0 the poller sees the completion.
  card.write(kCr, 1, kCrPage0 | kCrNoDma | kCrStart);
  ASSERT_TRUE(eventually([&] { return calls.count == 1; }));
  EXPECT_EQ(ports.isr_reads_off_page0, 0u);
}

TEST(PortIoCardInterrupt, ResetPortReturnsTrackingToPage0) {
  ChipPorts ports;
  PortIoCard card(ports, kBase, kFastPolls);
  HandlerCalls calls;
  card.set_interrupt_handler(calls.handler());
  card.write(kCr, 1, kCrPage1 | kCrStopped);
  const std::uint64_t polls_before = card.counters().polls;
  // Reading the reset port resets the card, which selects page 0 again.
  card.read(kResetPort, 1);
  EXPECT_EQ(ports.chip_page(), 0u);
  ASSERT_TRUE(eventually([&] { return card.counters().polls > polls_before; }));
  EXPECT_EQ(ports.isr_reads_off_page0, 0u);
}

TEST(PortIoCardInterrupt, ResetDropsTheLineAndRearmsTheEdge) {
  ChipPorts ports;
  PortIoCard card(ports, kBase, kFastPolls);
  HandlerCalls calls;
  card.set_interrupt_handler(calls.handler());
  card.write(kImr, 1, kIsrRdc);
  remote_write(card, 0x4000, std::vector<std::uint8_t>(2, 0));
  ASSERT_TRUE(eventually([&] { return calls.count == 1; }));
  // The reset clears ISR and IMR, so the driver unmasks again; the next
  // completion is a new edge.
  card.write(kResetPort, 1, 0);
  card.write(kImr, 1, kIsrRdc);
  remote_write(card, 0x4000, std::vector<std::uint8_t>(2, 0));
  ASSERT_TRUE(eventually([&] { return calls.count == 2; }));
}

TEST(PortIoCardInterrupt, DestructionStopsThePollerAndQuietsTheCard) {
  ChipPorts ports;
  HandlerCalls calls;
  {
    PortIoCard card(ports, kBase, kFastPolls);
    card.set_interrupt_handler(calls.handler());
    card.write(kImr, 1, kIsrRdc);
    card.write(kCr, 1, kCrRunning);
    let_poller_run(card, 3);
  }
  const unsigned isr_reads = ports.isr_reads;
  EXPECT_EQ(ports.chip.read(kCr, 1), kCrStopped);
  EXPECT_EQ(ports.read_back(kImr), 0u);
  // Nothing polls any more, even with an event pending.
  ports.chip.write(kRbcr0, 1, 0);
  ports.chip.write(kCr, 1, kCrPage0 | kCrRemoteRead | kCrStart);
  EXPECT_NE(ports.chip.read(kIsr, 1) & kIsrRdc, 0u);
  EXPECT_EQ(ports.isr_reads, isr_reads);
  EXPECT_EQ(calls.count, 0u);
}

}  // namespace

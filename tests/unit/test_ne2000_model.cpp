// The NE2000 model's verdicts on guest programming: a stock driver's sequence
// passes; each hostile programming is refused with the address it would have
// touched; in-flight tracking says when the card is reusable.
#include <gtest/gtest.h>

#include "devmodels/ne2000_model.hpp"

namespace vpio::devmodels {
namespace {

// Guest A's share: the lower half of card memory.
constexpr CardShare kLowerHalf{0x40, 0x60};

struct Programmer {
  Ne2000Model model{kLowerHalf};
  Verdict last;
  Programmer& w(std::uint16_t offset, unsigned value) {
    last = model.on_write(offset, static_cast<std::uint8_t>(value));
    return *this;
  }
  // Stop, ring 0x46..0x60, BNRY, page 1 CURR, start: what a driver does.
  Programmer& init(std::uint8_t pstart = 0x46, std::uint8_t pstop = 0x60) {
    w(0x00, 0x21).w(0x0e, 0x49).w(0x0a, 0).w(0x0b, 0).w(0x0c, 0x04).w(0x0d, 0x02);
    w(0x01, pstart).w(0x02, pstop).w(0x03, pstart);
    w(0x00, 0x61).w(0x07, static_cast<std::uint8_t>(pstart + 1)).w(0x00, 0x21);
    return w(0x00, 0x22);
  }
  Programmer& remote(std::uint16_t address, std::uint16_t count, bool write) {
    w(0x0a, count & 0xff).w(0x0b, count >> 8).w(0x08, address & 0xff).w(0x09, address >> 8);
    return w(0x00, write ? 0x12 : 0x0a);
  }
  Programmer& transmit(std::uint8_t page, std::uint16_t bytes) {
    w(0x04, page).w(0x05, bytes & 0xff).w(0x06, bytes >> 8);
    return w(0x00, 0x26);
  }
};

TEST(Ne2000Model, AStockDriverSequencePasses) {
  Programmer p;
  p.remote(0x0000, 32, false);  // PROM read
  EXPECT_TRUE(p.last.ok());
  p.init();
  EXPECT_TRUE(p.last.ok()) << violation_name(p.last.violation);
  p.remote(0x4000, 1514, true);  // frame into the TX pages
  EXPECT_TRUE(p.last.ok());
  EXPECT_TRUE(p.model.remote_dma_in_flight());
  EXPECT_FALSE(p.model.reusable());
  p.model.on_isr(0x40);  // RDC
  p.transmit(0x40, 1514);
  EXPECT_TRUE(p.last.ok());
  EXPECT_TRUE(p.model.transmit_in_flight());
  p.model.on_isr(0x02);  // PTX
  EXPECT_TRUE(p.model.reusable());
  // Reading a frame that wraps at PSTOP back to PSTART stays in the share.
  p.remote(0x5f00, 0x200, false);
  EXPECT_TRUE(p.last.ok()) << std::hex << p.last.card_address;
  p.w(0x03, 0x45);  // lib8390 parks BNRY at PSTART - 1
  EXPECT_TRUE(p.last.ok());
  EXPECT_EQ(p.model.registers().pstart, 0x46);
}

TEST(Ne2000Model, RemoteDmaOutsideTheShareIsRefused) {
  Programmer p;
  p.init();
  p.remote(0x6000, 16, false);  // the other guest's half
  EXPECT_EQ(p.last.violation, Violation::remote_dma_outside_share);
  EXPECT_EQ(p.last.card_address, 0x6000u);
  p.remote(0x5ff0, 0x40, true);  // runs past the share... but wraps at PSTOP (0x60)
  EXPECT_TRUE(p.last.ok());
  p.init(0x46, 0x50);
  p.remote(0x5000, 16, true);  // beyond PSTOP, inside the share: allowed (TX space)
  EXPECT_TRUE(p.last.ok());
  p.remote(0x2000, 16, false);  // neither PROM nor memory
  EXPECT_EQ(p.last.violation, Violation::remote_dma_outside_share);
  p.remote(0x0000, 16, true);  // writing the PROM
  EXPECT_EQ(p.last.violation, Violation::remote_dma_outside_share);
  // A huge count that wraps at PSTOP (0x50) back to PSTART forever stays in
  // the share; one that starts past PSTOP runs out of it.
  p.remote(0x4000, 0xffff, false);
  EXPECT_TRUE(p.last.ok()) << std::hex << p.last.card_address;
  p.remote(0x5800, 0x1000, false);
  EXPECT_EQ(p.last.violation, Violation::remote_dma_outside_share);
  EXPECT_EQ(p.last.card_address, 0x6000u);
}

TEST(Ne2000Model, TransmitsOutsideTheShareOrOfNoLengthAreRefused) {
  Programmer p;
  p.init();
  p.transmit(0x60, 60);  // another guest's pages
  EXPECT_EQ(p.last.violation, Violation::transmit_outside_share);
  EXPECT_EQ(p.last.card_address, 0x6000u);
  p.transmit(0x5f, 600);  // starts inside, runs out of the share
  EXPECT_EQ(p.last.violation, Violation::transmit_outside_share);
  EXPECT_EQ(p.last.card_address, 0x5f00u + 599);
  p.transmit(0x40, 0);
  EXPECT_EQ(p.last.violation, Violation::transmit_length);
  p.transmit(0x40, 0x4000);
  EXPECT_EQ(p.last.violation, Violation::transmit_length);
  EXPECT_FALSE(p.model.transmit_in_flight()) << "a refused transmit never started";
}

TEST(Ne2000Model, RingPointersOutsideTheShareOrInvertedAreRefused) {
  Programmer p;
  p.init(0x46, 0x70);  // PSTOP past the share
  EXPECT_EQ(p.last.violation, Violation::ring_outside_share);
  Programmer q;
  q.init(0x58, 0x50);  // PSTART >= PSTOP
  EXPECT_EQ(q.last.violation, Violation::ring_inverted);
  Programmer r;
  r.init();
  r.w(0x03, 0x7f);  // BNRY moved outside while running
  EXPECT_EQ(r.last.violation, Violation::ring_outside_share);
  EXPECT_EQ(r.last.card_address, 0x7f00u);
}

TEST(Ne2000Model, ResetWithATransmitInFlightIsRefused) {
  Programmer p;
  p.init();
  p.transmit(0x40, 60);
  ASSERT_TRUE(p.last.ok());
  p.w(0x1f, 0);
  EXPECT_EQ(p.last.violation, Violation::reset_while_busy);
  p.model.on_isr(0x02);
  p.w(0x1f, 0);
  EXPECT_TRUE(p.last.ok());
  EXPECT_TRUE(p.model.reusable());
}

}  // namespace
}  // namespace vpio::devmodels

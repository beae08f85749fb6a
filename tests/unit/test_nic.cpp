// The --nic specification parser and the emulated NIC's port plumbing.
#include <gtest/gtest.h>
#include <stdexcept>

#include "app/nic.hpp"
#include "devices/ne2000/ne2000.hpp"
#include "devices/ne2000/ne2000_monitor.hpp"
#include "net/frame_queue.hpp"
#include "net/hub.hpp"

namespace vpio {
namespace {

TEST(NicSpec, DefaultsAndEveryKey) {
  NicSpec d = parse_nic_spec("emulate");
  EXPECT_EQ(d.mode, NicMode::emulate);
  EXPECT_EQ(d.port, 0x300);
  EXPECT_EQ(d.irq, 9u);
  EXPECT_EQ(d.wire, "hub");
  EXPECT_FALSE(d.mac);
  EXPECT_FALSE(d.guest);

  NicSpec s = parse_nic_spec("vpio,port=0x280,irq=5,wire=hub:lab,mac=02:00:00:AA:bb:01,guest=3");
  EXPECT_EQ(s.mode, NicMode::vpio);
  EXPECT_EQ(s.port, 0x280);
  EXPECT_EQ(s.irq, 5u);
  EXPECT_EQ(s.wire, "hub:lab");
  ASSERT_TRUE(s.mac);
  EXPECT_EQ(s.mac->to_string(), "02:00:00:aa:bb:01");
  EXPECT_EQ(s.guest, 3u);
  EXPECT_EQ(parse_nic_spec("passthrough,port=768").port, 768);
  EXPECT_EQ(parse_nic_spec("emulate,wire=tap:vpio0").wire, "tap:vpio0");
  EXPECT_EQ(parse_nic_spec("emulate,wire=none").wire, "none");
  EXPECT_FALSE(parse_nic_spec("vpio").wire_given);
  EXPECT_TRUE(parse_nic_spec("vpio,wire=hub").wire_given);
  // A host card is named in one spelling, so two specs for it agree.
  EXPECT_EQ(parse_nic_spec("vpio").hw, "chip");
  EXPECT_FALSE(host_card_base(parse_nic_spec("vpio")));
  NicSpec card = parse_nic_spec("passthrough,hw=port:768");
  EXPECT_EQ(card.hw, "port:0x300");
  EXPECT_EQ(host_card_base(card), 0x300);
  EXPECT_EQ(parse_nic_spec("vpio,hw=port:0X3E0").hw, "port:0x3e0");
  // A PCI function for VFIO too: with its domain, in lowercase.
  const NicSpec pci = parse_nic_spec("vpio,model=rtl8139,hw=vfio:00:1F.7");
  EXPECT_EQ(pci.hw, "vfio:0000:00:1f.7");
  EXPECT_EQ(host_vfio_address(pci), "0000:00:1f.7");
  EXPECT_FALSE(host_card_base(pci));
  EXPECT_FALSE(host_vfio_address(card));
  for (const char* bad : {"vfio:", "vfio:0000:00:10", "vfio:00:20.0", "vfio:0000:00:10.8",
                          "vfio:0000:00:10.0x"})
    EXPECT_THROW(parse_nic_spec(std::string("vpio,model=rtl8139,hw=") + bad), std::invalid_argument)
        << bad;
  EXPECT_EQ(d.model, "ne2000");
  EXPECT_EQ(parse_nic_spec("vpio,model=ne2000").model, "ne2000");
  ASSERT_FALSE(devices::nic_kinds().empty());
  EXPECT_EQ(devices::nic_kinds()[0]->name, "ne2000");  // the default is the table's first
  EXPECT_FALSE(parse_nic_spec("vpio").tx_pages);
  EXPECT_EQ(parse_nic_spec("vpio,tx-pages=12").tx_pages, 12u);
}

// The device table: the NE2000 is there by name, with what the VMM builds
// its cards from, and the device decides what a spec's port and tx-pages
// may be, wherever model= stands in the spec.
TEST(NicSpec, TheDeviceTableGivesEachSpecItsDevice) {
  const devices::NicKind* kind = devices::find_nic_kind("ne2000");
  ASSERT_NE(kind, nullptr);
  EXPECT_EQ(devices::find_nic_kind("ne2k"), nullptr);
  EXPECT_EQ(devices::nic_kind_names(), "ne2000, template, rtl8139");
  EXPECT_EQ(kind->window_ports, 0x20);
  EXPECT_EQ(kind->pci.vendor, 0x10ec);
  EXPECT_EQ(kind->pci.device, 0x8029);
  EXPECT_EQ(kind->posted_offset, devices::Ne2000::kDataPort);
  EXPECT_TRUE(kind->make_chip && kind->make_stand_in && kind->make_host_card &&
              kind->make_monitor);
  EXPECT_EQ(&nic_kind(parse_nic_spec("emulate")), kind);
  // An unaligned port is refused whether model= comes before or after it.
  for (const char* spec : {"emulate,model=ne2000,port=0x310", "emulate,port=0x310,model=ne2000"}) {
    try {
      parse_nic_spec(spec);
      ADD_FAILURE() << spec << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("port=0x310: an NE2000's window is 0x20 ports"),
                std::string::npos)
          << e.what();
    }
  }
  // A chip the table makes is the device's own: its counts start at zero.
  const auto chip = kind->make_chip(default_mac(0));
  EXPECT_EQ(chip->counts().frames_received, 0u);
}

// The template device (devices/template/) is in the table too, for flat
// guests: its window, and no PCI function.
TEST(NicSpec, TheTemplateDeviceIsInTheTable) {
  const devices::NicKind* kind = devices::find_nic_kind("template");
  ASSERT_NE(kind, nullptr);
  EXPECT_EQ(kind->window_ports, 16);
  EXPECT_EQ(kind->pci.vendor, 0);
  EXPECT_TRUE(kind->make_chip && kind->make_stand_in && kind->make_monitor);
  EXPECT_FALSE(kind->make_host_card);
  const NicSpec spec = parse_nic_spec("vpio,model=template,port=0x310");
  EXPECT_EQ(&nic_kind(spec), kind);
}

// Where a guest has the card: port= wherever it is given; without it 0x300,
// but for an RTL8139's PCI function in a Linux guest, whose 0x100 ports
// would cover COM1 there: its BAR starts at 0xc000.
TEST(NicSpec, ALinuxGuestsRtl8139IsPlacedClearOfCom1) {
  const NicSpec rtl = parse_nic_spec("vpio,model=rtl8139");
  EXPECT_FALSE(rtl.port_given);
  EXPECT_EQ(guest_port(rtl, false), 0x300);
  EXPECT_EQ(guest_port(rtl, true), 0xc000);
  const NicSpec given = parse_nic_spec("vpio,model=rtl8139,port=0xd000");
  EXPECT_TRUE(given.port_given);
  EXPECT_EQ(guest_port(given, true), 0xd000);
  EXPECT_EQ(guest_port(given, false), 0xd000);
  EXPECT_EQ(guest_port(parse_nic_spec("emulate"), true), 0x300);
}

// Two buffers each while the card keeps a ring of 12 pages, else one.

TEST(NicSpec, TheDefaultTransmitAreaSplitsTheCardsMemory) {
  for (unsigned guests = 1; guests <= kMaxVpioGuests; ++guests) {
    const unsigned pages = devices::default_tx_pages(guests);
    EXPECT_EQ(pages, guests <= 4 ? 12u : 6u) << guests << " guests";
    EXPECT_GE(devices::kCardMemoryPages - guests * pages, devices::kMinRingPages) << guests << " guests";
  }
}

void expect_error(const std::string& spec, const std::string& named) {
  try {
    parse_nic_spec(spec);
    ADD_FAILURE() << spec << " accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(named), std::string::npos) << spec << " -> " << e.what();
  }
}

TEST(NicSpec, BadItemsAreNamed) {
  expect_error("", "unknown mode ''");
  expect_error("emulated", "'emulated'");
  expect_error("emulate,irq=16", "irq '16'");
  expect_error("emulate,irq=-1", "irq '-1'");
  expect_error("emulate,port=0x10000", "port '0x10000'");
  expect_error("emulate,port=0xffff", "port '0xffff'");  // the window would run past 0xffff
  // A card's window of 0x20 ports starts at a multiple of 0x20.
  expect_error("emulate,port=0x301",
               "--nic: port=0x301: an NE2000's window is 0x20 ports, so its base must be a "
               "multiple of 0x20");
  expect_error("vpio,port=0x310", "port=0x310: ");
  expect_error("passthrough,port=769", "port=769: ");
  EXPECT_EQ(parse_nic_spec("emulate,port=0xffe0").port, 0xffe0);
  EXPECT_EQ(parse_nic_spec("emulate,port=0x20").port, 0x20);
  expect_error("emulate,port=zz", "port 'zz'");
  expect_error("emulate,port=", "port ''");
  expect_error("emulate,mac=52:54:00:12:34", "mac '52:54:00:12:34'");
  expect_error("emulate,wire=cable", "wire 'cable'");
  expect_error("emulate,wire=tap:", "wire 'tap:'");
  expect_error("emulate,wire=tap:averyveryverylongname", "wire 'tap:");
  expect_error("emulate,speed=10", "unknown key 'speed'");
  expect_error("vpio,model=ne2k", "--nic: unknown model 'ne2k' (ne2000, template, rtl8139)");
  expect_error("emulate,model=rtl8139,port=0x320", "its base must be a multiple of 0x100");
  // The template device has a 16-port window and no tx-pages.
  expect_error("vpio,model=template,port=0x308", "port=0x308");
  expect_error("vpio,model=template,tx-pages=6", "tx-pages does not apply to model template");
  expect_error("vpio,model=", "unknown model ''");
  expect_error("emulate,irq", "'irq' is not KEY=VALUE");
  expect_error("emulate,,irq=3", "'' is not KEY=VALUE");
  expect_error("vpio,hw=port:0x310", "bad hw 'port:0x310'");   // not 32-byte aligned
  expect_error("vpio,hw=port:0x400", "hw port base '0x400'");  // past ioperm's reach
  expect_error("vpio,hw=port:0x80", "bad hw 'port:0x80'");
  expect_error("vpio,hw=port:", "hw port base ''");
  expect_error("vpio,hw=eth0", "bad hw 'eth0'");
  expect_error("vpio,tx-pages=5", "tx-pages must be at least 6");
  expect_error("vpio,tx-pages=53", "tx-pages '53'");  // the ring keeps 12 of 64 pages
}

TEST(NicSpec, AnMmioWindowIsPlacedOnlyForADeviceThatHasOne) {
  const NicSpec spec = parse_nic_spec("vpio,model=template,mmio=0xd0000000");
  ASSERT_TRUE(spec.mmio.has_value());
  EXPECT_EQ(*spec.mmio, 0xd0000000u);
  EXPECT_FALSE(parse_nic_spec("vpio,model=template").mmio.has_value());
  // The window's last page may be the last below 4 GiB.
  EXPECT_EQ(*parse_nic_spec("emulate,model=template,mmio=0xffffe000").mmio, 0xffffe000u);
  expect_error("emulate,mmio=0xd0000000", "mmio= does not apply to model ne2000");
  expect_error("emulate,model=template,mmio=0xd0000800", "mmio=0xd0000800 is not page-aligned");
  expect_error("emulate,model=template,mmio=0xfffff000", "must end below 4 GiB");
  expect_error("emulate,model=template,mmio=0x100000000", "bad mmio '0x100000000'");
  expect_error("emulate,model=template,mmio=high", "bad mmio 'high'");
}



// A card's own address is a station's: unicast and not all zeros.
TEST(NicSpec, GroupAndZeroMacsAreRefusedNamingTheValue) {
  expect_error("emulate,mac=ff:ff:ff:ff:ff:ff",
               "--nic: mac 'ff:ff:ff:ff:ff:ff' is a group address");
  expect_error("vpio,mac=01:00:5e:00:00:01", "mac '01:00:5e:00:00:01' is a group address");
  expect_error("vpio,mac=33:33:00:00:00:01", "mac '33:33:00:00:00:01' is a group address");
  expect_error("emulate,mac=00:00:00:00:00:00", "mac '00:00:00:00:00:00' is the all-zero address");
  EXPECT_EQ(parse_nic_spec("emulate,mac=02:00:00:00:00:00").mac->to_string(), "02:00:00:00:00:00");
}

TEST(NicSpec, StationMacErrorLooksAtTheGroupBitAndZero) {
  const auto mac = [](std::string_view text) { return *hw::MacAddress::parse(text); };
  EXPECT_FALSE(station_mac_error(mac("52:54:00:12:34:56")));
  EXPECT_FALSE(station_mac_error(mac("fe:ff:ff:ff:ff:ff")));  // locally administered, unicast
  EXPECT_FALSE(station_mac_error(mac("00:00:00:00:00:01")));
  EXPECT_TRUE(station_mac_error(mac("ff:ff:ff:ff:ff:ff")));
  EXPECT_TRUE(station_mac_error(mac("03:00:00:00:00:00")));
  EXPECT_TRUE(station_mac_error(mac("00:00:00:00:00:00")));
  for (unsigned i = 0; i < kMaxVpioGuests; ++i) EXPECT_FALSE(station_mac_error(default_mac(i)));
}

TEST(NicSpec, DefaultMacsDifferPerGuest) {
  EXPECT_EQ(default_mac(0).to_string(), "52:54:00:12:34:56");
  EXPECT_EQ(default_mac(1).to_string(), "52:54:00:12:34:57");
}

// Port accesses reach the chip; a transmit reaches the wire; a received frame
// raises the IRQ through the callback.
// The message of plan_nics' refusal, or "" when it accepts the options.
std::string nic_plan_error(const std::vector<std::string>& texts, std::size_t guests) {
  try {
    plan_nics(texts, guests);
    return "";
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}

TEST(NicPlan, CountsEachCardsSharersAndKeepsTheSpecsInOrder) {
  const NicPlan plan = plan_nics({"vpio", "vpio,hw=port:0x300,guest=1", "emulate,port=0x280"}, 3);
  ASSERT_EQ(plan.specs.size(), 3u);
  EXPECT_EQ(plan.specs[1].hw, "port:0x300");
  EXPECT_EQ(plan.specs[2].mode, NicMode::emulate);
  EXPECT_EQ(plan.sharers.at("chip"), 3u);
  EXPECT_EQ(plan.sharers.at("port:0x300"), 1u);
  EXPECT_EQ(plan.sharers.size(), 2u);  // emulated cards share nothing
}

TEST(NicPlan, RefusesWhatNoCardCanDoNamingTheCardAndGuests) {
  EXPECT_EQ(nic_plan_error({"passthrough,guest=0", "passthrough,guest=1,port=0x280"}, 2),
            "--nic: physical card 'chip' given by passthrough to guests 0 and 1; passthrough "
            "cannot share a card");
  EXPECT_NE(nic_plan_error({"passthrough"}, 2).find("with several guests add guest=N"),
            std::string::npos);
  EXPECT_EQ(nic_plan_error({"passthrough", "vpio,port=0x280"}, 1),
            "--nic: physical card 'chip' is given by passthrough and shared by vpio; a card is "
            "one or the other");
  EXPECT_EQ(nic_plan_error({"vpio,guest=2"}, 2),
            "--nic: guest=2 but only 2 guest(s) given (guests count from 0)");
  EXPECT_EQ(nic_plan_error({"vpio,mac=02:00:00:00:00:01"}, 2),
            "--nic: mac= with several guests needs guest=N");
  EXPECT_EQ(nic_plan_error({"vpio"}, kMaxVpioGuests), "");
  EXPECT_EQ(nic_plan_error({"vpio", "vpio,port=0x280,guest=0"}, kMaxVpioGuests),
            "--nic: 9 guests share card 'chip' in vpio mode; at most 8 fit its memory");
}

TEST(EmulatedNic, PortsReachTheChipAndTheWire) {
  int irqs = 0;
  GuestMemory ram(2 << 20);
  EmulatedNic nic(devices::nic_kinds()[0]->make_chip(default_mac(0)), default_mac(0),
                  [&] { ++irqs; }, ram);
  net::Hub hub;
  net::FrameQueue far_end(16);
  nic.chip().set_transmit_sink(&hub.attach(nic.chip(), "nic"));
  net::HubPort& far_port = hub.attach(far_end, "far");

  nic.port_write(devices::Ne2000::kResetPort, 1, 0);
  EXPECT_EQ(nic.port_read(0x07, 1) & 0x80, 0x80u) << "ISR.RST after reset";
  // Stop, word mode, ring 0x46-0x80, accept broadcast, start.
  nic.port_write(0x00, 1, 0x21);
  nic.port_write(0x0e, 1, 0x49);
  nic.port_write(0x01, 1, 0x46);
  nic.port_write(0x02, 1, 0x80);
  nic.port_write(0x03, 1, 0x46);
  nic.port_write(0x0c, 1, 0x04);
  nic.port_write(0x0d, 1, 0x00);
  nic.port_write(0x00, 1, 0x61);  // page 1
  nic.port_write(0x07, 1, 0x47);  // CURR
  nic.port_write(0x00, 1, 0x22);  // page 0, start
  nic.port_write(0x07, 1, 0xff);
  nic.port_write(0x0f, 1, 0x01);  // IMR: PRX

  // Remote-DMA a 60-byte frame into page 0x40 with string I/O, transmit it.
  std::vector<std::uint8_t> frame(60, 0xab);
  for (int i = 0; i < 6; ++i) frame[static_cast<std::size_t>(i)] = 0xff;
  nic.port_write(0x0a, 1, 60);
  nic.port_write(0x0b, 1, 0);
  nic.port_write(0x08, 1, 0);
  nic.port_write(0x09, 1, 0x40);
  nic.port_write(0x00, 1, 0x12);  // remote write, start
  nic.port_write_string(devices::Ne2000::kDataPort, 2, frame);
  nic.port_write(0x04, 1, 0x40);
  nic.port_write(0x05, 1, 60);
  nic.port_write(0x06, 1, 0);
  nic.port_write(0x00, 1, 0x26);  // transmit
  auto sent = far_end.pop(std::chrono::milliseconds(100));
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, frame);

  far_port.deliver(frame);  // broadcast back
  EXPECT_EQ(irqs, 1);
  EXPECT_EQ(nic.chip().counts().frames_received, 1u);
}

}  // namespace
}  // namespace vpio

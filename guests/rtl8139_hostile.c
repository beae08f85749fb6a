/* A hostile guest on a shared RTL8139 (vpio mode, devices/rtl8139/): it
   brings its card up with guests/rtl8139/'s driver, sends a few frames of
   its own, then programs the card illegitimately once and expects the
   Device Modeling Monitor's machine check: the RTL8139 model's code in
   MCi_STATUS bits 31:16 and the address it names in MCi_ADDR
   (guest-physical for DMA). One source, one image per case:
   -DRTL_HOSTILE_CASE=RTL_HOSTILE_<CASE>. The guest's RAM is vpio's default
   64 MiB (the test runs it so).
   Exit status: 0 the expected machine check came, once; 1 a different one
   came; 2 none came; 3 the card never came up; 4 its own frames failed;
   5 the expected one came more than once. */
#include "rtl8139/rtl8139.h"
#include "runtime/guest.h"

#define RTL_HOSTILE_TX_OUTSIDE \
  1                          /* a slot past the guest's RAM (another guest's, for all it knows) */
#define RTL_HOSTILE_TX_VMM 2 /* a slot at the top of the 32-bit space (no guest's RAM: the VMM's) \
                              */
#define RTL_HOSTILE_TX_PAST_END 3 /* a slot starting in RAM and running past its end */
#define RTL_HOSTILE_TX_SIZE 4     /* a slot longer than the FIFO */
#define RTL_HOSTILE_RING 5        /* the receive ring moved to run past the end of RAM */
#define RTL_HOSTILE_CPLUS 6       /* C+ mode enabled (CPCR) */
#define RTL_HOSTILE_EEPROM 7      /* an EEPROM write-enable command through 9346CR */

#ifndef RTL_HOSTILE_CASE
#error "define RTL_HOSTILE_CASE as one of the RTL_HOSTILE_* cases"
#endif

#define NIC_IOBASE 0x300
#define GUEST_RAM_BYTES (64u << 20)
#define OWN_FRAMES 5
#define SETTLE_POLLS 2000000u

#define DMM_MC_STATUS_BITS 0xbc00000000000000ull
#define DMM_MC_CODE_SHIFT 16
#define DMM_MC_MCA_CODE 0x082bull

/* The model's codes (devices/rtl8139/rtl8139_model.hpp). */
#define VIOLATION_TX_SIZE 1
#define VIOLATION_TX_ADDRESS 2
#define VIOLATION_RX_RING 3
#define VIOLATION_CPLUS 4
#define VIOLATION_EEPROM_WRITE 5

#define RTL_CPCR 0xe0
#define RTL_CFG9346 0x50
#define EEPROM_PROGRAM 0x80
#define EEPROM_CS 0x08
#define EEPROM_SK 0x04
#define EEPROM_DI 0x02
/* EWEN on a 93C56: start bit, opcode 00, address 11xxxxxx. */
#define EEPROM_EWEN_COMMAND 0x4ffu
#define EEPROM_EWEN_BITS 11
#define EEPROM_EWEN_ADDRESS 0xffu

static struct rtl_card card;
static uint8_t frame[64];
static volatile unsigned expected_seen, wrong_seen;
static uint16_t expected_code;
static uint64_t expected_addr;

void on_machine_check(const struct machine_check_info* info) {
  const uint64_t status =
      DMM_MC_STATUS_BITS | ((uint64_t)expected_code << DMM_MC_CODE_SHIFT) | DMM_MC_MCA_CODE;
  if (info->status == status && info->addr == expected_addr)
    ++expected_seen;
  else
    ++wrong_seen;
}

static void expect(uint16_t code, uint64_t addr) {
  expected_code = code;
  expected_addr = addr;
}

#if RTL_HOSTILE_CASE == RTL_HOSTILE_EEPROM
static void eeprom_write_enable(void) {
  const uint8_t enable = EEPROM_PROGRAM | EEPROM_CS;
  rtl_write8(&card, RTL_CFG9346, EEPROM_PROGRAM);
  rtl_write8(&card, RTL_CFG9346, enable);
  for (int bit = EEPROM_EWEN_BITS - 1; bit >= 0; --bit) {
    const uint8_t data = (EEPROM_EWEN_COMMAND >> bit) & 1 ? EEPROM_DI : 0;
    rtl_write8(&card, RTL_CFG9346, enable | data);
    rtl_write8(&card, RTL_CFG9346, enable | data | EEPROM_SK);
  }
  rtl_write8(&card, RTL_CFG9346, 0);
}
#endif

int main(void) {
  idt_install();
  if (rtl_open(&card, NIC_IOBASE, 0) != 0) {
    print("rtl8139_hostile: no card\n");
    guest_exit(3);
  }
  /* A few frames of its own first (to a nobody): the card works for it. */
  memset(frame, 0, sizeof frame);
  frame[0] = 0x02;
  memcpy(frame + 6, card.mac, RTL_MAC_BYTES);
  frame[12] = 0x88;
  frame[13] = 0xb7;
  for (unsigned i = 0; i < OWN_FRAMES; ++i)
    if (rtl_send(&card, frame, sizeof frame) != 0) guest_exit(4);
  /* Let the others get going. */
  for (volatile uint32_t i = 0; i < SETTLE_POLLS; ++i) {
  }
  const uint32_t slot_buffer = rtl_read32(&card, RTL_TSAD0);
  const uint16_t tsd = RTL_TSD0 + 4 * (uint16_t)card.tx_next;
  const uint16_t tsad = RTL_TSAD0 + 4 * (uint16_t)card.tx_next;
#if RTL_HOSTILE_CASE == RTL_HOSTILE_TX_OUTSIDE
  expect(VIOLATION_TX_ADDRESS, 0x10000000u);
  rtl_write32(&card, tsad, 0x10000000u);
  rtl_write32(&card, tsd, 100);
#elif RTL_HOSTILE_CASE == RTL_HOSTILE_TX_VMM
  expect(VIOLATION_TX_ADDRESS, 0xfffff000u);
  rtl_write32(&card, tsad, 0xfffff000u);
  rtl_write32(&card, tsd, 100);
#elif RTL_HOSTILE_CASE == RTL_HOSTILE_TX_PAST_END
  expect(VIOLATION_TX_ADDRESS, GUEST_RAM_BYTES - 100);
  rtl_write32(&card, tsad, GUEST_RAM_BYTES - 100);
  rtl_write32(&card, tsd, 1000);
#elif RTL_HOSTILE_CASE == RTL_HOSTILE_TX_SIZE
  (void)tsad;
  expect(VIOLATION_TX_SIZE, slot_buffer);
  rtl_write32(&card, RTL_TSD0, 0x1fff);
  (void)tsd;
#elif RTL_HOSTILE_CASE == RTL_HOSTILE_RING
  (void)tsd, (void)tsad;
  expect(VIOLATION_RX_RING, GUEST_RAM_BYTES - 0x1000);
  rtl_write32(&card, RTL_RBSTART, GUEST_RAM_BYTES - 0x1000);
#elif RTL_HOSTILE_CASE == RTL_HOSTILE_CPLUS
  (void)tsd, (void)tsad;
  expect(VIOLATION_CPLUS, RTL_CPCR);
  rtl_write16(&card, RTL_CPCR, 0x0001);
#elif RTL_HOSTILE_CASE == RTL_HOSTILE_EEPROM
  (void)tsd, (void)tsad;
  expect(VIOLATION_EEPROM_WRITE, EEPROM_EWEN_ADDRESS);
  eeprom_write_enable();
#endif
  (void)slot_buffer;
  if (wrong_seen) {
    print("rtl8139_hostile: a different machine check came\n");
    guest_exit(1);
  }
  if (expected_seen == 0) {
    print("rtl8139_hostile: no machine check\n");
    guest_exit(2);
  }
  if (expected_seen > 1) guest_exit(5);
  print("rtl8139_hostile: machine check as expected\n");
  guest_exit(0);
}

/* A polling driver of an RTL8139 in classic mode (devices/rtl8139/) for
   flat test guests: four transmit slots and an 8 KiB receive ring in the
   guest's own RAM, which the card reaches by DMA at guest-physical
   addresses (the guest runs identity-mapped). Registers by port I/O, or
   through the card's MMIO window (--nic ...,model=rtl8139,mmio=ADDRESS). */
#ifndef VPIO_GUEST_RTL8139_H
#define VPIO_GUEST_RTL8139_H

#include <stddef.h>
#include <stdint.h>

#define RTL_MAC_BYTES 6
#define RTL_MAX_FRAME 1514
#define RTL_TX_SLOTS 4

struct rtl_card {
  uint16_t iobase;
  volatile uint8_t* mmio; /* the register window in memory, or 0: ports */
  uint8_t mac[RTL_MAC_BYTES];
  unsigned tx_next;   /* the slot the next frame goes in */
  uint32_t rx_offset; /* where the next received frame starts in the ring */
};

/* Resets the card, reads its MAC and sets up its slots and ring. With
   `mmio` non-zero, registers are reached through the MMIO window there.
   Returns 0, or <0 when nothing answers. */
int rtl_open(struct rtl_card* card, uint16_t iobase, uintptr_t mmio);
/* Sends one frame (14..1514 bytes) and waits for the card to report it.
   Returns 0, or <0 when the card never did or aborted it. */
int rtl_send(struct rtl_card* card, const void* frame, size_t len);
/* The next received frame into buf: its length, 0 when none came within
   max_polls reads of CR, <0 when it did not fit (it is dropped). */
int rtl_receive(struct rtl_card* card, void* buf, size_t cap, uint32_t max_polls);

/* The card's registers, for tests that program it by hand. */
uint8_t rtl_read8(const struct rtl_card* card, uint16_t reg);
uint16_t rtl_read16(const struct rtl_card* card, uint16_t reg);
uint32_t rtl_read32(const struct rtl_card* card, uint16_t reg);
void rtl_write8(const struct rtl_card* card, uint16_t reg, uint8_t value);
void rtl_write16(const struct rtl_card* card, uint16_t reg, uint16_t value);
void rtl_write32(const struct rtl_card* card, uint16_t reg, uint32_t value);

#define RTL_IDR0 0x00
#define RTL_TSD0 0x10
#define RTL_TSAD0 0x20
#define RTL_RBSTART 0x30
#define RTL_CR 0x37
#define RTL_CAPR 0x38
#define RTL_IMR 0x3c
#define RTL_ISR 0x3e
#define RTL_TCR 0x40
#define RTL_RCR 0x44
#define RTL_CR_BUFE 0x01
#define RTL_CR_TE 0x04
#define RTL_CR_RE 0x08
#define RTL_CR_RST 0x10
#define RTL_TSD_OWN 0x2000u
#define RTL_TSD_TUN 0x4000u
#define RTL_TSD_TOK 0x8000u
#define RTL_TSD_TABT 0x40000000u
#define RTL_ISR_ROK 0x0001
#define RTL_ISR_TOK 0x0004
#define RTL_ISR_TER 0x0008
#define RTL_ISR_RXOVW 0x0010
#define RTL_RX_OK 0x0001

#endif

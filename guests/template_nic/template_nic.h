/* A polling driver of vpio's template device (devices/template/
   template_nic.hpp: its 16-port window) for flat test guests. */
#ifndef VPIO_GUEST_TEMPLATE_NIC_H
#define VPIO_GUEST_TEMPLATE_NIC_H

#include <stddef.h>
#include <stdint.h>

#define TN_CMD 0x0
#define TN_STATUS 0x1
#define TN_LEN 0x2
#define TN_DATA 0x4
#define TN_IMR 0x6
#define TN_CONFIG 0x7
#define TN_MAC 0x8
#define TN_CMD_SEND 0x01
#define TN_CMD_NEXT 0x02
#define TN_CMD_RESET 0x80
#define TN_STATUS_RECEIVED 0x01
#define TN_STATUS_SENT 0x02
#define TN_MAC_BYTES 6
#define TN_MAX_FRAME 1514

/* The card's MMIO window (vpio run --nic ...,mmio=ADDRESS): page 0 the
   registers, page 1 the transmit buffer as memory. */
#define TN_MMIO_TX_BUFFER 0x1000

struct tn_card {
  uint16_t iobase;
  uint8_t mac[TN_MAC_BYTES];
  /* The transmit buffer in the MMIO window, or 0: sends go through DATA. */
  volatile uint64_t* tx_buffer;
};

/* Resets the card and reads its MAC. Returns 0, or <0 when nothing answers. */
int tn_open(struct tn_card* card, uint16_t iobase);
/* Sends from now on by writing frames into the transmit buffer of the
   card's MMIO window at `mmio` (identity-mapped), not through DATA. */
void tn_use_mmio(struct tn_card* card, uintptr_t mmio);
/* Sends one frame (14..1514 bytes) and waits for the card to report it.
   Returns 0, or <0 when the card never did. */
int tn_send(struct tn_card* card, const void* frame, size_t len);
/* The next received frame into buf: its length, 0 when none came within
   max_polls reads of STATUS, <0 when it did not fit (it is dropped). */
int tn_receive(struct tn_card* card, void* buf, size_t cap, uint32_t max_polls);

#endif

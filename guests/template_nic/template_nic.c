/* A polling driver of vpio's template device. */
#include "template_nic/template_nic.h"

#include "runtime/guest.h"

#define TN_SEND_POLLS 100000

int tn_open(struct tn_card* card, uint16_t iobase) {
  card->iobase = iobase;
  card->tx_buffer = 0;
  outb(iobase + TN_CMD, TN_CMD_RESET);
  if (inb(iobase + TN_STATUS) == 0xff) return -1; /* an empty bus */
  for (unsigned i = 0; i < TN_MAC_BYTES; ++i) card->mac[i] = inb((uint16_t)(iobase + TN_MAC + i));
  outb(iobase + TN_IMR, 0); /* polling */
  return 0;
}

void tn_use_mmio(struct tn_card* card, uintptr_t mmio) {
  card->tx_buffer = (volatile uint64_t*)(mmio + TN_MMIO_TX_BUFFER);
}

int tn_send(struct tn_card* card, const void* frame, size_t len) {
  const uint16_t base = card->iobase;
  const uint8_t* bytes = frame;
  outw(base + TN_LEN, (uint16_t)len);
  if (card->tx_buffer != 0) {
    /* Whole quadwords: the buffer is a page, the frame at most 1514 bytes. */
    for (size_t i = 0; i < len; i += 8) {
      uint64_t q = 0;
      memcpy(&q, bytes + i, len - i < 8 ? len - i : 8);
      card->tx_buffer[i / 8] = q;
    }
  } else {
    outsw(base + TN_DATA, bytes, len / 2);
    if (len % 2 != 0) outb(base + TN_DATA, bytes[len - 1]);
  }
  outb(base + TN_CMD, TN_CMD_SEND);
  for (uint32_t i = 0; i < TN_SEND_POLLS; ++i) {
    if (inb(base + TN_STATUS) & TN_STATUS_SENT) {
      outb(base + TN_STATUS, TN_STATUS_SENT);
      return 0;
    }
  }
  return -1;
}

int tn_receive(struct tn_card* card, void* buf, size_t cap, uint32_t max_polls) {
  const uint16_t base = card->iobase;
  for (uint32_t i = 0; i < max_polls; ++i) {
    if ((inb(base + TN_STATUS) & TN_STATUS_RECEIVED) == 0) continue;
    const uint16_t len = inw(base + TN_LEN);
    if (len > cap) {
      outb(base + TN_CMD, TN_CMD_NEXT);
      return -1;
    }
    insw(base + TN_DATA, buf, len / 2);
    if (len % 2 != 0) ((uint8_t*)buf)[len - 1] = inb(base + TN_DATA);
    outb(base + TN_CMD, TN_CMD_NEXT);
    return len;
  }
  return 0;
}

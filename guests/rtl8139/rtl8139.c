/* A polling driver of the RTL8139, shaped after Linux's 8139too: slots
   programmed once, one TSD write per frame, the ring read while CR.BUFE is
   clear with CAPR written after each frame. */
#include "rtl8139/rtl8139.h"

#include "runtime/guest.h"

#define RTL_SLOT_BYTES 1792
#define RTL_RING_BYTES 8192
/* Past the ring: 16 bytes, and room for a frame that runs on (NoWrap). */
#define RTL_RING_PAD 2048
#define RTL_RCR_SETUP 0x0000e78au /* RXFTH 7, MXDMA 7, NoWrap, 8 KiB, AB, APM */
#define RTL_TCR_SETUP 0x03000680u /* IFG 9.6 us, MXDMA 1 KiB, 8 retries */
#define RTL_TSD_THRESHOLD 0x00080000u
#define RTL_RESET_POLLS 1000
#define RTL_SEND_POLLS 100000

static uint8_t tx_slots[RTL_TX_SLOTS][RTL_SLOT_BYTES] __attribute__((aligned(16)));
static uint8_t rx_ring[RTL_RING_BYTES + RTL_RING_PAD] __attribute__((aligned(16)));

uint8_t rtl_read8(const struct rtl_card* card, uint16_t reg) {
  return card->mmio ? card->mmio[reg] : inb((uint16_t)(card->iobase + reg));
}
uint16_t rtl_read16(const struct rtl_card* card, uint16_t reg) {
  return card->mmio ? *(volatile uint16_t*)(card->mmio + reg) : inw((uint16_t)(card->iobase + reg));
}
uint32_t rtl_read32(const struct rtl_card* card, uint16_t reg) {
  return card->mmio ? *(volatile uint32_t*)(card->mmio + reg) : inl((uint16_t)(card->iobase + reg));
}
void rtl_write8(const struct rtl_card* card, uint16_t reg, uint8_t value) {
  if (card->mmio)
    card->mmio[reg] = value;
  else
    outb((uint16_t)(card->iobase + reg), value);
}
void rtl_write16(const struct rtl_card* card, uint16_t reg, uint16_t value) {
  if (card->mmio)
    *(volatile uint16_t*)(card->mmio + reg) = value;
  else
    outw((uint16_t)(card->iobase + reg), value);
}
void rtl_write32(const struct rtl_card* card, uint16_t reg, uint32_t value) {
  if (card->mmio)
    *(volatile uint32_t*)(card->mmio + reg) = value;
  else
    outl((uint16_t)(card->iobase + reg), value);
}

int rtl_open(struct rtl_card* card, uint16_t iobase, uintptr_t mmio) {
  card->iobase = iobase;
  card->mmio = (volatile uint8_t*)mmio;
  card->tx_next = 0;
  card->rx_offset = 0;
  if (rtl_read32(card, RTL_TCR) == 0xffffffffu) return -1; /* an empty bus */
  rtl_write8(card, RTL_CR, RTL_CR_RST);
  for (unsigned i = 0; (rtl_read8(card, RTL_CR) & RTL_CR_RST) != 0; ++i)
    if (i == RTL_RESET_POLLS) return -1;
  for (unsigned i = 0; i < RTL_MAC_BYTES; ++i) card->mac[i] = rtl_read8(card, (uint16_t)(RTL_IDR0 + i));
  rtl_write32(card, RTL_RBSTART, (uint32_t)(uintptr_t)rx_ring);
  rtl_write8(card, RTL_CR, RTL_CR_RE | RTL_CR_TE);
  rtl_write32(card, RTL_RCR, RTL_RCR_SETUP);
  rtl_write32(card, RTL_TCR, RTL_TCR_SETUP);
  for (unsigned slot = 0; slot < RTL_TX_SLOTS; ++slot)
    rtl_write32(card, (uint16_t)(RTL_TSAD0 + 4 * slot), (uint32_t)(uintptr_t)tx_slots[slot]);
  rtl_write16(card, RTL_IMR, 0); /* polling */
  return 0;
}

int rtl_send(struct rtl_card* card, const void* frame, size_t len) {
  const unsigned slot = card->tx_next;
  const uint16_t tsd = (uint16_t)(RTL_TSD0 + 4 * slot);
  const size_t padded = len < 60 ? 60 : len; /* the chip does not pad */
  memcpy(tx_slots[slot], frame, len);
  memset(tx_slots[slot] + len, 0, padded - len);
  rtl_write32(card, tsd, RTL_TSD_THRESHOLD | (uint32_t)padded);
  card->tx_next = (slot + 1) % RTL_TX_SLOTS;
  for (uint32_t i = 0; i < RTL_SEND_POLLS; ++i) {
    const uint32_t status = rtl_read32(card, tsd);
    if ((status & (RTL_TSD_TOK | RTL_TSD_TABT | RTL_TSD_TUN)) == 0) continue;
    rtl_write16(card, RTL_ISR, RTL_ISR_TOK | RTL_ISR_TER);
    return (status & RTL_TSD_TOK) ? 0 : -1;
  }
  return -1;
}

int rtl_receive(struct rtl_card* card, void* buf, size_t cap, uint32_t max_polls) {
  for (uint32_t i = 0; i < max_polls; ++i) {
    if (rtl_read8(card, RTL_CR) & RTL_CR_BUFE) continue;
    const uint8_t* at = rx_ring + card->rx_offset;
    uint32_t header;
    memcpy(&header, at, sizeof header);
    const uint32_t length = header >> 16; /* with the FCS */
    if ((header & RTL_RX_OK) == 0 || length < 18 || length > RTL_SLOT_BYTES + 4) {
      /* 8139too's recovery: the receiver off and on starts the ring over. */
      printf("rtl8139: bad receive header %x at %u\n", header, card->rx_offset);
      rtl_write8(card, RTL_CR, RTL_CR_TE);
      rtl_write8(card, RTL_CR, RTL_CR_RE | RTL_CR_TE);
      card->rx_offset = 0;
      continue;
    }
    const size_t frame = length - 4;
    int result = (int)frame;
    if (frame <= cap)
      memcpy(buf, at + 4, frame);
    else
      result = -1;
    card->rx_offset = ((card->rx_offset + length + 4 + 3) & ~3u) % RTL_RING_BYTES;
    rtl_write16(card, RTL_CAPR, (uint16_t)(card->rx_offset - 16));
    rtl_write16(card, RTL_ISR, RTL_ISR_ROK | RTL_ISR_RXOVW);
    return result;
  }
  return 0;
}

/* Transmit-only workload for the benchmarks: sends BLAST_FRAMES frames of
   BLAST_BYTES bytes to a fixed unicast address as fast as the card takes them,
   receiving nothing. Exits 0 when every send completed. With BLAST_VARY, frame
   i is 60 + (i * 97) % 1455 bytes long instead (odd and even lengths, short
   and long), BLAST_BYTES being the largest. */
#include "ne2000/ne2000.h"
#include "runtime/guest.h"

#ifndef BLAST_FRAMES
#define BLAST_FRAMES 1000
#endif
#ifndef BLAST_BYTES
#define BLAST_BYTES 64
#endif
#define NIC_IOBASE 0x300
#define ETHERTYPE_BLAST 0x88b6
#define STATUS_NO_CARD 2
#define STATUS_SEND_FAILED 3

static uint8_t frame[BLAST_BYTES];

int main(void) {
  static const uint8_t sink_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  struct ne_card card;
  idt_install();
  if (ne_probe(&card, NIC_IOBASE) < 0 || ne_init(&card, NE_MODE_BROADCAST) < 0)
    return STATUS_NO_CARD;
  memcpy(frame, sink_mac, 6);
  memcpy(frame + 6, card.mac, 6);
  frame[12] = ETHERTYPE_BLAST >> 8;
  frame[13] = ETHERTYPE_BLAST & 0xff;
  unsigned failed = 0;
  for (unsigned i = 0; i < BLAST_FRAMES; ++i) {
    frame[14] = (uint8_t)i;
    frame[15] = (uint8_t)(i >> 8);
#ifdef BLAST_VARY
    const unsigned length = 60 + (i * 97) % (BLAST_BYTES - 59);
    for (unsigned k = 16; k < length; ++k) frame[k] = (uint8_t)(i * 31 + k);
#else
    const unsigned length = sizeof frame;
#endif
    if (ne_send(&card, frame, length) < 0) ++failed;
  }
  printf("blast: sent %u frames of %u bytes, %u failed\n", BLAST_FRAMES - failed,
         (unsigned)BLAST_BYTES, failed);
  return failed == 0 ? 0 : STATUS_SEND_FAILED;
}

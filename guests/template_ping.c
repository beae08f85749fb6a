/* Two flat guests on vpio's template device (devices/template/), or with
   PING_RTL8139 on an RTL8139 (see below): the pinger
   (TEMPLATE_PING_ROLE 0) sends PING_FRAMES frames of varying size to the
   echo (role 1, the next default MAC) and checks that each comes back
   intact; then it sends DONE, and the echo exits. Exit statuses: 0 all
   echoed; 10 no card; 11 a send the card never reported; 12 an echo lost
   after retries; 13 an echo that differs; 14 the echo heard nothing.
   Built with TEMPLATE_MMIO set, a guest sends through the transmit buffer
   in the card's MMIO window at that address (--nic ...,mmio=ADDRESS). */
#include "runtime/guest.h"

#ifdef PING_RTL8139
/* The same exchange on an RTL8139 (guests/rtl8139/), its registers through
   the MMIO window when TEMPLATE_MMIO is set; messages say "rtl8139_ping". */
#include "rtl8139/rtl8139.h"
#define PING_NAME "rtl8139_ping"
#define TN_MAC_BYTES RTL_MAC_BYTES
#define TN_MAX_FRAME RTL_MAX_FRAME
#define tn_card rtl_card
#define tn_send rtl_send
#define tn_receive rtl_receive
#ifdef TEMPLATE_MMIO
#define tn_open(card, iobase) rtl_open(card, iobase, TEMPLATE_MMIO)
#else
#define tn_open(card, iobase) rtl_open(card, iobase, 0)
#endif
#else
#include "template_nic/template_nic.h"
#define PING_NAME "template_ping"
#endif

#define NIC_IOBASE 0x300
#define PING_FRAMES 200
#define ECHO_POLLS 200000
#define RETRIES 20
#define IDLE_POLLS 50000000u
#define TYPE_PING 0xb5
#define TYPE_DONE 0xb6

static struct tn_card card;
static uint8_t tx[TN_MAX_FRAME];
static uint8_t rx[TN_MAX_FRAME];

#if TEMPLATE_PING_ROLE == 0
static size_t frame(const uint8_t* to, uint8_t type, uint32_t seq) {
  const size_t len = 60 + (seq * 97) % (TN_MAX_FRAME - 59);
  memcpy(tx, to, TN_MAC_BYTES);
  memcpy(tx + 6, card.mac, TN_MAC_BYTES);
  tx[12] = 0x88;
  tx[13] = type;
  memcpy(tx + 14, &seq, sizeof seq);
  for (size_t i = 18; i < len; ++i) tx[i] = (uint8_t)(seq * 13 + i);
  return len;
}
#endif

static void send_or_exit(size_t len) {
  if (tn_send(&card, tx, len) != 0) {
    print(PING_NAME ": the card never reported a send\n");
    guest_exit(11);
  }
}

#if TEMPLATE_PING_ROLE == 0
static void pinger(void) {
  uint8_t peer[TN_MAC_BYTES];
  memcpy(peer, card.mac, TN_MAC_BYTES);
  peer[5] = (uint8_t)(peer[5] + 1);
  for (uint32_t seq = 0; seq < PING_FRAMES; ++seq) {
    const size_t len = frame(peer, TYPE_PING, seq);
    int got = 0;
    for (unsigned attempt = 0; attempt < RETRIES && got <= 0; ++attempt) {
      send_or_exit(len);
      /* The echo may not be up yet: the first frames go again. */
      while ((got = tn_receive(&card, rx, sizeof rx, ECHO_POLLS)) > 0) {
        uint32_t echoed_seq = 0;
        if (got < 18 || rx[13] != TYPE_PING || memcmp(rx, card.mac, 6) != 0 ||
            memcmp(rx + 6, peer, 6) != 0)
          continue;
        memcpy(&echoed_seq, rx + 14, sizeof echoed_seq);
        if (echoed_seq != seq) continue; /* an earlier frame's echo, sent again */
        if ((size_t)got != len || memcmp(rx + 12, tx + 12, len - 12) != 0) {
          printf(PING_NAME ": echo %u differs\n", seq);
          guest_exit(13);
        }
        break;
      }
    }
    if (got <= 0) {
      printf(PING_NAME ": echo %u lost\n", seq);
      guest_exit(12);
    }
  }
  send_or_exit(frame(peer, TYPE_DONE, 0));
  printf(PING_NAME ": %u frames echoed\n", PING_FRAMES);
  guest_exit(0);
}
#else
static void echo(void) {
  uint32_t echoed = 0;
  for (;;) {
    const int got = tn_receive(&card, rx, sizeof rx, IDLE_POLLS);
    if (got == 0) {
      printf(PING_NAME ": echo heard nothing after %u echoes\n", echoed);
      guest_exit(14);
    }
    if (got < 14 || memcmp(rx, card.mac, 6) != 0 || rx[12] != 0x88) continue;
    if (rx[13] == TYPE_DONE) break;
    memcpy(tx, rx + 6, 6); /* back to the sender, from this card */
    memcpy(tx + 6, card.mac, 6);
    memcpy(tx + 12, rx + 12, (size_t)got - 12);
    send_or_exit((size_t)got);
    ++echoed;
  }
  printf(PING_NAME ": %u echoes\n", echoed);
  guest_exit(0);
}
#endif

int main(void) {
  if (tn_open(&card, NIC_IOBASE) != 0) {
    print(PING_NAME ": no template card at 0x300\n");
    guest_exit(10);
  }
#if defined(TEMPLATE_MMIO) && !defined(PING_RTL8139)
  tn_use_mmio(&card, TEMPLATE_MMIO);
#endif
#if TEMPLATE_PING_ROLE == 0
  pinger();
#else
  echo();
#endif
  return 0;
}

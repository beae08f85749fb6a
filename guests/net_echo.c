/* The echo end of the network test: announces itself by broadcast until DATA
   arrives, echoes every good DATA frame addressed to it, acknowledges DONE and
   checks the sender's count. Protocol and exit statuses: net_proto.h.
   Polling by default; -DNET_USE_INTERRUPTS halts between frames instead,
   woken by the card or the timer, whose ticks bound every wait.
   -DNET_ANNOUNCE_TO_GUEST=k announces by unicast to guest k's default MAC
   (52:54:00:12:34:56 + k) instead, so that only that guest's sender answers
   when several share the wire. */
#include "ne2000/ne2000.h"
#include "net_proto.h"
#include "runtime/guest.h"

#define NIC_IOBASE 0x300
#define NIC_IRQ 9
#define MAX_ANNOUNCES 500
#define PROGRESS_EVERY 500
#define MAX_REPORTED_BAD 5

static struct ne_card card;
static uint8_t rx[NE_MAX_STORED_FRAME];
static uint8_t tx[NET_MAX_FRAME];
#ifdef NET_ANNOUNCE_TO_GUEST
/* vpio's default MACs: 52:54:00:12:34:56 for guest 0, one more per guest. */
#define DEFAULT_MAC_LAST_BYTE 0x56
static const uint8_t announce_mac[NET_MAC_BYTES] = {
    0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(DEFAULT_MAC_LAST_BYTE + NET_ANNOUNCE_TO_GUEST)};
#else
static const uint8_t announce_mac[NET_MAC_BYTES] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
#endif

struct echo_stats {
  uint32_t data_frames; /* distinct sequence numbers received intact */
  uint32_t bad;         /* DATA frames that failed their checks */
  uint32_t echoes;
  uint32_t duplicates; /* DATA seen again (the sender retransmitted) */
  uint32_t skipped;    /* sequence numbers never seen */
  uint32_t send_errors;
  uint32_t done_count; /* the sender's count, from DONE */
  uint32_t next_sequence;
  int seen_data;
  int seen_done;
};

static struct echo_stats stats;

/* Timeouts: while polling, in ISR reads (one VM exit each); with
   interrupts, in ticks of the timer. ANNOUNCE_INTERVAL: between ANNOUNCEs
   until DATA arrives. IDLE: silence from the sender, once it has started,
   that ends the test. LINGER: after DONE_ACK, how long to stay to answer
   a DONE sent again. */
#ifdef NET_USE_INTERRUPTS
#define TIMER_HZ 50
#define MS_PER_SECOND 1000
#define TICKS(ms) ((uint64_t)(ms)*TIMER_HZ / MS_PER_SECOND)
#define ANNOUNCE_INTERVAL TICKS(200)
#define IDLE TICKS(60000)
#define LINGER TICKS(500)
static uint64_t clock_now(void) { return timer_ticks(); }
static int receive_frame(uint64_t until) { return ne_receive_until(&card, rx, sizeof rx, until); }
#else
#define ANNOUNCE_INTERVAL 2000
#define IDLE 1000000
#define LINGER 2000
static uint64_t clock_now(void) { return card.counters.polls; }
static int receive_frame(uint64_t until) {
  uint64_t now = card.counters.polls;
  return now >= until ? 0 : ne_receive_wait(&card, rx, sizeof rx, (uint32_t)(until - now));
}
#endif

static int send_control(const uint8_t* dst, uint8_t type, uint32_t sequence) {
  size_t len = net_build_frame(tx, dst, card.mac, type, sequence, 0);
  int status = ne_send(&card, tx, len);
  if (status < 0) ++stats.send_errors;
  return status;
}

static void on_data(size_t len) {
  const struct net_header* h = (const struct net_header*)rx;
  stats.seen_data = 1;
  int check = net_check_frame(rx, len);
  if (check != NET_OK) {
    /* No echo: the sender times out and sends it again. */
    if (stats.bad++ < MAX_REPORTED_BAD)
      printf("echo: DATA seq %u (%u bytes) is bad: %s\n", h->sequence, (unsigned)len,
             net_check_name(check));
    return;
  }
  if (h->sequence >= stats.next_sequence) {
    stats.skipped += h->sequence - stats.next_sequence;
    stats.next_sequence = h->sequence + 1;
    if (++stats.data_frames % PROGRESS_EVERY == 0)
      printf("echo: %u data frames\n", stats.data_frames);
  } else {
    /* The sender sent it again: our echo, or its DATA, was lost or late.
       Echo it again; the sender takes one echo and counts the other a stray. */
    ++stats.duplicates;
  }
  size_t echo_len = net_frame_bytes(h->length);
  memcpy(tx, rx, echo_len);
  struct net_header* e = (struct net_header*)tx;
  memcpy(e->dst, h->src, NET_MAC_BYTES);
  memcpy(e->src, card.mac, NET_MAC_BYTES);
  e->type = NET_MSG_ECHO;
  if (ne_send(&card, tx, echo_len) < 0)
    ++stats.send_errors;
  else
    ++stats.echoes;
}

static void on_frame(int len) {
  const struct net_header* h = (const struct net_header*)rx;
  if ((size_t)len < NET_HEADER_BYTES || net_check_frame(rx, (size_t)len) == NET_BAD_ETHERTYPE)
    return;
  if (!net_mac_equal(h->dst, card.mac)) return; /* broadcasts: ours are not looped back */
  switch (h->type) {
    case NET_MSG_DATA: on_data((size_t)len); break;
    case NET_MSG_DONE:
      if (!stats.seen_done) printf("echo: DONE, the sender counts %u\n", h->sequence);
      stats.seen_done = 1;
      stats.done_count = h->sequence;
      send_control(h->src, NET_MSG_DONE_ACK, stats.data_frames);
      break;
    default: break;
  }
}

static int finish(void) {
  printf(
      "echo: received %u data frames, %u bad, sent %u echoes (%u duplicates, %u skipped, "
      "%u send errors; sender counted %u)\n",
      stats.data_frames, stats.bad, stats.echoes, stats.duplicates, stats.skipped,
      stats.send_errors, stats.done_count);
  ne_print_counters(&card, "echo");
#ifdef NET_USE_INTERRUPTS
  printf("echo: timer ticks %llu\n", (unsigned long long)timer_ticks());
#endif
  if (stats.send_errors) return NET_ECHO_STATUS_SEND;
  if (stats.bad) return NET_ECHO_STATUS_BAD_FRAMES;
  if (stats.data_frames != stats.done_count || stats.skipped) return NET_ECHO_STATUS_COUNT;
  if (card.counters.lost_interrupts != 0) return NET_ECHO_STATUS_LOST_INTERRUPT;
  return 0;
}

int main(void) {
  idt_install();
  if (ne_probe(&card, NIC_IOBASE) < 0) return NET_ECHO_STATUS_NO_CARD;
  printf("echo: NE2000 at 0x%x, MAC %02x:%02x:%02x:%02x:%02x:%02x\n", NIC_IOBASE, card.mac[0],
         card.mac[1], card.mac[2], card.mac[3], card.mac[4], card.mac[5]);
  if (ne_init(&card, NE_MODE_BROADCAST) < 0) return NET_ECHO_STATUS_INIT;
#ifdef NET_USE_INTERRUPTS
  /* An ANNOUNCE sent before the sender's card was receiving is lost: the
     timer's ticks end the wait and the echo announces again. */
  timer_start(TIMER_HZ);
  ne_enable_interrupts(&card, NIC_IRQ);
  printf("echo: interrupt mode, timer at %u Hz\n", timer_hz());
#endif

  uint32_t announces = 0;
  send_control(announce_mac, NET_MSG_ANNOUNCE, announces++);
  while (!stats.seen_done) {
    int len = receive_frame(clock_now() + (stats.seen_data ? IDLE : ANNOUNCE_INTERVAL));
    if (len > 0) {
      on_frame(len);
    } else if (len == 0 && stats.seen_data) {
      print("echo: the sender went quiet before DONE\n");
      finish();
      return NET_ECHO_STATUS_NO_DONE;
    } else if (len == 0) {
      if (announces == MAX_ANNOUNCES) {
        printf("echo: no DATA after %u announcements\n", announces);
        ne_print_counters(&card, "echo");
        return NET_ECHO_STATUS_NO_DATA;
      }
      send_control(announce_mac, NET_MSG_ANNOUNCE, announces++);
    }
  }
  /* Answer a DONE the sender repeats (our DONE_ACK was lost). */
  for (;;) {
    int len = receive_frame(clock_now() + LINGER);
    if (len == 0) break;
    if (len > 0) on_frame(len);
  }
  return finish();
}

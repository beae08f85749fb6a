/* The sending end of the network test: learns the echo's MAC from its
   ANNOUNCE, sends NET_FRAME_COUNT DATA frames stop-and-wait, checks every
   byte of each ECHO, then DONE / DONE_ACK. Protocol and exit statuses:
   net_proto.h. Variants by compile definitions: NET_FRAME_COUNT,
   NET_FRAME_SIZE (0: mixed sizes 60..1514), NET_USE_INTERRUPTS (halts
   between frames, woken by the card or the timer, whose ticks bound every
   wait as a real driver's timeouts do). */
#include "ne2000/ne2000.h"
#include "net_proto.h"
#include "runtime/guest.h"

#ifndef NET_FRAME_COUNT
#define NET_FRAME_COUNT 1000
#endif
#ifndef NET_FRAME_SIZE
#define NET_FRAME_SIZE 0
#endif

#define NIC_IOBASE 0x300
#define NIC_IRQ 9
#define MAX_RETRANSMITS 3
#define MAX_LOST_IN_A_ROW 5
#define PROGRESS_EVERY 250
#define MAX_REPORTED_BAD 5
/* Mixed sizes: every tenth frame is 60, 64 or 1514 bytes, the rest step
   through 60..1514 by a stride prime to the span, odd sizes included. */
#define MIXED_PERIOD 10
#define MIXED_SMALL_FRAME 64
#define MIXED_STRIDE 101
#define MIXED_SPAN (NET_MAX_FRAME - NET_MIN_FRAME + 1)

static struct ne_card card;
static uint8_t rx[NE_MAX_STORED_FRAME];
static uint8_t tx[NET_MAX_FRAME];
static uint8_t echo_mac[NET_MAC_BYTES];

struct sender_stats {
  uint32_t sent; /* DATA sequence numbers sent (not counting retransmits) */
  uint32_t intact;
  uint32_t bad;
  uint32_t lost; /* no echo after every retransmit */
  uint32_t retransmits;
  uint32_t strays; /* frames that were not the awaited answer */
  uint32_t min_size, max_size;
};

static struct sender_stats stats;

/* Timeouts: while polling, in ISR reads (one VM exit each); with
   interrupts, in ticks of the timer. */
#ifdef NET_USE_INTERRUPTS
#define TIMER_HZ 50
#define MS_PER_SECOND 1000
#define TICKS(ms) ((uint64_t)(ms)*TIMER_HZ / MS_PER_SECOND)
#define ANNOUNCE_WAIT TICKS(60000)
#define ECHO_TIMEOUT TICKS(2000)
static uint64_t clock_now(void) { return timer_ticks(); }
static int receive_frame(uint64_t until) { return ne_receive_until(&card, rx, sizeof rx, until); }
#else
#define ANNOUNCE_WAIT 400000
#define ECHO_TIMEOUT 100000
static uint64_t clock_now(void) { return card.counters.polls; }
static int receive_frame(uint64_t until) {
  uint64_t now = card.counters.polls;
  return now >= until ? 0 : ne_receive_wait(&card, rx, sizeof rx, (uint32_t)(until - now));
}
#endif

static size_t frame_size(uint32_t i) {
  if (NET_FRAME_SIZE != 0) return NET_FRAME_SIZE;
  switch (i % MIXED_PERIOD) {
    case 0: return NET_MIN_FRAME;
    case 1: return MIXED_SMALL_FRAME;
    case 2: return NET_MAX_FRAME;
    default: return NET_MIN_FRAME + (i * MIXED_STRIDE) % MIXED_SPAN;
  }
}

/* Waits until `until` (clock_now) for a frame of our protocol addressed to
   us; returns its length, 0 on timeout. */
static int receive_ours(uint64_t until) {
  for (;;) {
    if (clock_now() >= until) return 0;
    int len = receive_frame(until);
    if (len == 0) return 0;
    if (len < 0) continue;
    const struct net_header* h = (const struct net_header*)rx;
    if ((size_t)len < NET_HEADER_BYTES || net_check_frame(rx, (size_t)len) == NET_BAD_ETHERTYPE)
      continue;
    if (h->type != NET_MSG_ANNOUNCE && !net_mac_equal(h->dst, card.mac)) continue;
    return len;
  }
}

/* The echo must repeat the DATA frame byte for byte, except for the swapped
   addresses and the type. */
static int echo_is_intact(const uint8_t* sent, size_t data_len, size_t len) {
  const struct net_header* h = (const struct net_header*)rx;
  if (len < NET_HEADER_BYTES + data_len) return 0;
  if (!net_mac_equal(h->dst, card.mac) || !net_mac_equal(h->src, echo_mac)) return 0;
  if (h->type != NET_MSG_ECHO) return 0;
  const size_t type_at = offsetof(struct net_header, type);
  if (memcmp(rx + NET_ETH_HEADER_BYTES - 2, sent + NET_ETH_HEADER_BYTES - 2,
             type_at - (NET_ETH_HEADER_BYTES - 2)) != 0)
    return 0;
  return memcmp(rx + type_at + 1, sent + type_at + 1, NET_HEADER_BYTES + data_len - type_at - 1) ==
         0;
}

static int learn_echo_mac(void) {
  uint64_t until = clock_now() + ANNOUNCE_WAIT;
  while (clock_now() < until) {
    int len = receive_ours(until);
    if (len == 0) break;
    const struct net_header* h = (const struct net_header*)rx;
    if (h->type == NET_MSG_ANNOUNCE && net_check_frame(rx, (size_t)len) == NET_OK) {
      memcpy(echo_mac, h->src, NET_MAC_BYTES);
      return 0;
    }
    ++stats.strays;
  }
  return -1;
}

#define EXCHANGE_INTACT 0
#define EXCHANGE_BAD 1
#define EXCHANGE_LOST 2
#define EXCHANGE_SEND_FAILED 3

/* Sends DATA seq and waits for its echo, retransmitting on timeouts. The
   echo of an earlier transmission of a frame (late, or answered twice) is
   a stray: only the awaited sequence number ends the wait. */
static int exchange(uint32_t seq) {
  size_t size = frame_size(seq);
  size_t data_len = size - NET_HEADER_BYTES;
  size_t len = net_build_frame(tx, echo_mac, card.mac, NET_MSG_DATA, seq, data_len);
  if (size < stats.min_size || stats.min_size == 0) stats.min_size = (uint32_t)size;
  if (size > stats.max_size) stats.max_size = (uint32_t)size;
  for (unsigned attempt = 0; attempt <= MAX_RETRANSMITS; ++attempt) {
    if (attempt > 0) {
      ++stats.retransmits;
      printf("sender: no echo of seq %u (%u bytes), retransmitting\n", seq, (unsigned)size);
    }
    int status = ne_send(&card, tx, len);
    if (status < 0) {
      printf("sender: sending seq %u failed (%d)\n", seq, status);
      return EXCHANGE_SEND_FAILED;
    }
    uint64_t until = clock_now() + ECHO_TIMEOUT;
    while (clock_now() < until) {
      int got = receive_ours(until);
      if (got == 0) break;
      const struct net_header* h = (const struct net_header*)rx;
      if (h->type != NET_MSG_ECHO || h->sequence != seq) {
        ++stats.strays;
        continue;
      }
      if (echo_is_intact(tx, data_len, (size_t)got)) return EXCHANGE_INTACT;
      if (stats.bad < MAX_REPORTED_BAD)
        printf("sender: echo of seq %u (%u bytes) differs from what was sent (%s)\n", seq,
               (unsigned)size, net_check_name(net_check_frame(rx, (size_t)got)));
      return EXCHANGE_BAD;
    }
  }
  return EXCHANGE_LOST;
}

static int say_done(void) {
  for (unsigned attempt = 0; attempt <= MAX_RETRANSMITS; ++attempt) {
    size_t len = net_build_frame(tx, echo_mac, card.mac, NET_MSG_DONE, stats.sent, 0);
    if (ne_send(&card, tx, len) < 0) return -1;
    if (attempt > 0) print("sender: DONE not acknowledged, sending it again\n");
    uint64_t until = clock_now() + ECHO_TIMEOUT;
    while (clock_now() < until) {
      int got = receive_ours(until);
      if (got == 0) break;
      const struct net_header* h = (const struct net_header*)rx;
      if (h->type == NET_MSG_DONE_ACK) {
        printf("sender: DONE acknowledged, the echo counts %u\n", h->sequence);
        return 0;
      }
      ++stats.strays;
    }
  }
  return -2;
}

int main(void) {
  idt_install();
  if (ne_probe(&card, NIC_IOBASE) < 0) return NET_SENDER_STATUS_NO_CARD;
  printf("sender: NE2000 at 0x%x, MAC %02x:%02x:%02x:%02x:%02x:%02x; %u frames of %s\n", NIC_IOBASE,
         card.mac[0], card.mac[1], card.mac[2], card.mac[3], card.mac[4], card.mac[5],
         NET_FRAME_COUNT, NET_FRAME_SIZE ? "one size" : "mixed sizes");
  if (ne_init(&card, NE_MODE_BROADCAST) < 0) return NET_SENDER_STATUS_INIT;
#ifdef NET_USE_INTERRUPTS
  timer_start(TIMER_HZ);
  ne_enable_interrupts(&card, NIC_IRQ);
  printf("sender: interrupt mode, timer at %u Hz\n", timer_hz());
#endif

  if (learn_echo_mac() < 0) {
    print("sender: no ANNOUNCE from an echo\n");
    ne_print_counters(&card, "sender");
    return NET_SENDER_STATUS_NO_ANNOUNCE;
  }
  printf("sender: echo is %02x:%02x:%02x:%02x:%02x:%02x\n", echo_mac[0], echo_mac[1], echo_mac[2],
         echo_mac[3], echo_mac[4], echo_mac[5]);

  int status = 0;
  uint32_t lost_in_a_row = 0;
  for (uint32_t seq = 0; seq < NET_FRAME_COUNT; ++seq) {
    int result = exchange(seq);
    ++stats.sent;
    if (result == EXCHANGE_LOST) {
      ++stats.lost;
      printf("sender: seq %u lost after %u retransmits\n", seq, MAX_RETRANSMITS);
      if (++lost_in_a_row == MAX_LOST_IN_A_ROW) {
        status = NET_SENDER_STATUS_GAVE_UP;
        break;
      }
      continue;
    }
    if (result == EXCHANGE_SEND_FAILED) {
      status = NET_SENDER_STATUS_SEND;
      break;
    }
    lost_in_a_row = 0;
    if (result == EXCHANGE_INTACT)
      ++stats.intact;
    else
      ++stats.bad;
    if (stats.sent % PROGRESS_EVERY == 0)
      printf("sender: %u sent, %u intact\n", stats.sent, stats.intact);
  }
  if (status == 0) {
    int done = say_done();
    if (done == -1) status = NET_SENDER_STATUS_SEND;
    if (done == -2) {
      print("sender: DONE never acknowledged\n");
      status = NET_SENDER_STATUS_NO_DONE_ACK;
    }
  }

  printf(
      "sender: sent %u, echoed %u intact, %u bad, %u retransmits (%u lost, %u strays, "
      "sizes %u..%u)\n",
      stats.sent, stats.intact, stats.bad, stats.retransmits, stats.lost, stats.strays,
      stats.min_size, stats.max_size);
  ne_print_counters(&card, "sender");
#ifdef NET_USE_INTERRUPTS
  printf("sender: timer ticks %llu\n", (unsigned long long)timer_ticks());
#endif
  if (status != 0) return status;
  if (stats.intact != NET_FRAME_COUNT) return NET_SENDER_STATUS_NOT_INTACT;
  if (card.counters.lost_interrupts != 0) return NET_SENDER_STATUS_LOST_INTERRUPT;
  if (stats.retransmits != 0) return NET_SENDER_STATUS_RETRANSMITS;
  return 0;
}

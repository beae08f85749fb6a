/* Receive-heavy workload for benchmarks/bench_nic_modes: takes SINK_FRAMES
   frames of SINK_FRAME_BYTES bytes from a host-side feeder in windows of
   SINK_WINDOW, checking every byte, and acknowledges each window. Polling
   only (no interrupts).

   Protocol (ethertype 0x88b7; multi-byte fields little-endian):

     0  dst MAC [6]
     6  src MAC [6]
    12  ethertype [2]   0x88 0xb7
    14  type u8         SINK_MSG_READY, SINK_MSG_DATA or SINK_MSG_ACK
    15  reserved u8     0
    16  value u32       READY: READYs sent before this one; DATA: sequence
                        number (0, 1, ...); ACK: frames received so far
    20  DATA: byte k of the frame (20 <= k < SINK_FRAME_BYTES) is
        (sequence * 31 + k) & 0xff; READY and ACK: zero padding to 60 bytes

   1. The sink broadcasts a 60-byte READY every SINK_READY_POLLS ISR polls
      until the first DATA addressed to it arrives.
   2. The feeder sends DATA SINK_WINDOW at a time, in order, to the sink's
      MAC, and waits for the ACK that covers the window; without one in time
      it sends the whole window again.
   3. The sink takes DATA in order only: a sequence below the next expected
      one is a duplicate (ignored, but the ACK is repeated when it ends a
      window: the ACK may have been lost), one above it is out of order
      (ignored; the feeder's resend fills the gap). After each full window,
      and after the last frame, it sends a 60-byte ACK to the DATA's sender
      with the count received.
   4. After SINK_FRAMES frames it prints "sink: received N frames, B bad ..."
      and exits 0 if no frame failed its checks (SINK_STATUS_* otherwise). */
#include "ne2000/ne2000.h"
#include "runtime/guest.h"

#ifndef SINK_FRAMES
#define SINK_FRAMES 1000
#endif
#ifndef SINK_WINDOW
#define SINK_WINDOW 8
#endif
#define SINK_FRAME_BYTES NE_MAX_FRAME

#define NIC_IOBASE 0x300
#define SINK_ETHERTYPE 0x88b7
#define SINK_MSG_READY 1
#define SINK_MSG_DATA 2
#define SINK_MSG_ACK 3
#define SINK_TYPE_AT 14
#define SINK_VALUE_AT 16
#define SINK_HEADER_BYTES 20
#define SINK_PATTERN_STEP 31

/* Polls (ISR reads, one exit each) between READYs until DATA arrives. */
#define SINK_READY_POLLS 2000
#define SINK_MAX_READIES 2000
/* Silence once DATA has started that ends the run: well above the feeder's
   resend timeout (2 s) even at a tenth of a microsecond per poll. */
#ifndef SINK_STALL_POLLS
#define SINK_STALL_POLLS 20000000
#endif
#define SINK_MAX_REPORTED_BAD 5
#define SINK_PROGRESS_EVERY 250

/* Exit statuses: 0x31.. so that `vpio run`'s first non-zero status names the
   sink and the cause. */
#define SINK_STATUS_NO_CARD 0x31
#define SINK_STATUS_INIT 0x32
#define SINK_STATUS_NO_DATA 0x33    /* no DATA came after every READY */
#define SINK_STATUS_STALLED 0x34    /* the feeder went quiet before the end */
#define SINK_STATUS_BAD_FRAMES 0x35 /* a DATA frame failed its checks */
#define SINK_STATUS_SEND 0x36       /* the card failed to transmit */

static struct ne_card card;
static uint8_t rx[NE_MAX_STORED_FRAME];
static uint8_t tx[NE_MIN_FRAME];
static uint8_t feeder_mac[NE_MAC_BYTES];
static const uint8_t broadcast_mac[NE_MAC_BYTES] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

struct sink_stats {
  uint32_t received; /* DATA taken in order, intact: the next sequence expected */
  uint32_t bad;      /* DATA addressed to us that failed its checks */
  uint32_t duplicates;
  uint32_t out_of_order;
  uint32_t strays; /* frames not ours, or not DATA */
  uint32_t readies;
  uint32_t acks;
  uint32_t rx_errors; /* frames the driver dropped */
  int started;        /* DATA has come */
};

static struct sink_stats stats;

static uint32_t get_u32(const uint8_t* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int mac_equal(const uint8_t* a, const uint8_t* b) { return memcmp(a, b, NE_MAC_BYTES) == 0; }

static int send_control(const uint8_t* dst, uint8_t type, uint32_t value) {
  memset(tx, 0, sizeof tx);
  memcpy(tx, dst, NE_MAC_BYTES);
  memcpy(tx + NE_MAC_BYTES, card.mac, NE_MAC_BYTES);
  tx[12] = SINK_ETHERTYPE >> 8;
  tx[13] = SINK_ETHERTYPE & 0xff;
  tx[SINK_TYPE_AT] = type;
  for (unsigned i = 0; i < 4; ++i) tx[SINK_VALUE_AT + i] = (uint8_t)(value >> (8 * i));
  int status = ne_send(&card, tx, sizeof tx);
  if (status < 0) printf("sink: sending type %u failed (%d)\n", type, status);
  return status;
}

static int send_ack(void) {
  ++stats.acks;
  return send_control(feeder_mac, SINK_MSG_ACK, stats.received);
}

static int ends_window(uint32_t count) { return count % SINK_WINDOW == 0 || count == SINK_FRAMES; }

/* The first byte that breaks the pattern, or 0 when all hold (byte 0 is never
   part of it). Real cards may store the FCS too: only the first
   SINK_FRAME_BYTES count. */
static size_t first_bad_byte(uint32_t sequence) {
  for (size_t k = SINK_HEADER_BYTES; k < SINK_FRAME_BYTES; ++k)
    if (rx[k] != (uint8_t)(sequence * SINK_PATTERN_STEP + k)) return k;
  return 0;
}

/* Handles one received frame of len bytes. Returns 0 or <0 when an ACK could
   not be sent. */
static int take_frame(size_t len) {
  if (len < SINK_HEADER_BYTES || rx[12] != (SINK_ETHERTYPE >> 8) ||
      rx[13] != (SINK_ETHERTYPE & 0xff) || !mac_equal(rx, card.mac) ||
      rx[SINK_TYPE_AT] != SINK_MSG_DATA) {
    ++stats.strays;
    return 0;
  }
  uint32_t sequence = get_u32(rx + SINK_VALUE_AT);
  size_t bad_at = len < SINK_FRAME_BYTES ? len : first_bad_byte(sequence);
  if (bad_at != 0) {
    if (stats.bad++ < SINK_MAX_REPORTED_BAD)
      printf("sink: DATA seq %u (%u bytes) is bad at byte %u\n", sequence, (unsigned)len,
             (unsigned)bad_at);
    return 0;
  }
  if (!stats.started) {
    stats.started = 1;
    memcpy(feeder_mac, rx + NE_MAC_BYTES, NE_MAC_BYTES);
  }
  if (sequence < stats.received) {
    ++stats.duplicates;
    return ends_window(sequence + 1) ? send_ack() : 0;
  }
  if (sequence > stats.received) {
    ++stats.out_of_order;
    return 0;
  }
  ++stats.received;
  if (stats.received % SINK_PROGRESS_EVERY == 0)
    printf("sink: %u frames received\n", stats.received);
  return ends_window(stats.received) ? send_ack() : 0;
}

int main(void) {
  idt_install();
  if (ne_probe(&card, NIC_IOBASE) < 0) return SINK_STATUS_NO_CARD;
  printf("sink: NE2000 at 0x%x, MAC %02x:%02x:%02x:%02x:%02x:%02x; %u frames of %u bytes\n",
         NIC_IOBASE, card.mac[0], card.mac[1], card.mac[2], card.mac[3], card.mac[4], card.mac[5],
         SINK_FRAMES, SINK_FRAME_BYTES);
  if (ne_init(&card, NE_MODE_BROADCAST) < 0) return SINK_STATUS_INIT;

  int status = 0;
  uint64_t last_ready = 0;
  while (stats.received < SINK_FRAMES) {
    uint32_t budget = SINK_STALL_POLLS;
    if (!stats.started) {
      uint64_t since = card.counters.polls - last_ready;
      if (stats.readies == 0 || since >= SINK_READY_POLLS) {
        if (stats.readies == SINK_MAX_READIES) {
          print("sink: no DATA came\n");
          status = SINK_STATUS_NO_DATA;
          break;
        }
        if (send_control(broadcast_mac, SINK_MSG_READY, stats.readies) < 0) {
          status = SINK_STATUS_SEND;
          break;
        }
        ++stats.readies;
        last_ready = card.counters.polls;
        since = 0;
      }
      budget = SINK_READY_POLLS - (uint32_t)since;
    }
    int len = ne_receive_wait(&card, rx, sizeof rx, budget);
    if (len == 0) {
      if (!stats.started) continue;
      printf("sink: nothing for %u polls after %u frames\n", SINK_STALL_POLLS, stats.received);
      status = SINK_STATUS_STALLED;
      break;
    }
    if (len < 0) {
      ++stats.rx_errors;
      continue;
    }
    if (take_frame((size_t)len) < 0) {
      status = SINK_STATUS_SEND;
      break;
    }
  }

  printf(
      "sink: received %u frames, %u bad (%u duplicates, %u out of order, %u strays, "
      "%u rx errors, %u READY, %u ACK)\n",
      stats.received, stats.bad, stats.duplicates, stats.out_of_order, stats.strays,
      stats.rx_errors, stats.readies, stats.acks);
  ne_print_counters(&card, "sink");
  if (status != 0) return status;
  return stats.bad == 0 ? 0 : SINK_STATUS_BAD_FRAMES;
}

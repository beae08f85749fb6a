/* The test protocol of vpio's network guests (net_sender, net_echo), shared
   with host-side C++ tests: plain C, fixed-width types, no allocation.

   Wire layout (offsets in bytes; multi-byte protocol fields little-endian,
   the Ethernet type big-endian as on every wire):

     0  dst MAC [6]
     6  src MAC [6]
    12  ethertype [2]   0x88 0xb5 (IEEE local experimental 1)
    14  magic u32       0x4f495056 ('V' 'P' 'I' 'O' on the wire)
    18  type u8         NET_MSG_*
    19  reserved u8     0
    20  length u16      data bytes that follow the header
    22  sequence u32    DATA/ECHO: frame number; ANNOUNCE: announce number;
                        DONE/DONE_ACK: the sender's count of DATA frames
    26  checksum u32    32-bit FNV-1a of the data bytes (of nothing: the basis)
    30  data [length]   byte i = (sequence * 7 + i * 13) & 0xff
    30+length           zero padding up to 60 bytes; frames are 60..1514 bytes
                        long (no FCS), so length is 0..1484

   DATA and ECHO carry data; ANNOUNCE, DONE and DONE_ACK carry none. An ECHO
   repeats its DATA's sequence, length, checksum and data, with the MACs
   swapped. Receivers go by `length`, never by the frame's size, which may
   include padding (and on real hardware the FCS). */
#ifndef VPIO_GUESTS_NET_PROTO_H
#define VPIO_GUESTS_NET_PROTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
extern "C" {
#endif

#define NET_ETHERTYPE 0x88b5
#define NET_MAGIC 0x4f495056u
#define NET_MAC_BYTES 6
#define NET_ETH_HEADER_BYTES 14
#define NET_HEADER_BYTES 30 /* Ethernet header + protocol header */
#define NET_MIN_FRAME 60
#define NET_MAX_FRAME 1514
#define NET_MAX_DATA (NET_MAX_FRAME - NET_HEADER_BYTES)

#define NET_MSG_ANNOUNCE 1
#define NET_MSG_DATA 2
#define NET_MSG_ECHO 3
#define NET_MSG_DONE 4
#define NET_MSG_DONE_ACK 5

#define NET_FNV_BASIS 0x811c9dc5u
#define NET_FNV_PRIME 0x01000193u

/* Exit statuses: 0 success; echo failures 0x11.., sender failures 0x21.. so
   that `vpio run`'s first non-zero status names guest and cause. */
#define NET_ECHO_STATUS_NO_CARD 0x11
#define NET_ECHO_STATUS_INIT 0x12
#define NET_ECHO_STATUS_NO_DATA 0x13        /* no DATA ever came */
#define NET_ECHO_STATUS_BAD_FRAMES 0x14     /* a DATA frame failed its checks */
#define NET_ECHO_STATUS_COUNT 0x15          /* DONE's count differs from frames seen */
#define NET_ECHO_STATUS_NO_DONE 0x16        /* the sender went quiet before DONE */
#define NET_ECHO_STATUS_SEND 0x17           /* the card failed to transmit */
#define NET_ECHO_STATUS_LOST_INTERRUPT 0x18 /* as NET_SENDER_STATUS_LOST_INTERRUPT */
#define NET_SENDER_STATUS_NO_CARD 0x21
#define NET_SENDER_STATUS_INIT 0x22
#define NET_SENDER_STATUS_NO_ANNOUNCE 0x23 /* never learned the echo's MAC */
#define NET_SENDER_STATUS_SEND 0x24        /* the card failed to transmit */
#define NET_SENDER_STATUS_NOT_INTACT 0x25  /* echoes lost or corrupted */
#define NET_SENDER_STATUS_RETRANSMITS 0x26 /* all intact, but only after retransmits */
#define NET_SENDER_STATUS_NO_DONE_ACK 0x27 /* the echo never acknowledged DONE */
#define NET_SENDER_STATUS_GAVE_UP 0x28     /* too many frames lost in a row */
/* The driver found an event whose interrupt never came (ne2000.h,
   lost_interrupts): the exchange may have completed, by timeouts. */
#define NET_SENDER_STATUS_LOST_INTERRUPT 0x29

struct net_header {
  uint8_t dst[NET_MAC_BYTES];
  uint8_t src[NET_MAC_BYTES];
  uint8_t ethertype[2]; /* big-endian */
  uint32_t magic;
  uint8_t type;
  uint8_t reserved;
  uint16_t length;
  uint32_t sequence;
  uint32_t checksum;
} __attribute__((packed));

/* Outcome of net_check_frame. */
#define NET_OK 0
#define NET_BAD_SIZE 1      /* shorter than the header, or length runs past the frame */
#define NET_BAD_ETHERTYPE 2 /* not our protocol (not an error for a listener) */
#define NET_BAD_MAGIC 3
#define NET_BAD_TYPE 4
#define NET_BAD_CHECKSUM 5
#define NET_BAD_DATA 6

static inline uint32_t net_fnv1a(const uint8_t* data, size_t len) {
  uint32_t hash = NET_FNV_BASIS;
  for (size_t i = 0; i < len; ++i) {
    hash ^= data[i];
    hash *= NET_FNV_PRIME;
  }
  return hash;
}

static inline uint8_t net_pattern_byte(uint32_t sequence, size_t i) {
  return (uint8_t)((sequence * 7u + (uint32_t)i * 13u) & 0xffu);
}

/* Bytes on the wire for a message with data_len data bytes. */
static inline size_t net_frame_bytes(size_t data_len) {
  size_t len = NET_HEADER_BYTES + data_len;
  return len < NET_MIN_FRAME ? NET_MIN_FRAME : len;
}

/* Writes a whole frame (header, patterned data, zero padding) into frame,
   which must hold net_frame_bytes(data_len) bytes; returns that size. */
static inline size_t net_build_frame(uint8_t* frame, const uint8_t* dst, const uint8_t* src,
                                     uint8_t type, uint32_t sequence, size_t data_len) {
  struct net_header* h = (struct net_header*)frame;
  uint8_t* data = frame + NET_HEADER_BYTES;
  size_t total = net_frame_bytes(data_len);
  for (size_t i = 0; i < NET_MAC_BYTES; ++i) {
    h->dst[i] = dst[i];
    h->src[i] = src[i];
  }
  h->ethertype[0] = (uint8_t)(NET_ETHERTYPE >> 8);
  h->ethertype[1] = (uint8_t)(NET_ETHERTYPE & 0xff);
  h->magic = NET_MAGIC;
  h->type = type;
  h->reserved = 0;
  h->length = (uint16_t)data_len;
  h->sequence = sequence;
  for (size_t i = 0; i < data_len; ++i) data[i] = net_pattern_byte(sequence, i);
  for (size_t i = NET_HEADER_BYTES + data_len; i < total; ++i) frame[i] = 0;
  h->checksum = net_fnv1a(data, data_len);
  return total;
}

/* Checks a received frame of len bytes: our ethertype and magic, a known
   type, a length that fits, the checksum, and for DATA/ECHO the pattern. */
static inline int net_check_frame(const uint8_t* frame, size_t len) {
  const struct net_header* h = (const struct net_header*)frame;
  if (len < NET_HEADER_BYTES) return NET_BAD_SIZE;
  if (h->ethertype[0] != (uint8_t)(NET_ETHERTYPE >> 8) ||
      h->ethertype[1] != (uint8_t)(NET_ETHERTYPE & 0xff))
    return NET_BAD_ETHERTYPE;
  if (h->magic != NET_MAGIC) return NET_BAD_MAGIC;
  if (h->type < NET_MSG_ANNOUNCE || h->type > NET_MSG_DONE_ACK) return NET_BAD_TYPE;
  if (h->length > NET_MAX_DATA || NET_HEADER_BYTES + (size_t)h->length > len) return NET_BAD_SIZE;
  const uint8_t* data = frame + NET_HEADER_BYTES;
  if (net_fnv1a(data, h->length) != h->checksum) return NET_BAD_CHECKSUM;
  for (size_t i = 0; i < h->length; ++i)
    if (data[i] != net_pattern_byte(h->sequence, i)) return NET_BAD_DATA;
  return NET_OK;
}

static inline const char* net_check_name(int check) {
  switch (check) {
    case NET_OK: return "ok";
    case NET_BAD_SIZE: return "bad size";
    case NET_BAD_ETHERTYPE: return "not ours";
    case NET_BAD_MAGIC: return "bad magic";
    case NET_BAD_TYPE: return "bad type";
    case NET_BAD_CHECKSUM: return "bad checksum";
    case NET_BAD_DATA: return "bad data";
    default: return "?";
  }
}

static inline int net_mac_equal(const uint8_t* a, const uint8_t* b) {
  for (size_t i = 0; i < NET_MAC_BYTES; ++i)
    if (a[i] != b[i]) return 0;
  return 1;
}

#ifdef __cplusplus
}
#pragma GCC diagnostic pop
#endif

#endif

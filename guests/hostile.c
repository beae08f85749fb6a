/* A hostile guest for the `vpio` NIC mode: it programs its (shared) NE2000
   illegitimately once and expects the Device Modeling Monitor to refuse the
   access with a machine check that names the violation. One source, one image
   per case, chosen by -DHOSTILE_CASE=HOSTILE_<CASE> (the cases below).

   Five cases were hostile until issue 15 and are now legitimate, since none
   reaches the card: a remote DMA where the card has no memory, ring pointers
   outside memory or out of order, and resets (here, each in the middle of a
   remote DMA of the guest's own, while the other guest transmits). They
   expect no machine check at all.

   All cases but HOSTILE_UNINIT first bring the card up with the stock driver
   and wait for a trigger frame (any net_proto.h frame addressed to this
   card), so that a test decides when the violation happens. The violation
   itself is written out with raw port writes, on page 0 with STA kept set, so
   that the register sequence the DMM sees is plain here.

   The escape cases (issue 13) try to make the data port outlive the remote
   DMA the monitor validated: they expect one machine check where the DMA is
   reprogrammed, carry on with the rest of the attempt regardless, read and
   overwrite whatever the data port reaches, and report whether what they
   read holds another guest's frame.

   Exit status: 0 the expected machine check came (or, for the legitimate
   cases, none), 1 a different one came, 2 none came; 3..6 the guest never got as far as the
   violation; 7 the expected one came more than once; 8 an escape read another guest's frame
   (HOSTILE_STATUS_*). */
#include "hostile.h"

#include "ne2000/ne2000.h"
#include "net_proto.h"
#include "runtime/guest.h"

/* The cases; HOSTILE_CASE names one of them. */
#define HOSTILE_DMA_OUTSIDE 1   /* remote DMA below the guest's memory (legitimate) */
#define HOSTILE_DMA_COUNT 2     /* remote DMA running out of the transmit area */
#define HOSTILE_TX_BELOW 3      /* transmit from below the card's memory (page 0x3f) */
#define HOSTILE_TX_END 4        /* transmit running past the end of the buffer */
#define HOSTILE_RING_OUTSIDE 5  /* PSTOP beyond memory (legitimate) */
#define HOSTILE_RING_INVERTED 6 /* PSTART above PSTOP (legitimate) */
#define HOSTILE_RESET 7         /* resets mid-DMA while another guest transmits (legitimate) */
#define HOSTILE_UNINIT 8        /* remote DMA write on a card never initialised */
#define HOSTILE_WIDE_RESET 9    /* HOSTILE_RESET by a 16-bit write covering the reset port */
#define HOSTILE_ESCAPE 10       /* issue 13's escape: RBCR rewritten mid-DMA, transmit CR 0x06 */
#define HOSTILE_ESCAPE_1E 11    /* the same with CR 0x1e (DMA bits: send packet) */

#ifndef HOSTILE_CASE
#error "define HOSTILE_CASE as one of the HOSTILE_* cases"
#endif

#define HOSTILE_STATUS_EXPECTED 0
#define HOSTILE_STATUS_WRONG_MC 1
#define HOSTILE_STATUS_NO_MC 2
#define HOSTILE_STATUS_NO_TRIGGER 3
#define HOSTILE_STATUS_NO_CARD 4
#define HOSTILE_STATUS_INIT 5
#define HOSTILE_STATUS_LOAD 6 /* the legitimate load before the violation failed */
#define HOSTILE_STATUS_REPEATED_MC 7
#define HOSTILE_STATUS_ESCAPED 8

#define NIC_IOBASE 0x300
/* How long to wait for the trigger, in ISR reads: far longer than any test
   takes to send it, so giving up means the trigger was lost. */
#define TRIGGER_WAIT_POLLS 10000000u
/* The reset cases: each round initialises the card, starts a remote write of
   a frame into the transmit area, writes half of it and resets. */
#define RESET_ROUNDS 100u
/* HOSTILE_UNINIT lets the other guests start first: reads of an unclaimed
   port, one exit each. */
#define UNINIT_DELAY_READS 20000u
#define UNCLAIMED_PORT 0x80
#define DMA_WORD_BYTES 2

/* The machine check the DMM raises (bank 1): valid, uncorrected, enabled,
   MISC and ADDR valid; the model-specific field (bits 16..31) holds the
   violation, the MCA code 0x082b says "bus error on an I/O write". */
#define DMM_MC_BANK 1
#define DMM_MC_STATUS_BITS 0xbc00000000000000ull
#define DMM_MC_CODE_SHIFT 16
#define DMM_MC_MCA_CODE 0x082bull

/* Violation codes the DMM reports; none for the legitimate cases. */
#define VIOLATION_NONE 0
#define VIOLATION_DMA_OUTSIDE_SHARE 1
#define VIOLATION_TX_OUTSIDE_AREA 2
#define VIOLATION_UNINITIALISED 7
#define VIOLATION_DMA_REPROGRAMMED 10

/* Card addresses and values the cases use (the guest's view of its card). */
#define SHARE_BELOW 0x2000 /* under the guest's pages 0x40..0x7f: no memory there */
#define TX_AREA 0x4000     /* the transmit area: pages 0x40..0x45 */
#define TX_AREA_END 0x4600 /* one past it */
/* The page before the card's memory (0x40..0x7f): a transmit from there
   would read what is not the guest's. Its pages past the transmit area are
   its own card's (sent as a copy, issue 15), so no longer hostile. */
#define BELOW_MEMORY_PAGE 0x3f
#define LAST_PAGE 0x7f
#define PAGE_BEYOND_SHARE 0x90     /* a PSTOP past 0x80 */
#define RING_SHORT_STOP_PAGE 0x50  /* a legal, smaller PSTOP */
#define RING_START_ABOVE_STOP 0x60 /* a PSTART above that PSTOP */
#define DMA_BYTES 64
#define DMA_COUNT_TOO_LONG 0x700 /* from 0x4000: runs past 0x4600 */
/* The escape: a remote write of one word left unfinished, its count then
   rewritten to the largest there is, and 16 KiB (all of card memory) read
   and written through the data port. */
#define ESCAPE_DMA_BYTES 2
#define ESCAPE_COUNT 0xffff
#define ESCAPE_BYTES 0x4000
#define WIDE_RESET_OFFSET 0x1e /* outw there writes +0x1e and the reset port +0x1f */

/* CR values of the violations: page 0, STA kept set. */
#define CR_IDLE (NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STA)                 /* 0x22 */
#define CR_REMOTE_WRITE (NE_CR_RD_WRITE | NE_CR_PAGE0 | NE_CR_STA)         /* 0x12 */
#define CR_TRANSMIT (NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_TXP | NE_CR_STA) /* 0x26 */
/* The escape's transmits: DMA bits 000 (no command), or 011 (send packet). */
#define CR_TRANSMIT_NO_DMA (NE_CR_PAGE0 | NE_CR_TXP | NE_CR_STA) /* 0x06 */
#define CR_TRANSMIT_SEND_PACKET \
  (NE_CR_RD_READ | NE_CR_RD_WRITE | NE_CR_PAGE0 | NE_CR_TXP | NE_CR_STA) /* 0x1e */
#if HOSTILE_CASE == HOSTILE_ESCAPE_1E
#define ESCAPE_TRANSMIT_CR CR_TRANSMIT_SEND_PACKET
#else
#define ESCAPE_TRANSMIT_CR CR_TRANSMIT_NO_DMA
#endif
#define IS_ESCAPE (HOSTILE_CASE == HOSTILE_ESCAPE || HOSTILE_CASE == HOSTILE_ESCAPE_1E)

/* What every frame of net_blast (the other guest beside the escape in the
   KVM test) starts with: guests/net_blast.c's fixed destination, and its
   ethertype at offset 12. Finding one in what the data port gave means the
   read reached that guest's transmit area on the card. */
static const uint8_t blast_destination[NE_MAC_BYTES] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
#define BLAST_ETHERTYPE 0x88b6
#define ETHERTYPE_OFFSET 12

struct expected_check {
  const char* name;
  uint16_t code;
  uint64_t addr; /* card address the refused access would have touched */
  uint16_t port; /* MISC: the port of the refused access */
};

#define PORT(offset) ((uint16_t)(NIC_IOBASE + (offset)))
#define PAGE_ADDRESS(page) ((uint64_t)(page)*NE_PAGE_BYTES)

static const struct expected_check expected_checks[] = {
    [HOSTILE_DMA_OUTSIDE] = {"dma_outside", VIOLATION_NONE, 0, 0},
    [HOSTILE_DMA_COUNT] = {"dma_count", VIOLATION_DMA_OUTSIDE_SHARE, TX_AREA_END, PORT(NE_CR)},
    [HOSTILE_TX_BELOW] = {"tx_below", VIOLATION_TX_OUTSIDE_AREA, PAGE_ADDRESS(BELOW_MEMORY_PAGE),
                          PORT(NE_CR)},
    [HOSTILE_TX_END] = {"tx_end", VIOLATION_TX_OUTSIDE_AREA, PAGE_ADDRESS(LAST_PAGE), PORT(NE_CR)},
    [HOSTILE_RING_OUTSIDE] = {"ring_outside", VIOLATION_NONE, 0, 0},
    [HOSTILE_RING_INVERTED] = {"ring_inverted", VIOLATION_NONE, 0, 0},
    [HOSTILE_RESET] = {"reset", VIOLATION_NONE, 0, 0},
    [HOSTILE_UNINIT] = {"uninit", VIOLATION_UNINITIALISED, TX_AREA, PORT(NE_CR)},
    [HOSTILE_WIDE_RESET] = {"wide_reset", VIOLATION_NONE, 0, 0},
    /* ADDR: the running DMA's address (RSAR), MISC: RBCR0, its first rewrite. */
    [HOSTILE_ESCAPE] = {"escape", VIOLATION_DMA_REPROGRAMMED, TX_AREA, PORT(NE_P0_RBCR0)},
    [HOSTILE_ESCAPE_1E] = {"escape_1e", VIOLATION_DMA_REPROGRAMMED, TX_AREA, PORT(NE_P0_RBCR0)},
};

static const struct expected_check* const expected = &expected_checks[HOSTILE_CASE];

static struct ne_card card;
static uint8_t rx[NE_MAX_STORED_FRAME];
static uint8_t tx[DMA_BYTES];
/* The escape's read-back and what it writes over card memory. */
static uint8_t readback[ESCAPE_BYTES];
static uint8_t marker[ESCAPE_BYTES];

/* Written by the #MC handler, read after each violating OUT. */
static volatile unsigned expected_checks_seen;
static volatile unsigned wrong_checks_seen;

static uint64_t expected_status(void) {
  return DMM_MC_STATUS_BITS | ((uint64_t)expected->code << DMM_MC_CODE_SHIFT) | DMM_MC_MCA_CODE;
}

void on_machine_check(const struct machine_check_info* info) {
  if (expected->code != VIOLATION_NONE && info->bank == DMM_MC_BANK &&
      info->status == expected_status() && info->addr == expected->addr &&
      info->misc == expected->port) {
    ++expected_checks_seen;
    printf("hostile: machine check as expected (code %u addr 0x%llx misc 0x%llx)\n", expected->code,
           (unsigned long long)info->addr, (unsigned long long)info->misc);
    return;
  }
  ++wrong_checks_seen;
  printf(
      "hostile: unexpected machine check (bank %u status 0x%llx addr 0x%llx misc 0x%llx); "
      "expected bank %u status 0x%llx addr 0x%llx misc 0x%x\n",
      info->bank, (unsigned long long)info->status, (unsigned long long)info->addr,
      (unsigned long long)info->misc, DMM_MC_BANK, (unsigned long long)expected_status(),
      (unsigned long long)expected->addr, expected->port);
}

/* Every write is also a compiler barrier: the #MC handler runs before the
   next instruction, and what it recorded must be read after the write. */
static void reg_write(uint16_t offset, uint8_t value) {
  outb(PORT(offset), value);
  __asm__ volatile("" ::: "memory");
}

/* A 16-bit write whose high byte lands on the reset port. */
static void wide_reset(void) {
  outw(PORT(WIDE_RESET_OFFSET), 0);
  __asm__ volatile("" ::: "memory");
}

static unsigned checks_seen(void) { return expected_checks_seen + wrong_checks_seen; }

static void set_remote_dma(uint16_t address, uint16_t count) {
  reg_write(NE_P0_RBCR0, (uint8_t)count);
  reg_write(NE_P0_RBCR1, (uint8_t)(count >> 8));
  reg_write(NE_P0_RSAR0, (uint8_t)address);
  reg_write(NE_P0_RSAR1, (uint8_t)(address >> 8));
}

static void set_transmit(uint8_t page, uint16_t count) {
  reg_write(NE_P0_TPSR, page);
  reg_write(NE_P0_TBCR0, (uint8_t)count);
  reg_write(NE_P0_TBCR1, (uint8_t)(count >> 8));
}

/* Waits for a frame of our protocol addressed to this card (the test's
   signal to misbehave). Returns 0, or -1 when the budget ran out. */
static int wait_for_trigger(void) {
  uint64_t start = card.counters.polls;
  for (;;) {
    uint64_t used = card.counters.polls - start;
    if (used >= TRIGGER_WAIT_POLLS) return -1;
    int len = ne_receive_wait(&card, rx, sizeof rx, TRIGGER_WAIT_POLLS - (uint32_t)used);
    if (len == 0) return -1;
    if (len < NET_HEADER_BYTES) continue; /* dropped (<0), or too short to be ours */
    const struct net_header* h = (const struct net_header*)rx;
    if (net_check_frame(rx, (size_t)len) == NET_BAD_ETHERTYPE) continue;
    if (net_mac_equal(h->dst, card.mac)) return 0;
  }
}

/* Waits for RDC and acknowledges it. Returns 0, or -1 if it never came. */
static int wait_remote_dma(void) {
  for (uint32_t poll = 0; poll < NE_DMA_POLLS; ++poll) {
    if (inb(PORT(NE_P0_ISR)) & NE_ISR_RDC) {
      reg_write(NE_P0_ISR, NE_ISR_RDC);
      return 0;
    }
  }
  return -1;
}

/* The reset cases: a frame of its own half loaded, then a reset (byte or
   16-bit), round after round while the other guest transmits. The half
   frame is lost; nothing else is touched. Returns 0, or -1. */
static int reset_mid_dma(void) {
  net_build_frame(tx, card.mac, card.mac, NET_MSG_DATA, 0, DMA_BYTES - NET_HEADER_BYTES);
  for (uint32_t round = 0; round < RESET_ROUNDS; ++round) {
    if (ne_init(&card, NE_MODE_BROADCAST) < 0) return -1;
    reg_write(NE_CR, CR_IDLE);
    reg_write(NE_P0_ISR, NE_ISR_RDC);
    set_remote_dma(TX_AREA, DMA_BYTES);
    reg_write(NE_CR, CR_REMOTE_WRITE);
    outsw(PORT(NE_DATA_PORT), tx, DMA_BYTES / DMA_WORD_BYTES / 2);
    if (HOSTILE_CASE == HOSTILE_WIDE_RESET)
      wide_reset();
    else
      reg_write(NE_RESET_PORT, 0);
  }
  printf("hostile: %u resets, each mid-DMA, %u machine checks\n", RESET_ROUNDS, checks_seen());
  return ne_init(&card, NE_MODE_BROADCAST) < 0 ? -1 : 0;
}

/* Loads a harmless 64-byte frame (to itself) into the transmit area the
   legitimate way: remote DMA write, wait for RDC, acknowledge it. */
static int load_transmit_area(void) {
  net_build_frame(tx, card.mac, card.mac, NET_MSG_DATA, 0, DMA_BYTES - NET_HEADER_BYTES);
  reg_write(NE_CR, CR_IDLE);
  reg_write(NE_P0_ISR, NE_ISR_RDC);
  set_remote_dma(TX_AREA, DMA_BYTES);
  reg_write(NE_CR, CR_REMOTE_WRITE);
  outsw(PORT(NE_DATA_PORT), tx, DMA_BYTES / DMA_WORD_BYTES);
  if (wait_remote_dma() == 0) return 0;
  print("hostile: loading the transmit area never completed\n");
  return -1;
}

/* Waits for the transmit a CR.TXP started to finish and acknowledges it.
   A refused transmit never finishes: not waited for. */
static void wait_transmit(unsigned checks_before) {
  if (checks_seen() != checks_before) return;
  for (uint32_t poll = 0; poll < NE_TX_POLLS; ++poll) {
    uint8_t isr = inb(PORT(NE_P0_ISR));
    if (isr & (NE_ISR_PTX | NE_ISR_TXE)) {
      reg_write(NE_P0_ISR, isr & (NE_ISR_PTX | NE_ISR_TXE));
      return;
    }
  }
  print("hostile: a transmit never completed\n");
}

static void transmit_area_again(void) {
  const unsigned before = checks_seen();
  set_transmit(NE_TX_START_PAGE, DMA_BYTES);
  reg_write(NE_CR, ESCAPE_TRANSMIT_CR);
  wait_transmit(before);
}

/* The frame headers of net_blast's stream in what the data port gave. */
static unsigned foreign_frames_read(void) {
  unsigned found = 0;
  for (unsigned at = 0; at + ETHERTYPE_OFFSET + 2 <= sizeof readback; ++at) {
    if (memcmp(readback + at, blast_destination, NE_MAC_BYTES) != 0) continue;
    if (readback[at + ETHERTYPE_OFFSET] != (uint8_t)(BLAST_ETHERTYPE >> 8) ||
        readback[at + ETHERTYPE_OFFSET + 1] != (uint8_t)(BLAST_ETHERTYPE & 0xff))
      continue;
    const uint8_t* src = readback + at + NE_MAC_BYTES;
    if (found == 0)
      printf(
          "hostile: ESCAPE: read another guest's frame at +0x%x: source "
          "%02x:%02x:%02x:%02x:%02x:%02x, sequence %u\n",
          at, src[0], src[1], src[2], src[3], src[4], src[5],
          (unsigned)(readback[at + 14] | readback[at + 15] << 8));
    ++found;
  }
  return found;
}

/* Issue 13's sequence, step by step; the machine check is expected at step
   3, and the steps after it run all the same. Returns the number of
   net_blast frame headers the read-back held (0: no escape), or -1. */
static int escape(void) {
  /* 1. A frame of its own into its transmit area, the legitimate way. */
  if (load_transmit_area() < 0) return -1;
  /* 2. A remote write of one word, left unfinished: the data port is direct. */
  reg_write(NE_CR, CR_IDLE);
  set_remote_dma(TX_AREA, ESCAPE_DMA_BYTES);
  reg_write(NE_CR, CR_REMOTE_WRITE);
  /* 3. Its count rewritten while it runs: refused at the first byte, which
     also takes the DMA from the guest, so the second reaches its own card. */
  reg_write(NE_P0_RBCR0, (uint8_t)ESCAPE_COUNT);
  reg_write(NE_P0_RBCR1, (uint8_t)(ESCAPE_COUNT >> 8));
  printf("hostile: RBCR rewritten mid-DMA, %u machine checks so far\n", checks_seen());
  /* 4. A transmit whose CR carries no remote DMA command. */
  const unsigned before_transmit = checks_seen();
  set_transmit(NE_TX_START_PAGE, DMA_BYTES);
  reg_write(NE_CR, ESCAPE_TRANSMIT_CR);
  /* 5. All of card memory through the data port, read and then written. */
  insw(PORT(NE_DATA_PORT), readback, ESCAPE_BYTES / DMA_WORD_BYTES);
  outsw(PORT(NE_DATA_PORT), marker, ESCAPE_BYTES / DMA_WORD_BYTES);
  wait_transmit(before_transmit);
  transmit_area_again();
  unsigned nonzero = 0;
  for (unsigned i = 0; i < sizeof readback; ++i) nonzero += readback[i] != 0;
  const unsigned found = foreign_frames_read();
  printf(
      "hostile: read %u bytes through the data port (%u non-zero): %u frame headers of another "
      "guest's stream\n",
      ESCAPE_BYTES, nonzero, found);
  return (int)found;
}

/* The one illegitimate programming of each case; its last OUT is the one the
   DMM refuses (the legitimate cases run to their end). Returns 0, or -1 if
   it could not get that far. */
static int misbehave(void) {
  switch (HOSTILE_CASE) {
    case HOSTILE_DMA_OUTSIDE:
      /* A card of its own has no memory there: the bytes go nowhere. */
      reg_write(NE_CR, CR_IDLE);
      reg_write(NE_P0_ISR, NE_ISR_RDC);
      set_remote_dma(SHARE_BELOW, DMA_BYTES);
      reg_write(NE_CR, CR_REMOTE_WRITE);
      outsw(PORT(NE_DATA_PORT), tx, DMA_BYTES / DMA_WORD_BYTES);
      if (wait_remote_dma() < 0) return -1;
      break;
    case HOSTILE_DMA_COUNT:
      reg_write(NE_CR, CR_IDLE);
      set_remote_dma(TX_AREA, DMA_COUNT_TOO_LONG);
      reg_write(NE_CR, CR_REMOTE_WRITE);
      break;
    case HOSTILE_TX_BELOW:
      if (load_transmit_area() < 0) return -1;
      set_transmit(BELOW_MEMORY_PAGE, DMA_BYTES);
      reg_write(NE_CR, CR_TRANSMIT);
      break;
    case HOSTILE_TX_END:
      reg_write(NE_CR, CR_IDLE);
      set_transmit(LAST_PAGE, NE_MAX_FRAME);
      reg_write(NE_CR, CR_TRANSMIT);
      break;
    case HOSTILE_RING_OUTSIDE:
      reg_write(NE_CR, CR_IDLE);
      reg_write(NE_P0_PSTOP, PAGE_BEYOND_SHARE);
      break;
    case HOSTILE_RING_INVERTED:
      reg_write(NE_CR, CR_IDLE);
      reg_write(NE_P0_PSTOP, RING_SHORT_STOP_PAGE);
      reg_write(NE_P0_PSTART, RING_START_ABOVE_STOP);
      break;
    case HOSTILE_RESET:
    case HOSTILE_WIDE_RESET: return reset_mid_dma();
    case HOSTILE_UNINIT:
      /* The card is as the VMM left it: page 0, never started. */
      set_remote_dma(TX_AREA, DMA_BYTES);
      reg_write(NE_CR, CR_REMOTE_WRITE);
      break;
  }
  return 0;
}

static int verdict(void) {
  if (wrong_checks_seen != 0) return HOSTILE_STATUS_WRONG_MC;
  if (expected->code == VIOLATION_NONE) {
    printf("hostile: no machine check for %s, as expected (legitimate since issue 15)\n",
           expected->name);
    return HOSTILE_STATUS_EXPECTED;
  }
  if (expected_checks_seen > 1) {
    printf("hostile: %u machine checks for %s, expected one\n", expected_checks_seen,
           expected->name);
    return HOSTILE_STATUS_REPEATED_MC;
  }
  if (expected_checks_seen != 0) return HOSTILE_STATUS_EXPECTED;
  printf("hostile: no machine check for %s\n", expected->name);
  return HOSTILE_STATUS_NO_MC;
}

int main(void) {
  idt_install();
  if (HOSTILE_CASE == HOSTILE_UNINIT) {
    for (uint32_t i = 0; i < UNINIT_DELAY_READS; ++i) (void)inb(UNCLAIMED_PORT);
    printf("hostile: %s: remote DMA on a card never initialised\n", expected->name);
    if (misbehave() < 0) return HOSTILE_STATUS_LOAD;
    return verdict();
  }

  if (ne_probe(&card, NIC_IOBASE) < 0) return HOSTILE_STATUS_NO_CARD;
  if (ne_init(&card, NE_MODE_BROADCAST) < 0) return HOSTILE_STATUS_INIT;
  printf("hostile: %s: NE2000 at 0x%x, MAC %02x:%02x:%02x:%02x:%02x:%02x; waiting for a trigger\n",
         expected->name, NIC_IOBASE, card.mac[0], card.mac[1], card.mac[2], card.mac[3],
         card.mac[4], card.mac[5]);
  if (wait_for_trigger() < 0) {
    printf("hostile: no trigger frame after %u polls\n", TRIGGER_WAIT_POLLS);
    ne_print_counters(&card, "hostile");
    return HOSTILE_STATUS_NO_TRIGGER;
  }
  printf("hostile: triggered; misbehaving (%s)\n", expected->name);
  if (IS_ESCAPE) {
    for (unsigned i = 0; i < sizeof marker; ++i)
      marker[i] = (uint8_t)HOSTILE_ESCAPE_MARKER[i % HOSTILE_ESCAPE_MARKER_BYTES];
    int found = escape();
    if (found < 0) return HOSTILE_STATUS_LOAD;
    if (found > 0) return HOSTILE_STATUS_ESCAPED;
    return verdict();
  }
  if (misbehave() < 0) return HOSTILE_STATUS_LOAD;
  return verdict();
}

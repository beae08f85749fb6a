/* A small NE2000 (DP8390 + NE2000 ASIC) driver for vpio's test guests. It
   programs the card as for real hardware, in the order Linux ne.c/lib8390 do,
   so it runs on vpio's emulated chip and on QEMU's ne2k_isa alike.
   Polling is the default; ne_enable_interrupts() lets waits halt instead. */
#ifndef VPIO_GUEST_NE2000_H
#define VPIO_GUEST_NE2000_H

#include <stddef.h>
#include <stdint.h>

/* ---- I/O window: offsets from the card's base port ---- */
#define NE_CR 0x00 /* command register, on every page */
/* Page 0, written. */
#define NE_P0_PSTART 0x01
#define NE_P0_PSTOP 0x02
#define NE_P0_BNRY 0x03 /* read and written */
#define NE_P0_TPSR 0x04
#define NE_P0_TBCR0 0x05
#define NE_P0_TBCR1 0x06
#define NE_P0_ISR 0x07 /* read and written (write 1 to clear) */
#define NE_P0_RSAR0 0x08
#define NE_P0_RSAR1 0x09
#define NE_P0_RBCR0 0x0a
#define NE_P0_RBCR1 0x0b
#define NE_P0_RCR 0x0c
#define NE_P0_TCR 0x0d
#define NE_P0_DCR 0x0e
#define NE_P0_IMR 0x0f
/* Page 0, read. */
#define NE_P0_TSR 0x04
#define NE_P0_RSR 0x0c
#define NE_P0_CNTR0 0x0d /* tally counters clear when read */
#define NE_P0_CNTR1 0x0e
#define NE_P0_CNTR2 0x0f
/* Page 1. */
#define NE_P1_PAR0 0x01 /* PAR0..PAR5 at 0x01..0x06 */
#define NE_P1_CURR 0x07
#define NE_P1_MAR0 0x08 /* MAR0..MAR7 at 0x08..0x0f */
#define NE_P1_MAR5 0x0d /* shares its offset with page 0's CNTR0 (ne.c's probe) */
#define NE_MAR_BYTES 8
#define NE_MAR_ACCEPT_ALL 0xff
#define NE_MAR_ACCEPT_NONE 0x00
#define NE_FLOATING_BUS 0xff /* what a read of an empty ISA port returns */
/* NE2000 ASIC. */
#define NE_DATA_PORT 0x10
#define NE_RESET_PORT 0x1f
#define NE_WINDOW_PORTS 0x20

/* CR bits. */
#define NE_CR_STP 0x01
#define NE_CR_STA 0x02
#define NE_CR_TXP 0x04
#define NE_CR_RD_READ 0x08
#define NE_CR_RD_WRITE 0x10
#define NE_CR_RD_ABORT 0x20 /* "no DMA": abort or complete remote DMA */
#define NE_CR_PAGE0 0x00
#define NE_CR_PAGE1 0x40
#define NE_CR_PAGE2 0x80

/* ISR and IMR bits. */
#define NE_ISR_PRX 0x01 /* packet received */
#define NE_ISR_PTX 0x02 /* packet transmitted */
#define NE_ISR_RXE 0x04 /* receive error */
#define NE_ISR_TXE 0x08 /* transmit error */
#define NE_ISR_OVW 0x10 /* receive ring overwrite warning */
#define NE_ISR_CNT 0x20 /* tally counter MSB set */
#define NE_ISR_RDC 0x40 /* remote DMA complete */
#define NE_ISR_RST 0x80 /* reset / stopped */
#define NE_ISR_ALL 0xff

/* DCR bits. */
#define NE_DCR_WTS 0x01 /* word-wide remote DMA */
#define NE_DCR_LS 0x08  /* normal operation (clear: loopback select) */
#define NE_DCR_FT1 0x40 /* FIFO threshold: 8 bytes (4 words) */

/* RCR bits. */
#define NE_RCR_AB 0x04  /* accept broadcast */
#define NE_RCR_AM 0x08  /* accept multicast (through MAR) */
#define NE_RCR_PRO 0x10 /* promiscuous physical */
#define NE_RCR_MON 0x20 /* monitor: check addresses, store nothing */

/* TCR values. */
#define NE_TCR_NORMAL 0x00
#define NE_TCR_LOOPBACK_INTERNAL 0x02

/* TSR and RSR bits. */
#define NE_TSR_PTX 0x01
#define NE_TSR_ABT 0x08
#define NE_RSR_PRX 0x01

/* ---- Buffer memory layout ---- */
#define NE_PAGE_BYTES 256
#define NE_TX_START_PAGE 0x40 /* 6 pages: one maximal frame */
#define NE_TX_PAGES 6
#define NE_RX_START_PAGE 0x46 /* PSTART */
#define NE_RX_STOP_PAGE 0x80  /* PSTOP: one past the ring */
#define NE_RING_HEADER_BYTES 4
#define NE_PROM_BYTES 32       /* 16 words in word mode, each byte doubled */
#define NE_PROM_SIGNATURE 0x57 /* 'W' in PROM words 14 and 15: a word card */

#define NE_MAC_BYTES 6
#define NE_MIN_FRAME 60   /* without FCS */
#define NE_MAX_FRAME 1514 /* without FCS */
/* The longest count a header may carry: a tagged frame plus FCS (real chips
   store the FCS, vpio's and QEMU's do not). */
#define NE_MAX_STORED_FRAME 1522

/* Poll budgets: each poll is one ISR read, i.e. one VM exit. */
#define NE_RESET_POLLS 10000
#define NE_DMA_POLLS 10000
#define NE_TX_POLLS 100000

/* ne_init modes: what the receiver accepts besides its own address. */
#define NE_MODE_BROADCAST 0x01
#define NE_MODE_MULTICAST 0x02 /* all multicast (MAR all ones) */
#define NE_MODE_PROMISCUOUS 0x04

/* Error codes (negative returns). */
#define NE_ERR_NO_CARD (-1)
#define NE_ERR_NO_RESET (-2)
#define NE_ERR_BAD_PROM (-3)
#define NE_ERR_TIMEOUT (-4)
#define NE_ERR_TX_ABORTED (-5)
#define NE_ERR_TOO_LONG (-6)
#define NE_ERR_BAD_HEADER (-7) /* ring pointers inconsistent: ring was reset */
#define NE_ERR_BAD_FRAME (-8)  /* frame skipped: error status or length */
#define NE_ERR_TOO_SMALL (-9)  /* frame skipped: caller's buffer too small */
#define NE_ERR_BUSY (-10)

struct ne_counters {
  uint64_t frames_sent;
  uint64_t frames_received;
  uint64_t tx_errors;
  uint64_t rx_errors;   /* bad headers, bad frames, too long for the buffer */
  uint64_t ring_resets; /* ring abandoned after an inconsistent header */
  uint64_t overruns;    /* OVW recoveries */
  uint64_t polls;       /* ISR reads while waiting */
  uint64_t interrupts;  /* handler runs */
  /* With interrupts and the timer: events a wait found pending in ISR when
     it timed out, for which no interrupt came even two ticks later. The
     card raised its line and the edge never arrived: a bug below the
     driver, which the wait then reports and survives. */
  uint64_t lost_interrupts;
};

struct ne_card {
  uint16_t iobase;
  uint8_t mac[NE_MAC_BYTES];
  uint8_t mode;
  uint8_t next_page;            /* next frame to read in the ring (BNRY + 1) */
  uint8_t imr;                  /* what ne_init loads into IMR (0: polling) */
  uint8_t running;              /* CR writes carry STA (else STP) */
  uint8_t in_overrun;           /* OVW recovery: restarted in loopback, draining */
  uint8_t resend_after_overrun; /* a transmit was cut short by the stop */
  int irq;                      /* -1: polling */
  volatile uint8_t irq_events;  /* ISR bits the handler saw and acknowledged */
  struct ne_counters counters;
  uint8_t imr_now; /* IMR as last written (OVW masked during overrun recovery) */
};

/* Resets the card at iobase, checks it answers as a DP8390 and reads its
   MAC from the PROM. Returns 0, or <0 after printing why. */
int ne_probe(struct ne_card* card, uint16_t iobase);
/* Programs the ring and address and starts the card; mode is NE_MODE_*. */
int ne_init(struct ne_card* card, uint8_t mode);
/* Sends one frame (padded to 60 bytes), waits for its completion. Returns 0
   or <0 (timeout, transmit aborted, too long). */
int ne_send(struct ne_card* card, const void* frame, size_t len);
/* Takes the next frame out of the ring into buf. Returns its length, 0 when
   the ring is empty, <0 when a frame was dropped (the ring stays usable). */
int ne_receive(struct ne_card* card, void* buf, size_t cap);
/* Waits until one of the ISR bits in events is pending (left unacknowledged)
   or max_polls ISR reads have passed. Returns the pending bits, 0 on timeout.
   With interrupts enabled it reads no ISR: it halts until the interrupt
   handler reports one of events, and max_polls bounds the wake-ups (a tick
   of the timer wakes it too; without the timer a halt is unbounded). */
uint8_t ne_wait(struct ne_card* card, uint8_t events, uint32_t max_polls);
/* Waits up to max_polls for a frame and receives it: ne_receive's results,
   0 on timeout. */
int ne_receive_wait(struct ne_card* card, void* buf, size_t cap, uint32_t max_polls);
/* As ne_wait and ne_receive_wait, bounded by the timer instead: until
   timer_ticks() reaches until_tick (timer_start must have been called).
   Polling, they open a one-instruction interrupt window between ISR reads
   so that ticks come in. With interrupts, a wait that times out looks at
   ISR once: an event pending there that no interrupt reported within two
   more ticks is counted in lost_interrupts, printed, and returned. */
uint8_t ne_wait_until(struct ne_card* card, uint8_t events, uint64_t until_tick);
int ne_receive_until(struct ne_card* card, void* buf, size_t cap, uint64_t until_tick);
/* Unmasks PRX|PTX|RXE|TXE|OVW and routes ISA IRQ irq to the driver (the IDT
   must be installed). One card per guest may use interrupts. The handler
   acknowledges what it finds until ISR reads clear of unmasked events, so
   the (edge-triggered) line drops and the next event is an edge again. */
void ne_enable_interrupts(struct ne_card* card, unsigned irq);
void ne_print_counters(const struct ne_card* card, const char* who);

#endif

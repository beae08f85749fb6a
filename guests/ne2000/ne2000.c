/* NE2000 driver for test guests: probe, init, send and receive by remote DMA
   with rep outsw/insw, in the register order of Linux ne.c and lib8390, so
   that the same code drives vpio's chip and QEMU's ne2k_isa. The card is
   always left on register page 0 with no remote DMA running between calls:
   ne_wait reads ISR there, and the interrupt handler relies on it. */
#include "ne2000/ne2000.h"

#include "runtime/guest.h"

#define NE_RING_PAGES (NE_RX_STOP_PAGE - NE_RX_START_PAGE)
/* lib8390 waits 2 ms for the receiver to stop before overrun recovery; a
   guest has no clock, so it polls for ISR.RST at most this often. */
#define NE_STOP_POLLS 2000
#define NE_INTERRUPT_EVENTS (NE_ISR_PRX | NE_ISR_PTX | NE_ISR_RXE | NE_ISR_TXE | NE_ISR_OVW)
#define NE_DCR_VALUE (NE_DCR_WTS | NE_DCR_LS | NE_DCR_FT1)
/* lib8390's bound on the handler's loop over ISR ("too much work"). */
#define NE_HANDLER_ROUNDS 10
/* With the timer: how long a transmit may take before ne_send gives up. */
#define NE_TX_TIMEOUT_MS 2000
/* How long a timed-out wait gives an interrupt for an event it found in
   ISR to arrive (one that is on its way takes microseconds). */
#define NE_LATE_INTERRUPT_TICKS 2
#define NE_MS_PER_SECOND 1000

static struct ne_card* interrupt_card;

static void reg_write(const struct ne_card* card, uint16_t offset, uint8_t value) {
  outb((uint16_t)(card->iobase + offset), value);
}

static uint8_t reg_read(const struct ne_card* card, uint16_t offset) {
  return inb((uint16_t)(card->iobase + offset));
}

static void set_imr(struct ne_card* card, uint8_t imr) {
  card->imr_now = imr;
  reg_write(card, NE_P0_IMR, imr);
}

/* The run bits of every CR write: lib8390 sometimes writes neither, which a
   DP8390 reads as "keep", but QEMU's card takes any CR without STP as a start. */
static uint8_t run_bits(const struct ne_card* card) {
  return card->running ? NE_CR_STA : NE_CR_STP;
}

static void command(const struct ne_card* card, uint8_t bits) {
  reg_write(card, NE_CR, (uint8_t)(bits | run_bits(card)));
}

static uint8_t ring_page_before(uint8_t page) {
  return page == NE_RX_START_PAGE ? (uint8_t)(NE_RX_STOP_PAGE - 1) : (uint8_t)(page - 1);
}

static uint8_t ring_page_add(uint8_t page, unsigned pages) {
  unsigned p = page + pages;
  while (p >= NE_RX_STOP_PAGE) p -= NE_RING_PAGES;
  return (uint8_t)p;
}

static void program_remote_dma(const struct ne_card* card, uint16_t address, uint16_t count,
                               uint8_t direction) {
  command(card, NE_CR_RD_ABORT | NE_CR_PAGE0);
  reg_write(card, NE_P0_RBCR0, (uint8_t)count);
  reg_write(card, NE_P0_RBCR1, (uint8_t)(count >> 8));
  reg_write(card, NE_P0_RSAR0, (uint8_t)address);
  reg_write(card, NE_P0_RSAR1, (uint8_t)(address >> 8));
  command(card, (uint8_t)(direction | NE_CR_PAGE0));
}

/* Reads count bytes of card memory. Word mode moves whole words, so an odd
   count reads one word more and keeps its low byte. */
static void dma_read(struct ne_card* card, uint16_t address, void* buf, size_t count) {
  size_t words = count / 2;
  program_remote_dma(card, address, (uint16_t)((count + 1) & ~(size_t)1), NE_CR_RD_READ);
  if (words != 0) insw((uint16_t)(card->iobase + NE_DATA_PORT), buf, words);
  if (count & 1) {
    uint16_t last = inw((uint16_t)(card->iobase + NE_DATA_PORT));
    ((uint8_t*)buf)[count - 1] = (uint8_t)last;
  }
  reg_write(card, NE_P0_ISR, NE_ISR_RDC);
}

/* Writes body then tail (each an even number of bytes) to card memory in
   one remote DMA and waits for it to finish (ne.c's block output). Returns 0
   or NE_ERR_TIMEOUT. */
static int dma_write(struct ne_card* card, uint16_t address, const void* body, size_t body_len,
                     const void* tail, size_t tail_len) {
  uint16_t data_port = (uint16_t)(card->iobase + NE_DATA_PORT);
  command(card, NE_CR_RD_ABORT | NE_CR_PAGE0);
  reg_write(card, NE_P0_ISR, NE_ISR_RDC);
  program_remote_dma(card, address, (uint16_t)(body_len + tail_len), NE_CR_RD_WRITE);
  if (body_len != 0) outsw(data_port, body, body_len / 2);
  if (tail_len != 0) outsw(data_port, tail, tail_len / 2);
  for (uint32_t poll = 0; poll < NE_DMA_POLLS; ++poll) {
    if (reg_read(card, NE_P0_ISR) & NE_ISR_RDC) {
      reg_write(card, NE_P0_ISR, NE_ISR_RDC);
      return 0;
    }
  }
  printf("ne2000: remote DMA write of %u bytes never completed\n", (unsigned)(body_len + tail_len));
  return NE_ERR_TIMEOUT;
}

static uint8_t read_curr(const struct ne_card* card) {
  command(card, NE_CR_RD_ABORT | NE_CR_PAGE1);
  uint8_t curr = reg_read(card, NE_P1_CURR);
  command(card, NE_CR_RD_ABORT | NE_CR_PAGE0);
  return curr;
}

/* ---- Probe ---- */

/* ne.c's first test: a DP8390 clears its tally counters when they are read,
   whatever was just written on page 1 at the same offset. */
static int looks_like_dp8390(struct ne_card* card) {
  reg_write(card, NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE1 | NE_CR_STP);
  uint8_t saved = reg_read(card, NE_P1_MAR5);
  reg_write(card, NE_P1_MAR5, NE_MAR_ACCEPT_ALL);
  reg_write(card, NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STP);
  (void)reg_read(card, NE_P0_CNTR0);
  int ok = reg_read(card, NE_P0_CNTR0) == 0;
  reg_write(card, NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE1 | NE_CR_STP);
  reg_write(card, NE_P1_MAR5, saved);
  reg_write(card, NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STP);
  return ok;
}

int ne_probe(struct ne_card* card, uint16_t iobase) {
  memset(card, 0, sizeof *card);
  card->iobase = iobase;
  card->irq = -1;

  uint8_t cr = reg_read(card, NE_CR);
  if (cr == NE_FLOATING_BUS) {
    printf("ne2000: no card at 0x%x (CR reads 0xff)\n", iobase);
    return NE_ERR_NO_CARD;
  }
  if (!looks_like_dp8390(card)) {
    printf("ne2000: card at 0x%x is no DP8390 (CNTR0 does not clear)\n", iobase);
    return NE_ERR_NO_CARD;
  }

  /* A read of the reset port resets the card; ne.c writes the value back. */
  uint8_t reset = reg_read(card, NE_RESET_PORT);
  reg_write(card, NE_RESET_PORT, reset);
  uint32_t poll = 0;
  while ((reg_read(card, NE_P0_ISR) & NE_ISR_RST) == 0) {
    if (++poll == NE_RESET_POLLS) {
      printf("ne2000: card at 0x%x never acknowledged the reset (ISR.RST)\n", iobase);
      return NE_ERR_NO_RESET;
    }
  }
  reg_write(card, NE_P0_ISR, NE_ISR_ALL);

  /* ne.c's PROM read, in word mode: monitor + loopback so nothing arrives. */
  reg_write(card, NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STP);
  reg_write(card, NE_P0_DCR, NE_DCR_VALUE);
  reg_write(card, NE_P0_RBCR0, 0);
  reg_write(card, NE_P0_RBCR1, 0);
  set_imr(card, 0);
  reg_write(card, NE_P0_ISR, NE_ISR_ALL);
  reg_write(card, NE_P0_RCR, NE_RCR_MON);
  reg_write(card, NE_P0_TCR, NE_TCR_LOOPBACK_INTERNAL);
  reg_write(card, NE_P0_RBCR0, NE_PROM_BYTES);
  reg_write(card, NE_P0_RBCR1, 0);
  reg_write(card, NE_P0_RSAR0, 0);
  reg_write(card, NE_P0_RSAR1, 0);
  reg_write(card, NE_CR, NE_CR_RD_READ | NE_CR_PAGE0 | NE_CR_STA);
  uint16_t prom[NE_PROM_BYTES / 2];
  insw((uint16_t)(iobase + NE_DATA_PORT), prom, NE_PROM_BYTES / 2);
  reg_write(card, NE_P0_ISR, NE_ISR_RDC);
  reg_write(card, NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STP);

  /* A 16-bit card doubles every PROM byte and ends with 'W' 'W'. */
  int doubled = 1, all_ones = 1, all_zero = 1;
  for (unsigned i = 0; i < NE_MAC_BYTES; ++i) {
    uint8_t low = (uint8_t)prom[i], high = (uint8_t)(prom[i] >> 8);
    if (low != high) doubled = 0;
    if (low != NE_FLOATING_BUS) all_ones = 0;
    if (low != 0) all_zero = 0;
    card->mac[i] = low;
  }
  const unsigned signature_word = NE_PROM_BYTES / 2 - 2;
  if (!doubled || all_ones || all_zero || (uint8_t)prom[signature_word] != NE_PROM_SIGNATURE ||
      (uint8_t)prom[signature_word + 1] != NE_PROM_SIGNATURE) {
    printf("ne2000: card at 0x%x has no NE2000 PROM (words 0=0x%x 14=0x%x 15=0x%x)\n", iobase,
           prom[0], prom[signature_word], prom[signature_word + 1]);
    return NE_ERR_BAD_PROM;
  }
  return 0;
}

/* ---- Init ---- */

int ne_init(struct ne_card* card, uint8_t mode) {
  card->mode = mode;
  card->running = 0;
  card->in_overrun = 0;
  card->resend_after_overrun = 0;
  card->irq_events = 0;

  /* NS8390_init: stopped, monitor + loopback while the ring is set up. */
  command(card, NE_CR_RD_ABORT | NE_CR_PAGE0);
  reg_write(card, NE_P0_DCR, NE_DCR_VALUE);
  reg_write(card, NE_P0_RBCR0, 0);
  reg_write(card, NE_P0_RBCR1, 0);
  reg_write(card, NE_P0_RCR, NE_RCR_MON);
  reg_write(card, NE_P0_TCR, NE_TCR_LOOPBACK_INTERNAL);
  reg_write(card, NE_P0_TPSR, NE_TX_START_PAGE);
  reg_write(card, NE_P0_PSTART, NE_RX_START_PAGE);
  /* BNRY trails the next frame to read by one page. */
  card->next_page = NE_RX_START_PAGE + 1;
  reg_write(card, NE_P0_BNRY, ring_page_before(card->next_page));
  reg_write(card, NE_P0_PSTOP, NE_RX_STOP_PAGE);
  reg_write(card, NE_P0_ISR, NE_ISR_ALL);
  set_imr(card, 0);

  command(card, NE_CR_RD_ABORT | NE_CR_PAGE1);
  for (unsigned i = 0; i < NE_MAC_BYTES; ++i)
    reg_write(card, (uint16_t)(NE_P1_PAR0 + i), card->mac[i]);
  reg_write(card, NE_P1_CURR, card->next_page);
  uint8_t filter = (mode & NE_MODE_MULTICAST) ? NE_MAR_ACCEPT_ALL : NE_MAR_ACCEPT_NONE;
  for (unsigned i = 0; i < NE_MAR_BYTES; ++i) reg_write(card, (uint16_t)(NE_P1_MAR0 + i), filter);
  uint8_t curr = reg_read(card, NE_P1_CURR);
  command(card, NE_CR_RD_ABORT | NE_CR_PAGE0);
  if (curr != card->next_page) {
    printf("ne2000: CURR reads back 0x%x, wrote 0x%x\n", curr, card->next_page);
    return NE_ERR_NO_CARD;
  }

  /* Start; the transmitter and receiver go on only after STA (3c503 manual). */
  reg_write(card, NE_P0_ISR, NE_ISR_ALL);
  set_imr(card, card->imr);
  card->running = 1;
  command(card, NE_CR_RD_ABORT | NE_CR_PAGE0);
  reg_write(card, NE_P0_TCR, NE_TCR_NORMAL);
  uint8_t rcr = 0;
  if (mode & NE_MODE_BROADCAST) rcr |= NE_RCR_AB;
  if (mode & NE_MODE_MULTICAST) rcr |= NE_RCR_AM;
  if (mode & NE_MODE_PROMISCUOUS) rcr |= NE_RCR_PRO;
  reg_write(card, NE_P0_RCR, rcr);
  return 0;
}

/* ---- Waiting and interrupts ---- */

/* With interrupts the handler alone reads ISR for events: a wait that read
   it too would take events whose interrupt is still to come, and an edge
   lost on the way would go unnoticed. */
uint8_t ne_wait(struct ne_card* card, uint8_t events, uint32_t max_polls) {
  for (uint32_t poll = 0; poll < max_polls; ++poll) {
    uint8_t pending = card->irq_events & events;
    if (pending) return pending;
    if (card->irq >= 0) {
      /* Interrupts open only here, with the card on page 0 and no DMA. An
         edge that came while they were closed is delivered at once. */
      wait_for_interrupt();
      continue;
    }
    ++card->counters.polls;
    pending = reg_read(card, NE_P0_ISR) & events;
    if (pending) return pending;
  }
  return 0;
}

/* A timed-out wait with interrupts: an event pending in ISR is either one
   whose interrupt is on its way, or one whose edge was lost. */
static uint8_t check_lost_interrupt(struct ne_card* card, uint8_t events) {
  uint8_t pending = reg_read(card, NE_P0_ISR) & events & card->imr_now;
  if (pending == 0) return 0;
  uint64_t until = timer_ticks() + NE_LATE_INTERRUPT_TICKS;
  while ((card->irq_events & pending) == 0 && timer_ticks() < until) wait_for_interrupt();
  if (card->irq_events & pending) return card->irq_events & events;
  ++card->counters.lost_interrupts;
  printf("ne2000: ISR 0x%x pending and unmasked, but no interrupt came: a lost edge\n", pending);
  reg_write(card, NE_P0_ISR, (uint8_t)(pending & ~NE_ISR_OVW));
  card->irq_events |= pending;
  return pending;
}

uint8_t ne_wait_until(struct ne_card* card, uint8_t events, uint64_t until_tick) {
  for (;;) {
    uint8_t pending = card->irq_events & events;
    if (pending) return pending;
    if (timer_ticks() >= until_tick) return card->irq >= 0 ? check_lost_interrupt(card, events) : 0;
    if (card->irq >= 0) {
      wait_for_interrupt();
      continue;
    }
    ++card->counters.polls;
    pending = reg_read(card, NE_P0_ISR) & events;
    if (pending) return pending;
    __asm__ volatile("sti; nop; cli" ::: "memory"); /* let a tick in */
  }
}

/* Records and acknowledges what the card reports until ISR reads clear of
   unmasked events, as lib8390's handler loops: then the (edge-triggered)
   line has dropped and the next event raises it again; an event that came
   between a read and its ack would otherwise keep the line up, edgeless.
   OVW is masked rather than acknowledged: lib8390 acks it only once the
   ring is drained. */
static void ne_interrupt(unsigned irq) {
  struct ne_card* card = interrupt_card;
  if (card == 0 || (int)irq != card->irq) return;
  ++card->counters.interrupts;
  for (unsigned round = 0; round < NE_HANDLER_ROUNDS; ++round) {
    uint8_t isr = reg_read(card, NE_P0_ISR) & card->imr_now;
    if (isr == 0) break;
    uint8_t ack = isr & (uint8_t)~NE_ISR_OVW;
    if (ack) reg_write(card, NE_P0_ISR, ack);
    if (isr & NE_ISR_OVW) set_imr(card, (uint8_t)(card->imr_now & ~NE_ISR_OVW));
    card->irq_events |= isr;
  }
}

void ne_enable_interrupts(struct ne_card* card, unsigned irq) {
  interrupt_card = card;
  card->irq = (int)irq;
  card->imr = NE_INTERRUPT_EVENTS;
  irq_set_handler(irq, ne_interrupt);
  set_imr(card, card->imr);
}

/* ---- Transmit ---- */

static void finish_overrun(struct ne_card* card);

int ne_send(struct ne_card* card, const void* frame, size_t len) {
  if (len > NE_MAX_FRAME) return NE_ERR_TOO_LONG;
  /* Sending in the middle of overrun recovery would go to loopback. */
  if (card->in_overrun) finish_overrun(card);

  /* Word transfers: a runt goes out of a zero-padded copy, an odd frame
     as its even part and a last word holding the odd byte. */
  size_t wire_len = len < NE_MIN_FRAME ? NE_MIN_FRAME : len;
  uint8_t tail[NE_MIN_FRAME];
  const uint8_t* body = (const uint8_t*)frame;
  size_t body_len = len & ~(size_t)1, tail_len = 0;
  if (len < NE_MIN_FRAME) {
    memcpy(tail, frame, len);
    memset(tail + len, 0, NE_MIN_FRAME - len);
    body_len = 0;
    tail_len = NE_MIN_FRAME;
  } else if (len & 1) {
    tail[0] = body[len - 1];
    tail[1] = 0;
    tail_len = 2;
  }

  /* The previous transmit has finished when CR.TXP reads clear. */
  uint32_t poll = 0;
  while (reg_read(card, NE_CR) & NE_CR_TXP) {
    if (++poll == NE_TX_POLLS) {
      ++card->counters.tx_errors;
      return NE_ERR_BUSY;
    }
  }
  card->irq_events &= (uint8_t) ~(NE_ISR_PTX | NE_ISR_TXE);
  reg_write(card, NE_P0_ISR, NE_ISR_PTX | NE_ISR_TXE);

  int status =
      dma_write(card, (uint16_t)(NE_TX_START_PAGE * NE_PAGE_BYTES), body, body_len, tail, tail_len);
  if (status < 0) {
    ++card->counters.tx_errors;
    return status;
  }
  reg_write(card, NE_P0_TBCR0, (uint8_t)wire_len);
  reg_write(card, NE_P0_TBCR1, (uint8_t)(wire_len >> 8));
  reg_write(card, NE_P0_TPSR, NE_TX_START_PAGE);
  command(card, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_TXP);

  uint8_t done;
  if (card->irq >= 0 && timer_hz() != 0)
    done = ne_wait_until(
        card, NE_ISR_PTX | NE_ISR_TXE,
        timer_ticks() + 1 + (uint64_t)NE_TX_TIMEOUT_MS * timer_hz() / NE_MS_PER_SECOND);
  else
    done = ne_wait(card, NE_ISR_PTX | NE_ISR_TXE, NE_TX_POLLS);
  card->irq_events &= (uint8_t) ~(NE_ISR_PTX | NE_ISR_TXE);
  if (done) reg_write(card, NE_P0_ISR, done);
  if (done == 0) {
    ++card->counters.tx_errors;
    return NE_ERR_TIMEOUT;
  }
  if ((done & NE_ISR_PTX) == 0) {
    uint8_t tsr = reg_read(card, NE_P0_TSR);
    ++card->counters.tx_errors;
    printf("ne2000: transmit of %u bytes aborted (TSR 0x%x)\n", (unsigned)wire_len, tsr);
    return NE_ERR_TX_ABORTED;
  }
  ++card->counters.frames_sent;
  return 0;
}

/* ---- Receive ---- */

/* lib8390's ei_rx_overrun, first half: stop, let the receiver settle, and
   restart in loopback so that the ring can be drained with nothing arriving. */
static void start_overrun(struct ne_card* card) {
  uint8_t was_transmitting = reg_read(card, NE_CR) & NE_CR_TXP;
  card->running = 0;
  command(card, NE_CR_RD_ABORT | NE_CR_PAGE0);
  for (uint32_t poll = 0; poll < NE_STOP_POLLS; ++poll)
    if (reg_read(card, NE_P0_ISR) & NE_ISR_RST) break;
  reg_write(card, NE_P0_RBCR0, 0);
  reg_write(card, NE_P0_RBCR1, 0);
  card->resend_after_overrun =
      was_transmitting && (reg_read(card, NE_P0_ISR) & (NE_ISR_PTX | NE_ISR_TXE)) == 0;
  reg_write(card, NE_P0_TCR, NE_TCR_LOOPBACK_INTERNAL);
  card->running = 1;
  command(card, NE_CR_RD_ABORT | NE_CR_PAGE0);
  card->in_overrun = 1;
  ++card->counters.overruns;
}

/* Second half, once the ring is drained (or a transmit cannot wait). */
static void finish_overrun(struct ne_card* card) {
  reg_write(card, NE_P0_ISR, NE_ISR_OVW);
  card->irq_events &= (uint8_t)~NE_ISR_OVW;
  reg_write(card, NE_P0_TCR, NE_TCR_NORMAL);
  if (card->irq >= 0) set_imr(card, card->imr);
  if (card->resend_after_overrun) command(card, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_TXP);
  card->resend_after_overrun = 0;
  card->in_overrun = 0;
}

/* Frees everything up to page `next` for the chip. */
static void release_ring_to(struct ne_card* card, uint8_t next) {
  card->next_page = next;
  reg_write(card, NE_P0_BNRY, ring_page_before(next));
}

int ne_receive(struct ne_card* card, void* buf, size_t cap) {
  uint8_t isr = reg_read(card, NE_P0_ISR) | card->irq_events;
  if ((isr & NE_ISR_OVW) && !card->in_overrun) start_overrun(card);
  /* Acknowledge before reading CURR: a frame stored after that raises PRX
     again, one stored before is seen through CURR. */
  uint8_t ack = isr & (NE_ISR_PRX | NE_ISR_RXE);
  if (ack) reg_write(card, NE_P0_ISR, ack);
  card->irq_events &= (uint8_t) ~(NE_ISR_PRX | NE_ISR_RXE);

  uint8_t curr = read_curr(card);
  if (curr < NE_RX_START_PAGE || curr >= NE_RX_STOP_PAGE) {
    printf("ne2000: CURR 0x%x is off the ring; reinitialising\n", curr);
    ++card->counters.rx_errors;
    ++card->counters.ring_resets;
    ne_init(card, card->mode);
    return NE_ERR_BAD_HEADER;
  }
  if (curr == card->next_page) {
    if (card->in_overrun) finish_overrun(card);
    return 0;
  }

  uint8_t this_page = card->next_page;
  uint8_t header[NE_RING_HEADER_BYTES];
  dma_read(card, (uint16_t)(this_page * NE_PAGE_BYTES), header, sizeof header);
  uint8_t status = header[0], next = header[1];
  unsigned count = header[2] | (unsigned)header[3] << 8;
  /* lib8390 accepts the next-page pointer one page further than the count
     says; anything else means the ring can no longer be trusted. */
  uint8_t expected = ring_page_add(this_page, (count + NE_PAGE_BYTES - 1) / NE_PAGE_BYTES);
  int header_ok = count >= NE_RING_HEADER_BYTES && next >= NE_RX_START_PAGE &&
                  next < NE_RX_STOP_PAGE &&
                  (next == expected || next == ring_page_add(expected, 1));
  if (!header_ok) {
    printf(
        "ne2000: bad ring header at page 0x%x (status 0x%x next 0x%x count %u, CURR 0x%x); "
        "dropping the ring\n",
        this_page, status, next, count, curr);
    ++card->counters.rx_errors;
    ++card->counters.ring_resets;
    release_ring_to(card, curr);
    return NE_ERR_BAD_HEADER;
  }

  size_t len = count - NE_RING_HEADER_BYTES;
  int result;
  if ((status & NE_RSR_PRX) == 0 || len < NE_MIN_FRAME || len > NE_MAX_STORED_FRAME) {
    ++card->counters.rx_errors;
    result = NE_ERR_BAD_FRAME;
  } else if (len > cap) {
    ++card->counters.rx_errors;
    result = NE_ERR_TOO_SMALL;
  } else {
    /* Two transfers when the frame wraps at PSTOP, so the driver does not
       depend on the remote DMA address wrapping by itself. */
    uint16_t start = (uint16_t)(this_page * NE_PAGE_BYTES + NE_RING_HEADER_BYTES);
    size_t to_end = (size_t)NE_RX_STOP_PAGE * NE_PAGE_BYTES - start;
    if (len > to_end) {
      dma_read(card, start, buf, to_end);
      dma_read(card, (uint16_t)(NE_RX_START_PAGE * NE_PAGE_BYTES), (uint8_t*)buf + to_end,
               len - to_end);
    } else {
      dma_read(card, start, buf, len);
    }
    ++card->counters.frames_received;
    result = (int)len;
  }
  release_ring_to(card, next);
  return result;
}

int ne_receive_wait(struct ne_card* card, void* buf, size_t cap, uint32_t max_polls) {
  for (;;) {
    int result = ne_receive(card, buf, cap);
    if (result != 0) return result;
    /* Spin on ISR alone (one exit a poll) until the card reports something,
       then look at the ring again. */
    uint64_t before = card->counters.polls;
    uint8_t pending = ne_wait(card, NE_ISR_PRX | NE_ISR_RXE | NE_ISR_OVW, max_polls);
    uint64_t used = card->counters.polls - before;
    if (pending == 0) return 0;
    max_polls = used >= max_polls ? 0 : max_polls - (uint32_t)used;
  }
}

int ne_receive_until(struct ne_card* card, void* buf, size_t cap, uint64_t until_tick) {
  for (;;) {
    int result = ne_receive(card, buf, cap);
    if (result != 0) return result;
    if (ne_wait_until(card, NE_ISR_PRX | NE_ISR_RXE | NE_ISR_OVW, until_tick) == 0) return 0;
  }
}

void ne_print_counters(const struct ne_card* card, const char* who) {
  const struct ne_counters* c = &card->counters;
  printf(
      "%s: ne2000 sent %llu, received %llu, tx errors %llu, rx errors %llu, ring resets %llu, "
      "overruns %llu, lost interrupts %llu, polls %llu, interrupts %llu\n",
      who, (unsigned long long)c->frames_sent, (unsigned long long)c->frames_received,
      (unsigned long long)c->tx_errors, (unsigned long long)c->rx_errors,
      (unsigned long long)c->ring_resets, (unsigned long long)c->overruns,
      (unsigned long long)c->lost_interrupts, (unsigned long long)c->polls,
      (unsigned long long)c->interrupts);
}

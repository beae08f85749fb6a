/* Prints what a driver reads from the NE2000 at 0x300, one line per step, so
   that two chips given whole to this guest (vpio's and QEMU's ne2k_isa) can
   be compared line by line: after a reset, after the stock init (the order
   of guests/ne2000's ne_probe and ne_init), the PROM, a remote DMA write and
   read-back, and a 60- and a 1514-byte transmit. Only values go out, never
   poll counts, so the output depends on nothing but the chip (and its MAC).
   Exits 0, or 1 when the card is missing or a wait ran out (the line says).

   Nothing arriving from the wire may change the dump. The stock init leaves
   the receiver in monitor mode (RCR = MON) with AB, AM and PRO clear: both
   chips then drop every broadcast and multicast frame and every frame for
   another station before touching a register. Only a frame unicast to this
   card's own address gets further (vpio's chip counts it missed, QEMU, which
   ignores MON, stores it), and nothing sends one: the card's address goes
   out only as the source of its two broadcasts, whose ethertype 0x88b6 (IEEE
   local experimental 2) no stack or vpio test guest answers. */
#include "ne2000/ne2000.h"
#include "runtime/guest.h"

#define NIC_IOBASE 0x300
#define DUMP_EXIT_FAILED 1

/* Page 0 reads not named in ne2000.h. */
#define P0_CLDA0 0x01
#define P0_CLDA1 0x02
#define P0_NCR 0x05
#define P0_FIFO 0x06
#define P0_CRDA0 0x08
#define P0_CRDA1 0x09
#define P2_TPSR 0x04
#define CR_PAGE3 0xc0
#define REGISTERS_PER_PAGE 16
#define DUMP_ETHERTYPE 0x88b6

#define TEST_PATTERN_BYTES 32
#define TEST_ADDRESS 0x4000 /* the transmit buffer, page NE_TX_START_PAGE */
#define SHORT_FRAME 60
#define LONG_FRAME NE_MAX_FRAME

static uint8_t mac[NE_MAC_BYTES];
static uint8_t prom[NE_PROM_BYTES];
static uint8_t frame[LONG_FRAME];
static int failed;

static void reg_write(uint16_t offset, uint8_t value) { outb(NIC_IOBASE + offset, value); }
static uint8_t reg_read(uint16_t offset) { return inb(NIC_IOBASE + offset); }
static uint16_t data_port(void) { return NIC_IOBASE + NE_DATA_PORT; }

/* Polls ISR for any of bits; reports the outcome as text for the dump. */
static const char* wait_isr(uint8_t bits, uint32_t polls) {
  for (uint32_t poll = 0; poll < polls; ++poll)
    if (reg_read(NE_P0_ISR) & bits) return "yes";
  failed = 1;
  return "timeout";
}

/* Prints "label: xx xx ..." as one line (the runtime's printf has no loop). */
static void print_bytes(const char* label, const uint8_t* bytes, size_t n) {
  static const char hex[] = "0123456789abcdef";
  char line[3 * NE_PROM_BYTES + 1];
  if (n > NE_PROM_BYTES) n = NE_PROM_BYTES;
  for (size_t i = 0; i < n; ++i) {
    line[3 * i] = ' ';
    line[3 * i + 1] = hex[bytes[i] >> 4];
    line[3 * i + 2] = hex[bytes[i] & 0xf];
  }
  line[3 * n] = 0;
  printf("%s:%s\n", label, line);
}

/* All 16 registers of the page CR selects now, as "step pN: ...". */
static void dump_page(const char* step, unsigned page) {
  uint8_t values[REGISTERS_PER_PAGE];
  char label[16];
  for (unsigned offset = 0; offset < REGISTERS_PER_PAGE; ++offset)
    values[offset] = reg_read((uint16_t)offset);
  size_t n = strlen(step);
  memcpy(label, step, n);
  memcpy(label + n, " p", 2);
  label[n + 2] = (char)('0' + page);
  label[n + 3] = 0;
  print_bytes(label, values, REGISTERS_PER_PAGE);
}

static uint16_t read_pair(uint16_t low, uint16_t high) {
  return (uint16_t)(reg_read(low) | (unsigned)reg_read(high) << 8);
}

/* ne.c's reset: read the reset port, write the value back, wait for RST. */
static void reset_card(void) {
  uint8_t value = reg_read(NE_RESET_PORT);
  reg_write(NE_RESET_PORT, value);
  printf("reset: port=%02x rst=%s\n", value, wait_isr(NE_ISR_RST, NE_RESET_POLLS));
}

/* Page 0 is read as the reset left CR, which a CR write would change (QEMU
   takes any CR without STP as a start and clears ISR.RST); pages 1 and 2
   are reached with the card kept stopped. */
static void dump_after_reset(void) {
  dump_page("reset", 0);
  reg_write(NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE1 | NE_CR_STP);
  dump_page("reset", 1);
  reg_write(NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE2 | NE_CR_STP);
  dump_page("reset", 2);
  reg_write(NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STP);
}

/* ne_probe's PROM read (word mode, monitor + loopback, started for the
   remote DMA) and ne_init's ring and address set-up, ending with RCR = MON
   where ne_init would load the receive mode. */
static void stock_init(void) {
  reg_write(NE_P0_ISR, NE_ISR_ALL);
  reg_write(NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STP);
  reg_write(NE_P0_DCR, NE_DCR_WTS | NE_DCR_LS | NE_DCR_FT1);
  reg_write(NE_P0_RBCR0, 0);
  reg_write(NE_P0_RBCR1, 0);
  reg_write(NE_P0_IMR, 0);
  reg_write(NE_P0_ISR, NE_ISR_ALL);
  reg_write(NE_P0_RCR, NE_RCR_MON);
  reg_write(NE_P0_TCR, NE_TCR_LOOPBACK_INTERNAL);
  reg_write(NE_P0_RBCR0, NE_PROM_BYTES);
  reg_write(NE_P0_RBCR1, 0);
  reg_write(NE_P0_RSAR0, 0);
  reg_write(NE_P0_RSAR1, 0);
  reg_write(NE_CR, NE_CR_RD_READ | NE_CR_PAGE0 | NE_CR_STA);
  insw(data_port(), prom, NE_PROM_BYTES / 2);
  reg_write(NE_P0_ISR, NE_ISR_RDC);
  reg_write(NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STP);
  for (unsigned i = 0; i < NE_MAC_BYTES; ++i) mac[i] = prom[2 * i];

  reg_write(NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STP);
  reg_write(NE_P0_DCR, NE_DCR_WTS | NE_DCR_LS | NE_DCR_FT1);
  reg_write(NE_P0_RBCR0, 0);
  reg_write(NE_P0_RBCR1, 0);
  reg_write(NE_P0_RCR, NE_RCR_MON);
  reg_write(NE_P0_TCR, NE_TCR_LOOPBACK_INTERNAL);
  reg_write(NE_P0_TPSR, NE_TX_START_PAGE);
  reg_write(NE_P0_PSTART, NE_RX_START_PAGE);
  reg_write(NE_P0_BNRY, NE_RX_START_PAGE); /* one page behind CURR */
  reg_write(NE_P0_PSTOP, NE_RX_STOP_PAGE);
  reg_write(NE_P0_ISR, NE_ISR_ALL);
  reg_write(NE_P0_IMR, 0);
  reg_write(NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE1 | NE_CR_STP);
  for (unsigned i = 0; i < NE_MAC_BYTES; ++i) reg_write((uint16_t)(NE_P1_PAR0 + i), mac[i]);
  reg_write(NE_P1_CURR, NE_RX_START_PAGE + 1);
  for (unsigned i = 0; i < NE_MAR_BYTES; ++i)
    reg_write((uint16_t)(NE_P1_MAR0 + i), NE_MAR_ACCEPT_NONE);
  reg_write(NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STP);
  reg_write(NE_P0_ISR, NE_ISR_ALL);
  reg_write(NE_P0_IMR, 0);
  reg_write(NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STA);
  reg_write(NE_P0_TCR, NE_TCR_NORMAL);
  reg_write(NE_P0_RCR, NE_RCR_MON);
}

/* Page 3 is reserved on the DP8390 (the RTL8029 keeps its configuration
   there); reading it has no side effect on either chip. */
static void dump_after_init(void) {
  dump_page("init", 0);
  static const uint8_t pages[] = {NE_CR_PAGE1, NE_CR_PAGE2, CR_PAGE3};
  for (unsigned i = 0; i < sizeof pages; ++i) {
    reg_write(NE_CR, (uint8_t)(NE_CR_RD_ABORT | pages[i] | NE_CR_STA));
    dump_page("init", i + 1);
  }
  reg_write(NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STA);
}

static void start_remote_dma(uint16_t address, uint16_t count, uint8_t direction) {
  reg_write(NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STA);
  reg_write(NE_P0_RBCR0, (uint8_t)count);
  reg_write(NE_P0_RBCR1, (uint8_t)(count >> 8));
  reg_write(NE_P0_RSAR0, (uint8_t)address);
  reg_write(NE_P0_RSAR1, (uint8_t)(address >> 8));
  reg_write(NE_CR, (uint8_t)(direction | NE_CR_PAGE0 | NE_CR_STA));
}

/* ne.c's block output (count even, word mode); returns whether RDC came. */
static const char* remote_write(uint16_t address, const void* data, uint16_t count) {
  reg_write(NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STA);
  reg_write(NE_P0_ISR, NE_ISR_RDC);
  start_remote_dma(address, count, NE_CR_RD_WRITE);
  outsw(data_port(), data, count / 2);
  return wait_isr(NE_ISR_RDC, NE_DMA_POLLS);
}

static void dump_remote_dma(void) {
  uint8_t pattern[TEST_PATTERN_BYTES], back[TEST_PATTERN_BYTES];
  for (unsigned i = 0; i < TEST_PATTERN_BYTES; ++i) pattern[i] = (uint8_t)(0xa5 ^ (i * 0x1d));

  const char* done = remote_write(TEST_ADDRESS, pattern, TEST_PATTERN_BYTES);
  printf("dma write: rdc=%s isr=%02x crda=%04x\n", done, reg_read(NE_P0_ISR),
         read_pair(P0_CRDA0, P0_CRDA1));
  reg_write(NE_P0_ISR, NE_ISR_RDC);

  start_remote_dma(TEST_ADDRESS, TEST_PATTERN_BYTES, NE_CR_RD_READ);
  insw(data_port(), back, TEST_PATTERN_BYTES / 2);
  print_bytes("dma data", back, TEST_PATTERN_BYTES);
  printf("dma read: isr=%02x crda=%04x\n", reg_read(NE_P0_ISR), read_pair(P0_CRDA0, P0_CRDA1));
  reg_write(NE_P0_ISR, NE_ISR_RDC);

  /* One word more than RBCR asked for: the DP8390 has stopped the transfer,
     so this shows what each chip makes of a data-port read with RBCR = 0. */
  uint16_t extra = inw(data_port());
  printf("dma past end: data=%04x isr=%02x crda=%04x\n", extra, reg_read(NE_P0_ISR),
         read_pair(P0_CRDA0, P0_CRDA1));
  reg_write(NE_P0_ISR, NE_ISR_RDC);

  /* A remote read of zero bytes completes as it is issued. */
  start_remote_dma(TEST_ADDRESS, 0, NE_CR_RD_READ);
  printf("dma zero count: isr=%02x crda=%04x\n", reg_read(NE_P0_ISR),
         read_pair(P0_CRDA0, P0_CRDA1));
  reg_write(NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STA);
  reg_write(NE_P0_ISR, NE_ISR_RDC);
}

/* A broadcast from this card's own address; the length is even. */
static void build_frame(size_t len) {
  memset(frame, 0xff, NE_MAC_BYTES);
  memcpy(frame + NE_MAC_BYTES, mac, NE_MAC_BYTES);
  frame[2 * NE_MAC_BYTES] = (uint8_t)(DUMP_ETHERTYPE >> 8);
  frame[2 * NE_MAC_BYTES + 1] = (uint8_t)DUMP_ETHERTYPE;
  for (size_t i = 2 * NE_MAC_BYTES + 2; i < len; ++i) frame[i] = (uint8_t)(i * 7 + 3);
}

/* ne_send's steps: TXP clear, acks, block output, TBCR/TPSR, TXP. */
static void dump_transmit(const char* step, size_t len) {
  build_frame(len);
  for (uint32_t poll = 0; poll < NE_TX_POLLS && (reg_read(NE_CR) & NE_CR_TXP); ++poll) {
  }
  reg_write(NE_P0_ISR, NE_ISR_PTX | NE_ISR_TXE);
  const char* dma = remote_write(NE_TX_START_PAGE * NE_PAGE_BYTES, frame, (uint16_t)len);
  reg_write(NE_P0_ISR, NE_ISR_RDC);
  reg_write(NE_P0_TBCR0, (uint8_t)len);
  reg_write(NE_P0_TBCR1, (uint8_t)(len >> 8));
  reg_write(NE_P0_TPSR, NE_TX_START_PAGE);
  reg_write(NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_TXP | NE_CR_STA);
  const char* sent = wait_isr(NE_ISR_PTX | NE_ISR_TXE, NE_TX_POLLS);

  uint8_t isr = reg_read(NE_P0_ISR), tsr = reg_read(NE_P0_TSR), cr = reg_read(NE_CR);
  uint8_t ncr = reg_read(P0_NCR), fifo = reg_read(P0_FIFO);
  uint16_t clda = read_pair(P0_CLDA0, P0_CLDA1), crda = read_pair(P0_CRDA0, P0_CRDA1);
  reg_write(NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE2 | NE_CR_STA);
  uint8_t tpsr = reg_read(P2_TPSR);
  reg_write(NE_CR, NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STA);
  uint8_t cntr0 = reg_read(NE_P0_CNTR0), cntr1 = reg_read(NE_P0_CNTR1);
  uint8_t cntr2 = reg_read(NE_P0_CNTR2);
  printf(
      "%s: dma=%s done=%s isr=%02x tsr=%02x cr=%02x ncr=%02x fifo=%02x clda=%04x crda=%04x "
      "tpsr=%02x cntr=%02x %02x %02x\n",
      step, dma, sent, isr, tsr, cr, ncr, fifo, clda, crda, tpsr, cntr0, cntr1, cntr2);
  reg_write(NE_P0_ISR, NE_ISR_PTX | NE_ISR_TXE);
}

int main(void) {
  idt_install();
  print("ne2k-regdump: NE2000 at 0x300\n");
  if (reg_read(NE_CR) == NE_FLOATING_BUS) {
    print("ne2k-regdump: no card (CR reads 0xff)\n");
    return DUMP_EXIT_FAILED;
  }
  reset_card();
  dump_after_reset();
  stock_init();
  dump_after_init();
  print_bytes("prom", prom, NE_PROM_BYTES);
  dump_remote_dma();
  dump_transmit("tx60", SHORT_FRAME);
  dump_transmit("tx1514", LONG_FRAME);
  printf("ne2k-regdump: %s\n", failed ? "a wait timed out" : "done");
  return failed ? DUMP_EXIT_FAILED : 0;
}

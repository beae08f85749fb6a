// vpio-ne2k-hostile: a hostile Linux guest (issue 15, item 5). Run as root in
// a guest whose NE2000 vpio shares (`--nic vpio`), it programs the card
// behind its driver's back the way a malicious guest would, and reports the
// machine check vpio's Device Modeling Monitor answers with
// (docs/vpio.md, "Violations and the machine check").
//
//   vpio-ne2k-hostile [--base PORT | --fallback-base PORT] [--init] [CASE...]
//
//   --base PORT  the card's I/O base; by default the I/O BAR of the RTL8029
//                (10ec:8029) in /sys/bus/pci/devices, else ne2k-pci's line
//                in /proc/ioports
//   --fallback-base PORT
//                the base when neither names a card (vpio's ISA window at
//                0x300, for a guest with no PCI card)
//   --init       take the card over first: stop it and program it as
//                lib8390's NS8390_init does (DCR, ring, started), so that the
//                cases run on a started card whoever had it before (its
//                driver stopped it at `ip link set eth0 down`; a card no
//                driver bound was never started)
//   CASE         dma: a remote write from the start of the transmit area,
//                      4 KiB long: it leaves the area (violation 1); then the
//                      4 KiB are written to the data port anyway
//                tx:   a transmit from page 0x3f, below the card's memory
//                      (violation 2; the guest's own pages past its transmit
//                      area are its own card's, sent as a copy)
//                default: dma
//
// What Linux does with the machine check depends on the CPU vpio shows it.
// Measured in the KVM lab (Linux 6.1, an AMD vCPU without the SUCCOR bit,
// CPUID 0x80000007 EBX bit 1): every uncorrected error is fatal, so the
// kernel logs it ("mce: [Hardware Error]: ... Bank 1: bc0000000001082b ...
// ADDR 4c00 MISC 300", "Uncorrected error without MCA Recovery") and panics
// ("Fatal local machine check"): this program's last line is the one before
// the violating write. Where Linux survives it (it logs the error and goes
// on, or kills this process with SIGBUS), the program reads the log from
// /dev/kmsg after each case and reports the violation it decodes.
//
// Exit status: 0 every case got the machine check it expected; 1 a case got a
// different one; 2 a case got none; 3 no card found or no access to its ports.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <time.h>
#include <unistd.h>

#include "../ne2000/ne2000.h"
#include "rtl8029_sysfs.h"

enum {
  kStatusExpected = 0,
  kStatusWrongCheck = 1,
  kStatusNoCheck = 2,
  kStatusNoCard = 3,
};

// What the DMM puts in IA32_MCi_STATUS (docs/vpio.md): VAL|UC|EN|MISCV|ADDRV,
// the violation in bits 16..31, MCA code 0x082b (I/O bus error on a write).
#define DMM_MC_BANK 1
#define DMM_MC_STATUS_BITS 0xbc00000000000000ull
#define DMM_MC_CODE_SHIFT 16
#define DMM_MC_CODE_MASK 0xffffull
#define DMM_MC_MCA_CODE 0x082bull
#define VIOLATION_DMA_OUTSIDE_SHARE 1
#define VIOLATION_TX_OUTSIDE_AREA 2

#define IORESOURCE_IO 0x100 /* the flag of an I/O BAR in sysfs's resource file */

// lib8390's card layout (NS8390_init): two 6-page transmit buffers from
// 0x40, the receive ring from 0x4c to the end of memory; word transfers.
#define LIB8390_TX_START 0x40
#define LIB8390_RX_START 0x4c
#define LIB8390_RX_STOP 0x80
#define LIB8390_DCR (NE_DCR_FT1 | NE_DCR_LS | NE_DCR_WTS) /* 0x49 */

#define CR_STOPPED (NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STP) /* 0x21 */
#define CR_STOPPED_PAGE1 (NE_CR_RD_ABORT | NE_CR_PAGE1 | NE_CR_STP)
#define CR_IDLE (NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STA)                 /* 0x22 */
#define CR_REMOTE_WRITE (NE_CR_RD_WRITE | NE_CR_PAGE0 | NE_CR_STA)         /* 0x12 */
#define CR_TRANSMIT (NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_TXP | NE_CR_STA) /* 0x26 */

#define DMA_CASE_BYTES 0x1000 /* from 0x4000: past any transmit area of 12 pages */
#define TX_CASE_PAGE 0x3f  // below the card's memory (0x40..0x7f)
#define TX_CASE_BYTES 60
#define DATA_WORD_BYTES 2
// How long the kernel may take to log the machine check (irq_work, then a
// workqueue): the log is polled this often, this many times.
#define KMSG_POLL_MICROSECONDS 50000
#define KMSG_POLLS 100

struct hostile_case {
  const char* name;
  const char* what;
  unsigned expected_code;
  void (*run)(void);
};

static uint16_t base;

static void reg_write(uint8_t offset, uint8_t value) { outb(value, (uint16_t)(base + offset)); }

// Stops the card and programs it as lib8390's NS8390_init(dev, 1) does,
// receiving nothing it is not sent, interrupts masked.
static void take_over(void) {
  reg_write(NE_CR, CR_STOPPED);
  reg_write(NE_P0_DCR, LIB8390_DCR);
  reg_write(NE_P0_RBCR0, 0);
  reg_write(NE_P0_RBCR1, 0);
  reg_write(NE_P0_RCR, NE_RCR_MON);
  reg_write(NE_P0_TCR, NE_TCR_LOOPBACK_INTERNAL);
  reg_write(NE_P0_TPSR, LIB8390_TX_START);
  reg_write(NE_P0_PSTART, LIB8390_RX_START);
  reg_write(NE_P0_BNRY, LIB8390_RX_START);
  reg_write(NE_P0_PSTOP, LIB8390_RX_STOP);
  reg_write(NE_P0_ISR, NE_ISR_ALL);
  reg_write(NE_P0_IMR, 0);
  reg_write(NE_CR, CR_STOPPED_PAGE1);
  reg_write(NE_P1_CURR, LIB8390_RX_START + 1);
  reg_write(NE_CR, CR_IDLE);
  reg_write(NE_P0_TCR, NE_TCR_NORMAL);
  printf(
      "vpio-ne2k-hostile: took the card over (stopped, DCR 0x%02x, ring 0x%02x-0x%02x, started)\n",
      LIB8390_DCR, LIB8390_RX_START, LIB8390_RX_STOP);
}

// A remote write that starts in the transmit area and runs 4 KiB, out of
// it; then the bytes are written to the data port as if the DMA ran. Says
// what it does before the write that violates: the machine check may be the
// last thing this guest does (below).
static void dma_outside_area(void) {
  static uint16_t words[DMA_CASE_BYTES / DATA_WORD_BYTES];
  for (size_t i = 0; i < sizeof words / sizeof words[0]; ++i)
    words[i] = (uint16_t)(0xbad0 | (i & 0xf));
  const uint16_t address = LIB8390_TX_START * NE_PAGE_BYTES;
  reg_write(NE_CR, CR_IDLE);
  reg_write(NE_P0_ISR, NE_ISR_RDC);
  reg_write(NE_P0_RBCR0, (uint8_t)DMA_CASE_BYTES);
  reg_write(NE_P0_RBCR1, (uint8_t)(DMA_CASE_BYTES >> 8));
  reg_write(NE_P0_RSAR0, (uint8_t)address);
  reg_write(NE_P0_RSAR1, (uint8_t)(address >> 8));
  printf(
      "vpio-ne2k-hostile: dma: RSAR 0x%04x RBCR 0x%04x set; starting the remote write "
      "(CR 0x%02x at port 0x%x)\n",
      address, DMA_CASE_BYTES, CR_REMOTE_WRITE, base + NE_CR);
  reg_write(NE_CR, CR_REMOTE_WRITE);
  outsw((uint16_t)(base + NE_DATA_PORT), words, sizeof words / sizeof words[0]);
  reg_write(NE_CR, CR_IDLE);
  printf("vpio-ne2k-hostile: dma: wrote %u bytes to the data port after it\n", DMA_CASE_BYTES);
}

// A transmit of a frame from page 0x3f, below the card's memory.
static void transmit_outside_area(void) {
  reg_write(NE_CR, CR_IDLE);
  reg_write(NE_P0_TPSR, TX_CASE_PAGE);
  reg_write(NE_P0_TBCR0, TX_CASE_BYTES);
  reg_write(NE_P0_TBCR1, 0);
  printf(
      "vpio-ne2k-hostile: tx: TPSR 0x%02x TBCR %u set; starting the transmit (CR 0x%02x at "
      "port 0x%x)\n",
      TX_CASE_PAGE, TX_CASE_BYTES, CR_TRANSMIT, base + NE_CR);
  reg_write(NE_CR, CR_TRANSMIT);
}

static const struct hostile_case cases[] = {
    {"dma", "remote DMA out of the transmit area", VIOLATION_DMA_OUTSIDE_SHARE, dma_outside_area},
    {"tx", "transmit from outside the card's memory", VIOLATION_TX_OUTSIDE_AREA,
     transmit_outside_area},
};

// ---- Finding the card ----

// The first I/O BAR of the first RTL8029 in sysfs; 0 when there is none.
static uint16_t base_from_sysfs(void) {
  char device[512], name[64];
  if (!find_rtl8029(device, sizeof device, name, sizeof name)) return 0;
  enable_pci_device(device);
  char path[600];
  snprintf(path, sizeof path, "%s/resource", device);
  FILE* f = fopen(path, "r");
  if (f == NULL) return 0;
  uint16_t found = 0;
  unsigned long long start, end, flags;
  while (found == 0 && fscanf(f, "%llx %llx %llx", &start, &end, &flags) == 3)
    if ((flags & IORESOURCE_IO) != 0 && start != 0 && start <= 0xffff) {
      found = (uint16_t)start;
      printf("vpio-ne2k-hostile: RTL8029 at PCI %s, I/O BAR 0x%llx-0x%llx\n", name, start, end);
    }
  fclose(f);
  return found;
}

// ne2k-pci's region in /proc/ioports ("  c000-c01f : ne2k-pci"); 0 when none.
static uint16_t base_from_ioports(void) {
  FILE* f = fopen("/proc/ioports", "r");
  if (f == NULL) return 0;
  char line[256];
  uint16_t found = 0;
  while (found == 0 && fgets(line, sizeof line, f) != NULL) {
    unsigned start, end;
    if (strstr(line, "ne2k-pci") != NULL && sscanf(line, " %x-%x", &start, &end) == 2) {
      found = (uint16_t)start;
      printf("vpio-ne2k-hostile: /proc/ioports: %s", line);
    }
  }
  fclose(f);
  return found;
}

// ---- Seeing the machine check ----

static int kmsg = -1;

// Opens the kernel log at its end: only what comes after is read.
static void kmsg_open(void) {
  kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
  if (kmsg < 0) {
    perror("vpio-ne2k-hostile: /dev/kmsg");
    return;
  }
  lseek(kmsg, 0, SEEK_END);
}

struct seen_check {
  int seen;
  unsigned bank;
  unsigned long long status, addr, misc;
};

// Reads new kernel log records, prints the machine check ones, and fills
// `check` from Linux's report of one (__print_mce: "... Bank B: STATUS",
// then "... ADDR A MISC M ...").
static void kmsg_read(struct seen_check* check) {
  if (kmsg < 0) return;
  char record[1024];
  for (;;) {
    const ssize_t n = read(kmsg, record, sizeof record - 1);
    if (n < 0 && errno == EPIPE) continue;  // overwritten records: go on
    if (n <= 0) return;
    record[n] = '\0';
    char* text = strchr(record, ';');
    text = text == NULL ? record : text + 1;
    text[strcspn(text, "\n")] = '\0';
    if (strstr(text, "mce") == NULL && strstr(text, "Machine check") == NULL &&
        strstr(text, "Hardware Error") == NULL)
      continue;
    printf("vpio-ne2k-hostile: kernel: %s\n", text);
    const char* bank = strstr(text, "Bank ");
    unsigned b;
    unsigned long long status;
    if (bank != NULL && sscanf(bank, "Bank %u: %llx", &b, &status) == 2) {
      check->seen = 1;
      check->bank = b;
      check->status = status;
    }
    const char* addr = strstr(text, "ADDR ");
    if (addr != NULL) sscanf(addr, "ADDR %llx", &check->addr);
    const char* misc = strstr(text, "MISC ");
    if (misc != NULL) sscanf(misc, "MISC %llx", &check->misc);
  }
}

static sigjmp_buf after_sigbus;
static volatile sig_atomic_t sigbus_code;

static void on_sigbus(int signal_number, siginfo_t* info, void* context) {
  (void)signal_number;
  (void)context;
  sigbus_code = info->si_code;
  siglongjmp(after_sigbus, 1);
}

static const char* violation_name(unsigned code) {
  switch (code) {
    case 1: return "remote DMA outside the guest's share";
    case 2: return "transmit outside the transmit area";
    case 3: return "transmit length";
    case 7: return "card not initialised";
    case 9: return "foreign source MAC";
    case 10: return "DMA reprogrammed while running";
    default: return "other";
  }
}

static int run_case(const struct hostile_case* c) {
  printf("vpio-ne2k-hostile: case %s: %s, expecting violation %u\n", c->name, c->what,
         c->expected_code);
  fflush(stdout);
  struct seen_check check = {0, 0, 0, 0, 0};
  kmsg_read(&check);  // skip what was logged before
  check.seen = 0;
  sigbus_code = 0;
  if (sigsetjmp(after_sigbus, 1) == 0) c->run();
  if (sigbus_code != 0)
    printf("vpio-ne2k-hostile: case %s: SIGBUS (si_code %d) from the machine check\n", c->name,
           (int)sigbus_code);
  for (int i = 0; i < KMSG_POLLS && !check.seen; ++i) {
    usleep(KMSG_POLL_MICROSECONDS);
    kmsg_read(&check);
  }
  if (!check.seen) {
    printf("vpio-ne2k-hostile: case %s: no machine check in the kernel log\n", c->name);
    return kStatusNoCheck;
  }
  const unsigned code = (unsigned)((check.status >> DMM_MC_CODE_SHIFT) & DMM_MC_CODE_MASK);
  const int from_dmm =
      check.bank == DMM_MC_BANK && (check.status & ~(DMM_MC_CODE_MASK << DMM_MC_CODE_SHIFT)) ==
                                       (DMM_MC_STATUS_BITS | DMM_MC_MCA_CODE);
  printf(
      "vpio-ne2k-hostile: case %s: machine check bank %u status 0x%016llx: violation %u (%s), "
      "card address 0x%llx, port 0x%llx\n",
      c->name, check.bank, check.status, code, violation_name(code), check.addr, check.misc);
  if (!from_dmm || code != c->expected_code) {
    printf("vpio-ne2k-hostile: case %s: expected violation %u from vpio's DMM (bank %d)\n", c->name,
           c->expected_code, DMM_MC_BANK);
    return kStatusWrongCheck;
  }
  printf("vpio-ne2k-hostile: case %s: machine check as expected\n", c->name);
  return kStatusExpected;
}

static void usage(void) {
  fprintf(stderr,
          "usage: vpio-ne2k-hostile [--base PORT | --fallback-base PORT] [--init] [dma|tx]...\n");
  exit(kStatusNoCard);
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int take = 0;
  uint16_t fallback_base = 0;
  const struct hostile_case* chosen[8];
  size_t chosen_count = 0;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--base") == 0 && i + 1 < argc) {
      base = (uint16_t)strtoul(argv[++i], NULL, 0);
    } else if (strcmp(argv[i], "--fallback-base") == 0 && i + 1 < argc) {
      fallback_base = (uint16_t)strtoul(argv[++i], NULL, 0);
    } else if (strcmp(argv[i], "--init") == 0) {
      take = 1;
    } else {
      size_t k = 0;
      while (k < sizeof cases / sizeof cases[0] && strcmp(cases[k].name, argv[i]) != 0) ++k;
      if (k == sizeof cases / sizeof cases[0] || chosen_count == sizeof chosen / sizeof chosen[0])
        usage();
      chosen[chosen_count++] = &cases[k];
    }
  }
  if (chosen_count == 0) chosen[chosen_count++] = &cases[0];
  if (base == 0) base = base_from_sysfs();
  if (base == 0) base = base_from_ioports();
  if (base == 0 && fallback_base != 0) {
    base = fallback_base;
    printf("vpio-ne2k-hostile: no RTL8029 found: the card at 0x%x (--fallback-base)\n", base);
  }
  if (base == 0) {
    printf(
        "vpio-ne2k-hostile: no card: no RTL8029 (10ec:8029) in /sys/bus/pci/devices, no "
        "ne2k-pci in /proc/ioports, no --base\n");
    return kStatusNoCard;
  }
  if (ioperm(base, NE_WINDOW_PORTS, 1) != 0) {
    printf("vpio-ne2k-hostile: ioperm(0x%x, 0x%x): %s\n", base, NE_WINDOW_PORTS, strerror(errno));
    return kStatusNoCard;
  }
  printf("vpio-ne2k-hostile: the card's ports 0x%x-0x%x are this program's\n", base,
         base + NE_WINDOW_PORTS - 1);
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO;
  sigaction(SIGBUS, &action, NULL);
  kmsg_open();
  if (take) take_over();
  int status = kStatusExpected;
  for (size_t i = 0; i < chosen_count; ++i) {
    const int result = run_case(chosen[i]);
    if (result != kStatusExpected && status == kStatusExpected) status = result;
  }
  printf("vpio-ne2k-hostile: %s\n",
         status == kStatusExpected ? "every case got its machine check" : "FAILED");
  return status;
}

// vpio-ne2k-bar-move: moves the I/O BAR of vpio's RTL8029 as a Linux guest
// may (through its PCI configuration space, from sysfs), and checks that the
// card follows: it answers at the new base, nothing answers at the old one,
// and after the move back it answers where it was (issue 15: "if the guest
// moves the BAR, the hooks follow it").
//
//   vpio-ne2k-bar-move NEW_BASE
//
// Run with the card's driver closed (eth0 not yet up, or down): it reads the
// card's address PROM by remote DMA, as ne2k-pci's probe does, at each base.
// Linux's own idea of the BAR (its resource) is left alone: the program
// moves the BAR back before the driver is used again.
//
// Exit status: 0 the card followed both moves; 1 it did not (the line says
// how); 3 no card, or no access to its ports or its configuration space.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <unistd.h>

#include "../ne2000/ne2000.h"
#include "rtl8029_sysfs.h"

enum { kStatusFollowed = 0, kStatusNotFollowed = 1, kStatusNoCard = 3 };

#define PCI_BAR0 0x10
#define PCI_BAR_IO 0x1u  // bit 0 of an I/O BAR
#define PROM_READ_BYTES 32
#define PROBE_DCR 0x49  // word-wide, as ne2k-pci's probe sets it
#define MAC_BYTES 6

static int config_fd = -1;

static uint32_t read_bar0(void) {
  uint32_t value = 0;
  if (pread(config_fd, &value, sizeof value, PCI_BAR0) != (ssize_t)sizeof value) return 0;
  return value;
}

static int write_bar0(uint32_t value) {
  return pwrite(config_fd, &value, sizeof value, PCI_BAR0) == (ssize_t)sizeof value;
}

// The card's station address from its PROM at `base`, read as ne2k-pci's
// probe reads it (32 byte reads of a word-wide remote DMA from 0).
static void read_prom_mac(uint16_t base, uint8_t mac[MAC_BYTES]) {
  static const struct {
    uint8_t value, offset;
  } program[] = {
      {NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STP, NE_CR},
      {PROBE_DCR, NE_P0_DCR},
      {0, NE_P0_RBCR0},
      {0, NE_P0_RBCR1},
      {0, NE_P0_IMR},
      {0xff, NE_P0_ISR},
      {NE_RCR_MON, NE_P0_RCR},
      {NE_TCR_LOOPBACK_INTERNAL, NE_P0_TCR},
      {PROM_READ_BYTES, NE_P0_RBCR0},
      {0, NE_P0_RBCR1},
      {0, NE_P0_RSAR0},
      {0, NE_P0_RSAR1},
      {NE_CR_RD_READ | NE_CR_STA, NE_CR},
  };
  for (size_t i = 0; i < sizeof program / sizeof program[0]; ++i)
    outb(program[i].value, (uint16_t)(base + program[i].offset));
  uint8_t prom[PROM_READ_BYTES];
  for (size_t i = 0; i < sizeof prom; ++i) prom[i] = inb((uint16_t)(base + NE_DATA_PORT));
  outb(NE_ISR_RDC, (uint16_t)(base + NE_P0_ISR));
  outb(NE_CR_RD_ABORT | NE_CR_PAGE0 | NE_CR_STP, (uint16_t)(base + NE_CR));
  memcpy(mac, prom, MAC_BYTES);
}

static void print_mac(const char* what, uint16_t base, const uint8_t mac[MAC_BYTES]) {
  printf("vpio-ne2k-bar-move: %s: the PROM at 0x%x says %02x:%02x:%02x:%02x:%02x:%02x\n", what,
         base, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

// The card's registers at `base` (0x00..0x0f, reads without side effects
// on a DP8390) all read 0xff: nothing decodes them.
static int nothing_at(uint16_t base) {
  for (uint16_t offset = 0; offset < NE_DATA_PORT; ++offset) {
    const uint8_t value = inb((uint16_t)(base + offset));
    if (value != 0xff) {
      printf("vpio-ne2k-bar-move: FAIL port 0x%x reads 0x%02x after the BAR left it\n",
             base + offset, value);
      return 0;
    }
  }
  return 1;
}

// Moves BAR0 to `to` and checks the configuration space says so.
static int move_bar(uint16_t from, uint16_t to) {
  if (!write_bar0((uint32_t)to | PCI_BAR_IO)) {
    printf("vpio-ne2k-bar-move: FAIL writing BAR0: %s\n", strerror(errno));
    return 0;
  }
  const uint32_t now = read_bar0();
  printf("vpio-ne2k-bar-move: BAR0 0x%x -> 0x%x: reads back 0x%08x\n", from, to, now);
  if (now != ((uint32_t)to | PCI_BAR_IO)) {
    printf("vpio-ne2k-bar-move: FAIL BAR0 reads 0x%08x, not 0x%08x\n", now,
           (uint32_t)to | PCI_BAR_IO);
    return 0;
  }
  return 1;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc != 2) {
    fprintf(stderr, "usage: vpio-ne2k-bar-move NEW_BASE\n");
    return kStatusNoCard;
  }
  const unsigned long to_value = strtoul(argv[1], NULL, 0);
  if (to_value == 0 || to_value > 0xffff - NE_WINDOW_PORTS || to_value % NE_WINDOW_PORTS != 0) {
    fprintf(stderr, "vpio-ne2k-bar-move: bad NEW_BASE '%s' (32-port aligned, below 0x10000)\n",
            argv[1]);
    return kStatusNoCard;
  }
  const uint16_t to = (uint16_t)to_value;
  char device[512], name[64], path[600];
  if (!find_rtl8029(device, sizeof device, name, sizeof name)) {
    printf("vpio-ne2k-bar-move: no RTL8029 (10ec:8029) in %s\n", PCI_SYSFS_DEVICES);
    return kStatusNoCard;
  }
  enable_pci_device(device);
  snprintf(path, sizeof path, "%s/config", device);
  config_fd = open(path, O_RDWR);
  if (config_fd < 0) {
    printf("vpio-ne2k-bar-move: %s: %s\n", path, strerror(errno));
    return kStatusNoCard;
  }
  const uint32_t bar = read_bar0();
  if ((bar & PCI_BAR_IO) == 0 || (bar & ~3u) == 0 || (bar & ~3u) > 0xffff) {
    printf("vpio-ne2k-bar-move: BAR0 of %s is 0x%08x, not an I/O BAR in use\n", name, bar);
    return kStatusNoCard;
  }
  const uint16_t from = (uint16_t)(bar & ~3u);
  printf("vpio-ne2k-bar-move: RTL8029 at PCI %s, BAR0 0x%08x (ports 0x%x-0x%x)\n", name, bar, from,
         from + NE_WINDOW_PORTS - 1);
  if (ioperm(from, NE_WINDOW_PORTS, 1) != 0 || ioperm(to, NE_WINDOW_PORTS, 1) != 0) {
    printf("vpio-ne2k-bar-move: ioperm: %s\n", strerror(errno));
    return kStatusNoCard;
  }
  uint8_t before[MAC_BYTES], moved[MAC_BYTES], back[MAC_BYTES];
  read_prom_mac(from, before);
  print_mac("before", from, before);
  if (!move_bar(from, to)) return kStatusNotFollowed;
  const int old_silent = nothing_at(from);
  read_prom_mac(to, moved);
  print_mac("moved", to, moved);
  const int moved_same = memcmp(before, moved, MAC_BYTES) == 0;
  if (!moved_same) printf("vpio-ne2k-bar-move: FAIL the card at 0x%x is not the same card\n", to);
  if (!move_bar(to, from)) return kStatusNotFollowed;
  const int new_silent = nothing_at(to);
  read_prom_mac(from, back);
  print_mac("back", from, back);
  const int back_same = memcmp(before, back, MAC_BYTES) == 0;
  if (!back_same) printf("vpio-ne2k-bar-move: FAIL the card at 0x%x is not the same card\n", from);
  if (!(old_silent && moved_same && new_silent && back_same)) return kStatusNotFollowed;
  printf("vpio-ne2k-bar-move: PASS the card followed BAR0 to 0x%x and back to 0x%x\n", to, from);
  return kStatusFollowed;
}

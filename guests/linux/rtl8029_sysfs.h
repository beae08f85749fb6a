// Finding vpio's RTL8029 (10ec:8029) PCI function from Linux userspace,
// through sysfs: for the test programs of the Linux guests' initramfs.
#pragma once

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#define RTL8029_VENDOR 0x10ec
#define RTL8029_DEVICE 0x8029
#define PCI_SYSFS_DEVICES "/sys/bus/pci/devices"

// The number in hex in DIR/NAME ("0x10ec"); 0 when it cannot be read.
static inline unsigned read_hex_file(const char* dir, const char* name) {
  char path[1024];
  snprintf(path, sizeof path, "%.500s/%.100s", dir, name);
  FILE* f = fopen(path, "r");
  if (f == NULL) return 0;
  unsigned value = 0;
  if (fscanf(f, "%x", &value) != 1) value = 0;
  fclose(f);
  return value;
}

// Puts the sysfs directory of the first RTL8029 in `device` (and its PCI
// address in `name` when not NULL); 0 when there is none.
static inline int find_rtl8029(char* device, size_t device_size, char* name, size_t name_size) {
  DIR* dir = opendir(PCI_SYSFS_DEVICES);
  if (dir == NULL) return 0;
  int found = 0;
  for (struct dirent* e; !found && (e = readdir(dir)) != NULL;) {
    if (e->d_name[0] == '.') continue;
    snprintf(device, device_size, "%s/%.200s", PCI_SYSFS_DEVICES, e->d_name);
    if (read_hex_file(device, "vendor") == RTL8029_VENDOR &&
        read_hex_file(device, "device") == RTL8029_DEVICE) {
      found = 1;
      if (name != NULL) snprintf(name, name_size, "%.40s", e->d_name);
    }
  }
  closedir(dir);
  return found;
}

// Lets the device decode its BARs, as pci_enable_device() would for a
// driver; already so when a driver has it. Not fatal when refused.
static inline void enable_pci_device(const char* device) {
  char path[600];
  snprintf(path, sizeof path, "%s/enable", device);
  FILE* enable = fopen(path, "w");
  if (enable != NULL) {
    fputs("1", enable);
    fclose(enable);
  }
}

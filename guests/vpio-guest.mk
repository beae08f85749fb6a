# Building vpio guests with make, outside vpio's tree (docs/guest-abi.md).
# In your Makefile:
#   VPIO_GUEST_KIT := /path/to/the/kit      # where this file is
#   include $(VPIO_GUEST_KIT)/vpio-guest.mk
#   all: hello.img
#   hello.elf: hello.c                       # the guest's sources (.c, .S)
# Each NAME.elf is linked from its sources and the runtime at 0x100000, and
# NAME.img is its flat image, which `vpio run NAME.img` boots.
VPIO_GUEST_KIT ?= $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
VPIO_GUEST_CC ?= gcc
VPIO_GUEST_OBJCOPY ?= objcopy
# No libc, no SSE (the runtime saves no vector state), no red zone (interrupt
# handlers run on the guest's stack), addresses fixed by the linker script.
VPIO_GUEST_CFLAGS := -ffreestanding -fno-pic -fno-pie -fno-stack-protector -mno-red-zone \
  -mgeneral-regs-only -fno-asynchronous-unwind-tables -fno-builtin -O2 -Wall -Wextra \
  -I$(VPIO_GUEST_KIT)
VPIO_GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none -Wl,--no-warn-rwx-segments \
  -Wl,-T,$(VPIO_GUEST_KIT)/runtime/guest.ld
VPIO_GUEST_RUNTIME := $(addprefix $(VPIO_GUEST_KIT)/runtime/,entry.S vectors.S runtime.c)

%.elf: $(VPIO_GUEST_RUNTIME) $(VPIO_GUEST_KIT)/runtime/guest.h $(VPIO_GUEST_KIT)/runtime/guest.ld
	$(VPIO_GUEST_CC) $(VPIO_GUEST_CFLAGS) $(VPIO_GUEST_LDFLAGS) -o $@ \
	  $(filter %.c %.S,$(filter-out $(VPIO_GUEST_RUNTIME),$^)) $(VPIO_GUEST_RUNTIME)

%.img: %.elf
	$(VPIO_GUEST_OBJCOPY) -O binary $< $@

/* A guest built with the kit, outside vpio's tree (docs/guest-abi.md). Its
   console is port 0xE9; main's return value is its exit status. */
#include "runtime/guest.h"

int main(void) {
  idt_install(); /* a fault or machine check is then reported, not a triple fault */
  printf("hello from a guest built with the vpio guest kit at %p\n", (void*)main);
  return 3;
}

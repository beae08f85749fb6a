/* The first guest: greets through the debug console and exits 0. */
#include "runtime/guest.h"

int main(void) {
  idt_install();
  print("Hello from a vpio guest!\n");
  printf("running in 64-bit mode at %p\n", (void*)main);
  return 0;
}

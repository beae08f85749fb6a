/* Exits with a status given at build time, to check it comes back out. */
#include "runtime/guest.h"

#ifndef EXIT_STATUS
#define EXIT_STATUS 42
#endif

int main(void) {
  printf("exiting with status %d\n", EXIT_STATUS);
  guest_exit(EXIT_STATUS);
}

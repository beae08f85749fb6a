// vpio-exit N: ends the vpio guest it runs in with status N, by the guest
// ABI's 32-bit write to port 0xF4 (docs/guest-abi.md). Root only (ioperm).
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>

enum { kExitPort = 0xf4, kExitPortBytes = 4 };

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: vpio-exit STATUS\n");
    return 2;
  }
  const unsigned status = (unsigned)strtoul(argv[1], NULL, 0);
  if (ioperm(kExitPort, kExitPortBytes, 1) != 0) {
    perror("vpio-exit: ioperm(0xf4)");
    return 1;
  }
  outl(status, kExitPort);
  // Still here: not under vpio (nothing listens on the port).
  fprintf(stderr, "vpio-exit: the write to port 0xf4 did not end the guest\n");
  return 1;
}

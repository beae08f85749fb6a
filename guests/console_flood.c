/* Writes a long, checkable text to the console with one `rep outsb`, which
   KVM hands to the VMM one byte per exit. */
#include "runtime/guest.h"

#define FLOOD_LINES 1000
#define LINE_BYTES 64

static char text[FLOOD_LINES * LINE_BYTES];

int main(void) {
  for (unsigned line = 0; line < FLOOD_LINES; ++line) {
    char* p = text + line * LINE_BYTES;
    /* "line NNNN " then a letter pattern, then a newline: 64 bytes. */
    memcpy(p, "line ", 5);
    unsigned v = line;
    for (int d = 3; d >= 0; --d) {
      p[5 + d] = (char)('0' + v % 10);
      v /= 10;
    }
    p[9] = ' ';
    for (unsigned i = 10; i < LINE_BYTES - 1; ++i) p[i] = (char)('a' + (line + i) % 26);
    p[LINE_BYTES - 1] = '\n';
  }
  outsb(GUEST_CONSOLE_PORT, text, sizeof text);
  return 0;
}

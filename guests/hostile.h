/* What hostile.c's escape cases put where a test can look for it, shared
   with the host-side tests: plain C. */
#ifndef VPIO_GUESTS_HOSTILE_H
#define VPIO_GUESTS_HOSTILE_H

/* The escape writes all of card memory it can reach with this, repeated:
   no frame on the wire may carry any of it. */
#define HOSTILE_ESCAPE_MARKER "VPIO ESCAPE MARK"
#define HOSTILE_ESCAPE_MARKER_BYTES 16

#endif

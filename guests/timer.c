/* Runs the timer (PIT channel 0 on IRQ 0) at 100 Hz, waits in hlt for
   TIMER_TICKS ticks, reads the count back latched, stops the timer and
   reports. vpio's own count of IRQ 0 injections must equal the ticks. */
#include "runtime/guest.h"

#define TIMER_HZ 100
#define TIMER_TICKS 50
#define PIT_LATCH_CHANNEL0 0x00

int main(void) {
  idt_install();
  timer_start(TIMER_HZ);
  unsigned divisor = GUEST_PIT_HZ / TIMER_HZ;
  while (timer_ticks() < TIMER_TICKS) wait_for_interrupt();
  /* A latched count lies within the divisor: the counter runs at the rate
     programmed (mode 2 counts divisor..1). */
  outb(GUEST_PIT_CONTROL_PORT, PIT_LATCH_CHANNEL0);
  unsigned count = inb(GUEST_PIT_CHANNEL0_PORT);
  count |= (unsigned)inb(GUEST_PIT_CHANNEL0_PORT) << 8;
  unsigned hz = timer_hz();
  timer_stop();
  printf("timer: %llu ticks at %u Hz, count %u of %u\n", (unsigned long long)timer_ticks(), hz,
         count, divisor);
  return count >= 1 && count <= divisor ? 0 : 1;
}

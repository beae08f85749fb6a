/* Waits for a machine check that the VMM injects when the guest writes to the
   trigger port, and exits 0 once the #MC handler has seen a valid bank. The
   runtime's handler prints the bank's status and address for the test. */
#include "runtime/guest.h"

#define MCE_TRIGGER_PORT 0x510
#define STATUS_NO_MACHINE_CHECK 1

static volatile int machine_checks_seen;

void on_machine_check(const struct machine_check_info* info) {
  (void)info;
  ++machine_checks_seen;
}

int main(void) {
  idt_install();
  print("asking the VMM for a machine check\n");
  outb(MCE_TRIGGER_PORT, 1);
  /* The #MC is delivered before the instruction after the OUT retires. */
  if (machine_checks_seen == 0) {
    print("no machine check arrived\n");
    return STATUS_NO_MACHINE_CHECK;
  }
  printf("machine checks handled: %d\n", machine_checks_seen);
  return 0;
}

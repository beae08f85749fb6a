/* Asks the VMM for IRQ 5 twenty times and waits for each with sti; hlt. */
#include "runtime/guest.h"

#define IRQ_REQUEST_PORT 0x511
#define TEST_IRQ 5
#define ROUNDS 20

static volatile unsigned received;

static void on_irq(unsigned irq) {
  if (irq == TEST_IRQ) ++received;
}

int main(void) {
  idt_install();
  irq_set_handler(TEST_IRQ, on_irq);
  for (unsigned round = 0; round < ROUNDS; ++round) {
    outb(IRQ_REQUEST_PORT, 1);
    if (round % 2 == 0) {
      /* Spin with interrupts on: the VMM must kick the running vCPU. */
      irq_enable();
      while (received == round) {
      }
      irq_disable();
    } else {
      /* Wait in HLT: the VMM sees the HLT exit and waits for the interrupt. */
      while (received == round) wait_for_interrupt();
    }
  }
  printf("interrupts received: %u\n", received);
  return received == ROUNDS ? 0 : 1;
}

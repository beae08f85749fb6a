/* The freestanding runtime of vpio's test guests: port I/O, the debug console,
   exit, an IDT whose #MC handler reports the bank MSRs, and IRQ handlers.
   Guest ABI: console port 0xE9, exit port 0xF4, ISA IRQ n at vector 0x20 + n. */
#ifndef VPIO_GUEST_H
#define VPIO_GUEST_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_CONSOLE_PORT 0xe9
#define GUEST_EXIT_PORT 0xf4
#define GUEST_IRQ_VECTOR_BASE 0x20
#define GUEST_IRQ_LINES 16
/* Exit status of a guest killed by an unexpected exception: 0x80 + vector. */
#define GUEST_STATUS_EXCEPTION 0x80

#define MSR_MCG_CAP 0x179
#define MSR_MCG_STATUS 0x17a
#define MSR_MC0_CTL 0x400
#define MSR_MC0_STATUS 0x401
#define MSR_MC0_ADDR 0x402
#define MSR_MC0_MISC 0x403
#define MCI_STATUS_VAL (1ull << 63)

static inline void outb(uint16_t port, uint8_t v) {
  __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v) {
  __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v) {
  __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint16_t inw(uint16_t port) {
  uint16_t v;
  __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint32_t inl(uint16_t port) {
  uint32_t v;
  __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
/* String I/O: one instruction. KVM batches `rep ins` (up to 1 KiB an exit)
   but exits once per element for `rep outs` (docs/kvm-notes.md). */
static inline void outsb(uint16_t port, const void* buf, size_t n) {
  __asm__ volatile("rep outsb" : "+S"(buf), "+c"(n) : "d"(port) : "memory");
}
static inline void outsw(uint16_t port, const void* buf, size_t words) {
  __asm__ volatile("rep outsw" : "+S"(buf), "+c"(words) : "d"(port) : "memory");
}
static inline void insw(uint16_t port, void* buf, size_t words) {
  __asm__ volatile("rep insw" : "+D"(buf), "+c"(words) : "d"(port) : "memory");
}
static inline uint64_t rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v) {
  __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
static inline void irq_enable(void) { __asm__ volatile("sti"); }
static inline void irq_disable(void) { __asm__ volatile("cli"); }
/* Enables interrupts and waits for one, atomically (sti's one-instruction shadow). */
static inline void wait_for_interrupt(void) { __asm__ volatile("sti; hlt; cli" ::: "memory"); }

void guest_exit(uint32_t status) __attribute__((noreturn));
void console_write(const char* s, size_t n);
void print(const char* s);
void print_hex(uint64_t v);
void print_dec(uint64_t v);
/* %s %c %d %u %x %lu %ld %lx %llu %llx %p %%; no widths except %0Nx. */
void printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

struct interrupt_frame {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rbx, rdx, rcx, rax;
  uint64_t vector, error_code, rip, cs, rflags, rsp, ss;
};

struct machine_check_info {
  unsigned bank;
  uint64_t status, addr, misc, mcg_status;
};

/* Installs the IDT (exceptions report and exit; #MC reports the banks). */
void idt_install(void);
typedef void (*irq_handler_fn)(unsigned irq);
void irq_set_handler(unsigned irq, irq_handler_fn handler);
/* Called for each valid bank after the runtime has printed it. The default
   (weak) one exits with status GUEST_STATUS_EXCEPTION + 18. Return to resume
   the guest: the runtime then clears the bank and MCG_STATUS.MCIP. */
void on_machine_check(const struct machine_check_info* info);

/* The timer: channel 0 of the PIT (8254) at ports 0x40-0x43, whose ticks
   arrive on ISA IRQ 0 (vector 0x20). timer_start programs it as an 8254 is
   programmed (mode 2, divisor GUEST_PIT_HZ / hz; hz is kept within 19..1000)
   and counts each tick it takes in timer_ticks(); the IDT must be installed.
   Ticks are taken only while interrupts are enabled (in wait_for_interrupt,
   say) and merge while they are not, so they count time in a coarse way:
   good for timeouts, not for measuring. timer_stop reprograms the channel
   to one-shot mode with no count: no more ticks. */
#define GUEST_PIT_CHANNEL0_PORT 0x40
#define GUEST_PIT_CONTROL_PORT 0x43
#define GUEST_PIT_HZ 1193182u
#define GUEST_TIMER_IRQ 0
#define GUEST_TIMER_MIN_HZ 19u /* the divisor is 16 bits */
#define GUEST_TIMER_MAX_HZ 1000u
void timer_start(unsigned hz);
void timer_stop(void);
uint64_t timer_ticks(void);
unsigned timer_hz(void); /* 0 when stopped */

void* memcpy(void* dst, const void* src, size_t n);
void* memset(void* dst, int c, size_t n);
void* memmove(void* dst, const void* src, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);

#endif

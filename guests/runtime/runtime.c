/* The test-guest runtime: console, exit, IDT and exception reports. */
#include <stdarg.h>

#include "guest.h"

void guest_exit(uint32_t status) {
  for (;;) {
    outl(GUEST_EXIT_PORT, status);
    __asm__ volatile("cli; hlt");
  }
}

void console_write(const char* s, size_t n) { outsb(GUEST_CONSOLE_PORT, s, n); }
void print(const char* s) { console_write(s, strlen(s)); }

static size_t format_unsigned(char* out, uint64_t v, unsigned base, unsigned min_digits) {
  char tmp[24];
  size_t n = 0;
  do {
    unsigned d = (unsigned)(v % base);
    tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    v /= base;
  } while (v != 0);
  while (n < min_digits && n < sizeof tmp) tmp[n++] = '0';
  for (size_t i = 0; i < n; ++i) out[i] = tmp[n - 1 - i];
  return n;
}

void print_hex(uint64_t v) { printf("0x%llx", (unsigned long long)v); }
void print_dec(uint64_t v) { printf("%llu", (unsigned long long)v); }

/* Builds the whole line first and writes it with one `rep outsb` (which KVM
   still hands to the VMM one byte per exit: see docs/kvm-notes.md). */
void printf(const char* fmt, ...) {
  char buf[512];
  size_t n = 0;
  va_list ap;
  va_start(ap, fmt);
  for (const char* p = fmt; *p != 0 && n < sizeof buf - 40; ++p) {
    if (*p != '%') {
      buf[n++] = *p;
      continue;
    }
    ++p;
    if (*p == 0) break;
    unsigned width = 0;
    if (*p == '0') {
      ++p;
      while (*p >= '0' && *p <= '9') width = width * 10 + (unsigned)(*p++ - '0');
    }
    int longs = 0;
    while (*p == 'l') {
      ++longs;
      ++p;
    }
    if (*p == 0) break;
    switch (*p) {
      case 's': {
        const char* s = va_arg(ap, const char*);
        while (*s != 0 && n < sizeof buf - 40) buf[n++] = *s++;
        break;
      }
      case 'c': buf[n++] = (char)va_arg(ap, int); break;
      case 'd': {
        int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
        if (v < 0) {
          buf[n++] = '-';
          v = -v;
        }
        n += format_unsigned(buf + n, (uint64_t)v, 10, width);
        break;
      }
      case 'u':
        n += format_unsigned(buf + n, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10,
                             width);
        break;
      case 'x':
        n += format_unsigned(buf + n, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16,
                             width);
        break;
      case 'p':
        buf[n++] = '0';
        buf[n++] = 'x';
        n += format_unsigned(buf + n, (uint64_t)va_arg(ap, void*), 16, 0);
        break;
      case '%': buf[n++] = '%'; break;
      default: buf[n++] = '?'; break;
    }
  }
  va_end(ap);
  console_write(buf, n);
}

struct idt_entry {
  uint16_t offset_low, selector;
  uint8_t ist, type_attr;
  uint16_t offset_mid;
  uint32_t offset_high, reserved;
} __attribute__((packed));

#define IDT_VECTORS 48
#define KERNEL_CODE_SELECTOR 0x08
#define IDT_INTERRUPT_GATE 0x8e
#define VECTOR_MACHINE_CHECK 18

static struct idt_entry idt[256] __attribute__((aligned(16)));
static irq_handler_fn irq_handlers[GUEST_IRQ_LINES];
extern const uint64_t vector_stubs[IDT_VECTORS];

void idt_install(void) {
  for (unsigned v = 0; v < IDT_VECTORS; ++v) {
    uint64_t target = vector_stubs[v];
    idt[v].offset_low = (uint16_t)target;
    idt[v].selector = KERNEL_CODE_SELECTOR;
    idt[v].ist = 0;
    idt[v].type_attr = IDT_INTERRUPT_GATE;
    idt[v].offset_mid = (uint16_t)(target >> 16);
    idt[v].offset_high = (uint32_t)(target >> 32);
  }
  struct {
    uint16_t limit;
    uint64_t base;
  } __attribute__((packed)) idtr = {sizeof idt - 1, (uint64_t)idt};
  __asm__ volatile("lidt %0" ::"m"(idtr));
}

void irq_set_handler(unsigned irq, irq_handler_fn handler) {
  if (irq < GUEST_IRQ_LINES) irq_handlers[irq] = handler;
}

/* ---- The timer: PIT channel 0 ---- */

/* Control word: channel 0, LSB then MSB, and the counting mode. */
#define PIT_CHANNEL0_LSB_MSB 0x30
#define PIT_MODE_ONE_SHOT 0x00
#define PIT_MODE_RATE_GENERATOR 0x04

static volatile uint64_t ticks;
static unsigned ticking_hz;

static void on_tick(unsigned irq) {
  (void)irq;
  ++ticks;
}

void timer_start(unsigned hz) {
  if (hz < GUEST_TIMER_MIN_HZ) hz = GUEST_TIMER_MIN_HZ;
  if (hz > GUEST_TIMER_MAX_HZ) hz = GUEST_TIMER_MAX_HZ;
  unsigned divisor = GUEST_PIT_HZ / hz;
  irq_set_handler(GUEST_TIMER_IRQ, on_tick);
  ticking_hz = GUEST_PIT_HZ / divisor;
  outb(GUEST_PIT_CONTROL_PORT, PIT_CHANNEL0_LSB_MSB | PIT_MODE_RATE_GENERATOR);
  outb(GUEST_PIT_CHANNEL0_PORT, (uint8_t)divisor);
  outb(GUEST_PIT_CHANNEL0_PORT, (uint8_t)(divisor >> 8));
}

void timer_stop(void) {
  outb(GUEST_PIT_CONTROL_PORT, PIT_CHANNEL0_LSB_MSB | PIT_MODE_ONE_SHOT);
  ticking_hz = 0;
}

uint64_t timer_ticks(void) { return ticks; }
unsigned timer_hz(void) { return ticking_hz; }

__attribute__((weak)) void on_machine_check(const struct machine_check_info* info) {
  (void)info;
  guest_exit(GUEST_STATUS_EXCEPTION + VECTOR_MACHINE_CHECK);
}

static void machine_check(void) {
  unsigned banks = (unsigned)(rdmsr(MSR_MCG_CAP) & 0xff);
  uint64_t mcg_status = rdmsr(MSR_MCG_STATUS);
  for (unsigned bank = 0; bank < banks; ++bank) {
    uint64_t status = rdmsr(MSR_MC0_STATUS + 4 * bank);
    if (!(status & MCI_STATUS_VAL)) continue;
    struct machine_check_info info = {bank, status, rdmsr(MSR_MC0_ADDR + 4 * bank),
                                      rdmsr(MSR_MC0_MISC + 4 * bank), mcg_status};
    printf("machine check: bank=%u status=0x%llx addr=0x%llx misc=0x%llx mcg_status=0x%llx\n", bank,
           (unsigned long long)info.status, (unsigned long long)info.addr,
           (unsigned long long)info.misc, (unsigned long long)mcg_status);
    on_machine_check(&info);
    wrmsr(MSR_MC0_STATUS + 4 * bank, 0);
  }
  wrmsr(MSR_MCG_STATUS, 0);
}

static const char* const exception_names[32] = {"#DE divide error",
                                                "#DB debug",
                                                "NMI",
                                                "#BP breakpoint",
                                                "#OF overflow",
                                                "#BR bound",
                                                "#UD invalid opcode",
                                                "#NM no math",
                                                "#DF double fault",
                                                "coprocessor overrun",
                                                "#TS invalid TSS",
                                                "#NP segment not present",
                                                "#SS stack fault",
                                                "#GP general protection",
                                                "#PF page fault",
                                                "reserved",
                                                "#MF x87 error",
                                                "#AC alignment check",
                                                "#MC machine check",
                                                "#XM SIMD error",
                                                "#VE virtualization",
                                                "#CP control protection"};

#define OPCODE_HLT 0xf4

void interrupt_dispatch(struct interrupt_frame* frame);
void interrupt_dispatch(struct interrupt_frame* frame) {
  unsigned v = (unsigned)frame->vector;
  if (v == VECTOR_MACHINE_CHECK) {
    machine_check();
    return;
  }
  if (v >= GUEST_IRQ_VECTOR_BASE && v < GUEST_IRQ_VECTOR_BASE + GUEST_IRQ_LINES) {
    irq_handler_fn handler = irq_handlers[v - GUEST_IRQ_VECTOR_BASE];
    if (handler != 0) handler(v - GUEST_IRQ_VECTOR_BASE);
    /* Taken before the hlt of wait_for_interrupt (a KVM, or an emulated SVM
       under it, that does not hold the interrupt back for the one
       instruction after sti): the handler may have consumed the very event
       the caller waits for, so do not go on to sleep in that hlt. Seen as a
       rare hang of the interrupt-mode exchange in the KVM lab. */
    if (*(const volatile uint8_t*)frame->rip == OPCODE_HLT) frame->rip += 1;
    return;
  }
  uint64_t cr2;
  __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
  printf("exception %u (%s) error=0x%llx rip=0x%llx rsp=0x%llx cr2=0x%llx\n", v,
         v < 32 && exception_names[v] ? exception_names[v] : "unknown",
         (unsigned long long)frame->error_code, (unsigned long long)frame->rip,
         (unsigned long long)frame->rsp, (unsigned long long)cr2);
  guest_exit(GUEST_STATUS_EXCEPTION + v);
}

void* memcpy(void* dst, const void* src, size_t n) {
  void* d = dst;
  __asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n)::"memory");
  return dst;
}
void* memset(void* dst, int c, size_t n) {
  void* d = dst;
  __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
  return dst;
}
void* memmove(void* dst, const void* src, size_t n) {
  unsigned char* d = dst;
  const unsigned char* s = src;
  if (d < s) {
    while (n--) *d++ = *s++;
  } else {
    while (n--) d[n] = s[n];
  }
  return dst;
}
int memcmp(const void* a, const void* b, size_t n) {
  const unsigned char *x = a, *y = b;
  for (size_t i = 0; i < n; ++i)
    if (x[i] != y[i]) return x[i] - y[i];
  return 0;
}
size_t strlen(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  return n;
}

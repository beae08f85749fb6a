/* Guest entry: the VMM starts us here in long mode with a stack. Clear .bss,
   run main, and report its return value through the exit port. */
    .section .text.entry, "ax"
    .globl _start
    .code64
_start:
    cld
    lea __bss_start(%rip), %rdi
    lea __bss_end(%rip), %rcx
    sub %rdi, %rcx
    xor %eax, %eax
    rep stosb
    and $-16, %rsp
    call main
    mov %eax, %edi
    call guest_exit
1:  hlt
    jmp 1b

    .section .note.GNU-stack, "", @progbits

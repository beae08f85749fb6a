/* Interrupt entry stubs for vectors 0-47. Each pushes a uniform frame (a zero
   where the CPU pushes no error code) and calls the C dispatcher. */
    .text
    .code64

.macro STUB vector, has_error
    .globl vector_stub_\vector
vector_stub_\vector:
    .if \has_error == 0
    pushq $0
    .endif
    pushq $\vector
    jmp common_stub
.endm

common_stub:
    push %rax; push %rcx; push %rdx; push %rbx; push %rbp; push %rsi; push %rdi
    push %r8; push %r9; push %r10; push %r11; push %r12; push %r13; push %r14; push %r15
    cld
    mov %rsp, %rdi
    mov %rsp, %rbx
    and $-16, %rsp
    call interrupt_dispatch
    mov %rbx, %rsp
    pop %r15; pop %r14; pop %r13; pop %r12; pop %r11; pop %r10; pop %r9; pop %r8
    pop %rdi; pop %rsi; pop %rbp; pop %rbx; pop %rdx; pop %rcx; pop %rax
    add $16, %rsp
    iretq

/* Vectors with a CPU-pushed error code: 8, 10-14, 17, 21, 29, 30. */
STUB 0,0;  STUB 1,0;  STUB 2,0;  STUB 3,0;  STUB 4,0;  STUB 5,0;  STUB 6,0;  STUB 7,0
STUB 8,1;  STUB 9,0;  STUB 10,1; STUB 11,1; STUB 12,1; STUB 13,1; STUB 14,1; STUB 15,0
STUB 16,0; STUB 17,1; STUB 18,0; STUB 19,0; STUB 20,0; STUB 21,1; STUB 22,0; STUB 23,0
STUB 24,0; STUB 25,0; STUB 26,0; STUB 27,0; STUB 28,0; STUB 29,1; STUB 30,1; STUB 31,0
STUB 32,0; STUB 33,0; STUB 34,0; STUB 35,0; STUB 36,0; STUB 37,0; STUB 38,0; STUB 39,0
STUB 40,0; STUB 41,0; STUB 42,0; STUB 43,0; STUB 44,0; STUB 45,0; STUB 46,0; STUB 47,0

    .section .rodata
    .globl vector_stubs
    .balign 8
vector_stubs:
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
    .quad vector_stub_\v
    .endr

    .section .note.GNU-stack, "", @progbits

/*
 * Start of the protected-mode part, loaded at BP_LOAD_ADDR.  Offset 0 is
 * the 32-bit entry (not supported here); offset 0x200 is the 64-bit entry,
 * reached in long mode with identity paging, CS = 0x10, DS = SS = 0x18,
 * interrupts off and %rsi = the boot_params address.
 */
	.section .head.text, "ax"
	.code32
	.globl startup_32
startup_32:
	cli
1:	hlt
	jmp 1b

	.code64
	.org 0x200
	.globl startup_64
startup_64:
	cli
	cld
	/* The loader sets no stack; memory is not promised to be zero either. */
	movq $stack_top, %rsp
	movq %rsi, %r12
	movq $__bss_start, %rdi
	movq $__bss_end, %rcx
	subq %rdi, %rcx
	xorl %eax, %eax
	rep stosb
	movq %r12, %rdi
	call bootparams_main
2:	hlt
	jmp 2b

	.section .stack, "aw", @nobits
	.balign 16
	.space 8192
stack_top:

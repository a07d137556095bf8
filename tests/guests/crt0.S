/*
 * Start-up code of the hasvc test guests (Xen PVH boot ABI).
 *
 * Ring 0 is emulated instruction by instruction on the test machines, so the
 * ring-0 part is kept to a few hundred instructions: the page tables, the GDT
 * and the TSSs (with their I/O permission bitmaps) are all prebuilt in .data;
 * at run time we only fill in the IDT (33 gates) and one TSS descriptor, then
 * iretq to ring 3 with IOPL=3 and IF=0, where all guest code runs.
 *
 * Ring-3 code may enter ring 0 for a service: `int n` from ring 3 raised #UD
 * on the test machines (even through a DPL-3 gate), so the service call is
 * `hlt` in ring 3, which raises #GP(0), with a magic number in rax:
 *   rax = SVC_MAGIC + 1: start the APs (rsi = TSC ticks to wait after INIT)
 *   rax = SVC_MAGIC + 2: triple fault (load an empty IDT and ud2)
 *   rax = SVC_MAGIC + 3: lock cmpxchg16b in ring 0 (emulation failure here)
 *   rax = SVC_MAGIC + 4: CPUID leaf rsi in ring 0, EAX returned in rax
 *   rax = SVC_MAGIC + 5: halt for good with interrupts off (an idle guest
 *                        that costs the host nothing: bench_idle.sh)
 * Clobbers rax, rcx, rdx, rsi, rdi, r8.
 *
 * Selectors: 0x08 code64 ring 0, 0x10 data ring 0, 0x1b data ring 3,
 * 0x23 code64 ring 3, 0x28 + 16*cpu the TSS of each cpu.
 */

#define MAX_CPUS	64
#define KSTACK_SIZE	4096
#define USTACK_SIZE	32768
#define TSS_STRIDE	576		/* 104-byte TSS + 416-byte IOPB + 0xff, rounded to 64 */
#define TSS_LIMIT	520
#define SEL_KCODE	0x08
#define SEL_KDATA	0x10
#define SEL_UDATA	0x1b
#define SEL_UCODE	0x23
#define SEL_TSS0	0x28
#define TRAMPOLINE	0x8000
#define LAPIC_BASE	0xfee00000
#define SVC_MAGIC	0x5ca11000
#define TR(x)		(TRAMPOLINE + (x) - tramp_start)

/* ------------------------------------------------------------------ */
	.section .note.Xen, "a"
	.balign 4
	.long 4			/* namesz */
	.long 8			/* descsz: 8 as in Linux; the low 32 bits are the entry */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.quad _start

/* ------------------------------------------------------------------ */
	.section .text.entry, "ax"
	.code32
	.globl _start
_start:
	movl %ebx, start_info_pa
	lgdt gdt_desc
	movl %cr4, %eax
	orl $0x20, %eax			/* PAE */
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx		/* EFER */
	rdmsr
	orl $0x100, %eax		/* LME */
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax		/* PG | PE */
	movl %eax, %cr0
	ljmp $SEL_KCODE, $bsp_long

	.code64
bsp_long:
	movw $SEL_KDATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorl %eax, %eax
	movw %ax, %fs
	movw %ax, %gs
	movq $kstacks + KSTACK_SIZE, %rsp

	/* IDT: vectors 0-31 -> isr_stubs + 16*v (ring-0 interrupt gates). */
	movl $idt, %edi
	movl $isr_stubs, %eax
	movl $32, %ecx
1:	movl %eax, %edx
	andl $0xffff, %edx
	orl $(SEL_KCODE << 16), %edx
	movl %edx, (%rdi)
	movl %eax, %edx
	andl $0xffff0000, %edx
	orl $0x8e00, %edx
	movl %edx, 4(%rdi)
	addl $16, %eax
	addl $16, %edi
	decl %ecx
	jnz 1b
	lidt idt_desc

	xorl %edi, %edi
	call tss_fill_desc
	movw $SEL_TSS0, %ax
	ltr %ax

	/* To ring 3: crt_bsp_entry on the BSP's user stack. */
	pushq $SEL_UDATA
	pushq $ustacks + USTACK_SIZE
	pushq $0x3002			/* IOPL=3, IF=0 */
	pushq $SEL_UCODE
	pushq $user_bsp
	iretq

/* Fill the GDT's TSS descriptor for cpu %edi.  Clobbers eax, ecx, edx, esi. */
tss_fill_desc:
	imull $TSS_STRIDE, %edi, %eax
	addl $tss_array, %eax
	movl %edi, %esi
	shll $4, %esi
	addl $(gdt + SEL_TSS0), %esi
	movl %eax, %edx
	shll $16, %edx
	orl $TSS_LIMIT, %edx
	movl %edx, (%rsi)
	movl %eax, %edx
	shrl $16, %edx
	andl $0xff, %edx
	andl $0xff000000, %eax
	orl %eax, %edx
	orl $0x8900, %edx		/* present, 64-bit available TSS */
	movl %edx, 4(%rsi)
	ret

/* ---------------------------- ring 3 entry ------------------------ */
user_bsp:
	andq $-16, %rsp
	call crt_bsp_main
	ud2

user_ap:				/* edi = cpu index */
	andq $-16, %rsp
	call crt_ap_main
	ud2

/* ---------------------------- exceptions -------------------------- */
	.balign 16
isr_stubs:
	.set vec, 0
	.rept 32
	.balign 16
	.if (vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	pushq $vec
	.else
	pushq $0
	pushq $vec
	.endif
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	/* stack: vector, error, rip, cs, rflags, rsp, ss */
	cmpq $13, (%rsp)		/* a service call: #GP(0) on hlt from ring 3 */
	jne 1f
	cmpq $0, 8(%rsp)
	jne 1f
	testb $3, 24(%rsp)
	jz 1f
	movq 16(%rsp), %rcx
	cmpb $0xf4, (%rcx)
	jne 1f
	movq %rax, %rdx
	andq $-16, %rdx
	cmpq $SVC_MAGIC, %rdx
	jne 1f
	incq 16(%rsp)			/* resume after the hlt */
	addq $16, %rsp
	andl $15, %eax
	jmp isr_syscall
1:
	movw $SEL_KDATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movq %rsp, %rdi
	andq $-16, %rsp
	call crt_exception		/* does not return */
2:	cli
	hlt
	jmp 2b

/* ---------------------------- service call ------------------------ */
isr_syscall:
	cmpq $1, %rax
	je sys_start_aps
	cmpq $2, %rax
	je sys_triple_fault
	cmpq $3, %rax
	je sys_cmpxchg16b
	cmpq $4, %rax
	je sys_cpuid
	cmpq $5, %rax
	je sys_halt
	iretq

/* IF is 0 in ring 0 here: only an NMI or INIT would end this hlt. */
sys_halt:
	hlt
	jmp sys_halt

/* CPUID leaf rsi, subleaf 0, in ring 0; EAX comes back in rax. */
sys_cpuid:
	pushq %rbx
	movl %esi, %eax
	xorl %ecx, %ecx
	cpuid
	popq %rbx
	iretq

/* lock cmpxchg16b in ring 0: the nested KVM of the test machines cannot
 * emulate it (an emulation failure); real VT-x hardware just runs it. */
sys_cmpxchg16b:
	pushq %rbx
	subq $32, %rsp
	movq %rsp, %rdi
	addq $15, %rdi
	andq $-16, %rdi
	xorl %eax, %eax
	xorl %edx, %edx
	xorl %ebx, %ebx
	xorl %ecx, %ecx
	lock cmpxchg16b (%rdi)
	addq $32, %rsp
	popq %rbx
	iretq

sys_triple_fault:
	lidt null_idt_desc
	ud2				/* #UD -> #GP -> #DF -> shutdown */

sys_start_aps:
	/* TSS descriptors of cpus 1..MAX_CPUS-1 */
	movq %rsi, %r8
	movl $1, %edi
1:	call tss_fill_desc
	incl %edi
	cmpl $MAX_CPUS, %edi
	jb 1b
	movq %r8, %rsi
	/* copy the real-mode trampoline to 0x8000 */
	movl $tramp_start, %esi
	movl $TRAMPOLINE, %edi
	movl $(tramp_end - tramp_start), %ecx
	cld
	rep movsb
	/* enable the local APIC and send INIT, SIPI, SIPI to all but self */
	movl $LAPIC_BASE, %edi
	movl $0x1ff, 0xf0(%rdi)		/* SVR: enabled, spurious vector 0xff */
	movl $0, 0x310(%rdi)
	movl $0x000c4500, 0x300(%rdi)	/* INIT, assert, all excluding self */
	call tsc_wait			/* rsi ticks */
	movl $0x000c4600 | (TRAMPOLINE >> 12), 0x300(%rdi)
	shrq $3, %rsi
	call tsc_wait
	movl $0x000c4600 | (TRAMPOLINE >> 12), 0x300(%rdi)
	iretq

/* wait %rsi TSC ticks; clobbers rax, rcx, rdx */
tsc_wait:
	rdtsc
	shlq $32, %rdx
	orq %rdx, %rax
	leaq (%rax, %rsi), %rcx
1:	pause
	rdtsc
	shlq $32, %rdx
	orq %rdx, %rax
	cmpq %rcx, %rax
	jb 1b
	ret

/* ---------------------------- AP start ---------------------------- */
/* Copied to 0x8000 and entered in real mode by the SIPI; goes straight to
 * long mode with the BSP's GDT and page tables. */
	.code16
tramp_start:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl TR(tramp_gdt_desc)
	movl %cr4, %eax
	orl $0x20, %eax
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax
	movl %eax, %cr0
	ljmpl $SEL_KCODE, $ap_long
	.balign 4
tramp_gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt
tramp_end:

	.code64
ap_long:
	movw $SEL_KDATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorl %eax, %eax
	movw %ax, %fs
	movw %ax, %gs
	movl $1, %edi
	lock xaddl %edi, ap_next	/* edi = this cpu's index */
	cmpl $MAX_CPUS, %edi
	jae 3f
	leal 1(%rdi), %eax
	movl %eax, %ecx
	shll $12, %eax			/* KSTACK_SIZE */
	addl $kstacks, %eax
	movq %rax, %rsp
	lidt idt_desc
	movl %edi, %eax
	shll $4, %eax
	addl $SEL_TSS0, %eax
	ltr %ax
	shll $15, %ecx			/* USTACK_SIZE */
	addl $ustacks, %ecx
	pushq $SEL_UDATA
	pushq %rcx
	pushq $0x3002
	pushq $SEL_UCODE
	pushq $user_ap
	iretq
3:	cli
	hlt
	jmp 3b

/* ------------------------------------------------------------------ */
	.data
	.balign 8
	.globl start_info_pa
start_info_pa:
	.quad 0
ap_next:
	.long 1
	.long 0

	.balign 16
gdt:
	.quad 0
	.quad 0x00af9a000000ffff	/* 0x08 code64 ring 0 */
	.quad 0x00cf92000000ffff	/* 0x10 data ring 0 */
	.quad 0x00cff2000000ffff	/* 0x18 data ring 3 */
	.quad 0x00affa000000ffff	/* 0x20 code64 ring 3 */
	.fill MAX_CPUS * 2, 8, 0	/* 0x28 TSS descriptors (16 bytes each) */
gdt_end:

	.balign 16
	.word 0, 0, 0
gdt_desc:				/* 32-bit lgdt reads 6 bytes, 64-bit 10 */
	.word gdt_end - gdt - 1
	.quad gdt
	.word 0, 0, 0
idt_desc:
	.word 256 * 16 - 1
	.quad idt
	.word 0, 0, 0
null_idt_desc:
	.word 0
	.quad 0

/* One TSS per cpu, each followed by its I/O permission bitmap, which opens
 * 0x64, 0x3f8-0x3ff, 0x500-0x507 and 0xcf9 and nothing else. */
	.balign 64
	.globl tss_array
tss_array:
	.set cpu, 0
	.rept MAX_CPUS
	.balign 64
	.long 0
	.quad kstacks + (cpu + 1) * KSTACK_SIZE	/* rsp0 */
	.fill 11, 8, 0				/* rsp1, rsp2, ist1-7, reserved */
	.word 0
	.word 104				/* I/O map base */
	.fill 12, 1, 0xff			/* 0x000-0x05f */
	.byte 0xef				/* 0x060-0x067: 0x64 open */
	.fill 127 - 13, 1, 0xff
	.byte 0x00				/* 0x3f8-0x3ff */
	.fill 160 - 128, 1, 0xff
	.byte 0x00				/* 0x500-0x507 */
	.fill 192 - 161, 1, 0xff
	.byte 0x00				/* 0x600-0x607: ACPI PM1 */
	.fill 415 - 193, 1, 0xff
	.byte 0xfd				/* 0xcf8-0xcff: 0xcf9 open */
	.byte 0xff				/* end of bitmap */
	.set cpu, cpu + 1
	.endr

/* Page tables: the first 64 GiB identity mapped with 2 MiB pages, all
 * present, writable and user-accessible. */
	.section .data.pagetables, "aw"
	.balign 4096
pml4:
	.quad pdpt + 0x7
	.fill 511, 8, 0
pdpt:
	.set i, 0
	.rept 64
	.quad pd + i * 4096 + 0x7
	.set i, i + 1
	.endr
	.fill 512 - 64, 8, 0
pd:
	.set i, 0
	.rept 64 * 512
	.quad (i << 21) + 0x87
	.set i, i + 1
	.endr

	.bss
	.balign 4096
idt:
	.skip 256 * 16
	.balign 4096
	.globl kstacks
kstacks:
	.skip MAX_CPUS * KSTACK_SIZE
	.globl ustacks
ustacks:
	.skip MAX_CPUS * USTACK_SIZE

	.section .note.GNU-stack, "", @progbits

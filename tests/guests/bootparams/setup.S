/*
 * The real-mode part of a bzImage: a boot sector and one setup sector that
 * carry the setup header (Documentation/arch/x86/boot.rst).  There is no
 * real-mode code worth the name: this guest is only entered through the
 * 64-bit boot protocol, so the 16-bit entry just halts.
 */
#include "bootparams.h"

	.section .setup, "a"
	.globl setup_start
setup_start:
	.org 0x1f1
	.byte BP_SETUP_SECTS		/* 0x1f1 setup_sects */
	.word 0				/* 0x1f2 root_flags */
	.long setup_syssize		/* 0x1f4 syssize, 16-byte units (linker) */
	.word 0				/* 0x1f8 ram_size */
	.word 0xffff			/* 0x1fa vid_mode: normal */
	.word 0				/* 0x1fc root_dev */
	.word 0xaa55			/* 0x1fe boot_flag */

	.org 0x200
	.byte 0xeb			/* 0x200 jmp short: its offset gives the header length */
	.byte setup_header_end - 1f
1:	.ascii "HdrS"			/* 0x202 header */
	.word BP_VERSION		/* 0x206 version */
	.long 0				/* 0x208 realmode_swtch */
	.word 0				/* 0x20c start_sys_seg */
	.word 0				/* 0x20e kernel_version */
	.byte 0				/* 0x210 type_of_loader: the loader sets it */
	.byte 0x01			/* 0x211 loadflags: LOADED_HIGH */
	.word 0				/* 0x212 setup_move_size */
	.long 0x100000			/* 0x214 code32_start */
	.long 0				/* 0x218 ramdisk_image */
	.long 0				/* 0x21c ramdisk_size */
	.long 0				/* 0x220 bootsect_kludge */
	.word 0				/* 0x224 heap_end_ptr */
	.byte 0				/* 0x226 ext_loader_ver */
	.byte 0				/* 0x227 ext_loader_type */
	.long 0				/* 0x228 cmd_line_ptr */
	.long BP_INITRD_ADDR_MAX	/* 0x22c initrd_addr_max */
	.long BP_KERNEL_ALIGNMENT	/* 0x230 kernel_alignment */
	.byte 0				/* 0x234 relocatable_kernel: linked at BP_LOAD_ADDR */
	.byte 21			/* 0x235 min_alignment (log2) */
	.word BP_XLF_KERNEL_64		/* 0x236 xloadflags */
	.long BP_CMDLINE_SIZE		/* 0x238 cmdline_size */
	.long 0				/* 0x23c hardware_subarch: PC */
	.quad 0				/* 0x240 hardware_subarch_data */
	.long 0				/* 0x248 payload_offset */
	.long 0				/* 0x24c payload_length */
	.quad 0				/* 0x250 setup_data */
	.quad BP_LOAD_ADDR		/* 0x258 pref_address */
	.long setup_init_size		/* 0x260 init_size (linker) */
	.long 0				/* 0x264 handover_offset */
	.long 0				/* 0x268 kernel_info_offset */
setup_header_end:			/* 0x26c */

	/* 16-bit entry (setup segment + 0x200 jumps here): not supported. */
	.byte 0xfa			/* cli */
2:	.byte 0xf4			/* hlt */
	.byte 0xeb, 2b - 3f		/* jmp 2b */
3:
	.org (BP_SETUP_SECTS + 1) * 512

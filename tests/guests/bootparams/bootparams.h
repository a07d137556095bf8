/*
 * What the bootparams guest declares in its setup header, shared by the
 * header itself (setup.S) and the checks (main.c): the loader must copy
 * these to boot_params unchanged.
 */
#ifndef GUEST_BOOTPARAMS_H
#define GUEST_BOOTPARAMS_H

#define BP_LOAD_ADDR 0x1000000    /* linked here, not relocatable          */
#define BP_SETUP_SECTS 1          /* the header fits in one setup sector   */
#define BP_VERSION 0x020f         /* boot protocol 2.15                    */
#define BP_KERNEL_ALIGNMENT 0x200000
#define BP_CMDLINE_SIZE 255
#define BP_INITRD_ADDR_MAX 0x7fffffff
#define BP_XLF_KERNEL_64 0x0001

#endif

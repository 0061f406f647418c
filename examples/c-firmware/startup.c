/*
 * Reset and fault handlers, the vector table, and the semihosting calls, for
 * the Cortex-M boards of QEMU (mps2-an386: Cortex-M4F; mps2-an505:
 * Cortex-M33). No C library: the runtime brings its own memcpy/memset.
 */
#include <stdint.h>

#include "semihosting.h"

int main(void);

/* From the linker script. */
extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;

static uint32_t semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* The host's standard output, opened as the special file ":tt" for writing. */
static uint32_t host_stdout = 0xffffffffu;

void sh_write0(const char *s) {
    uint32_t len = 0;
    while (s[len]) len++;
    if (host_stdout == 0xffffffffu) {
        const uint32_t open_args[3] = {(uint32_t)(uintptr_t)":tt", 4 /* "w" */, 3 /* strlen(":tt") */};
        host_stdout = semihost(0x01, open_args); /* SYS_OPEN */
    }
    const uint32_t write_args[3] = {host_stdout, (uint32_t)(uintptr_t)s, len};
    semihost(0x05, write_args); /* SYS_WRITE */
}

void sh_exit(int code) {
    /* SYS_EXIT with ADP_Stopped_ApplicationExit (success) or
     * ADP_Stopped_RunTimeErrorUnknown (failure). */
    semihost(0x18, (const void *)(uintptr_t)(code == 0 ? 0x20026 : 0x20023));
    for (;;) {
    }
}

void Reset_Handler(void) {
    uint32_t *src = &__data_load, *dst = &__data_start;
    while (dst < &__data_end) *dst++ = *src++;
    for (dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
#if defined(__ARM_FP)
    /* Full access to the FPU (CP10, CP11) before any floating-point code. */
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm__ volatile("dsb\n isb");
#endif
    sh_exit(main());
}

void Fault_Handler(void) {
    sh_write0("error: fault\n");
    sh_exit(1);
}

/* Initial stack pointer, reset, NMI, HardFault, MemManage, BusFault, UsageFault. */
__attribute__((section(".vectors"), used)) static const void *const vectors[] = {
    &__stack_top, Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
};

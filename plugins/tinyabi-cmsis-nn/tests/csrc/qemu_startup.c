/*
 * Minimal bare-metal startup for running cmsis_kernel_check.c under QEMU (tinyabi test
 * harness): a vector table, .bss zeroing, FPU enable, main(), and semihosting SYS_EXIT.
 */
#include <stdint.h>

extern uint32_t __bss_start__;
extern uint32_t __bss_end__;
extern uint32_t __stack_top__;
int main(void);

static void semihosting_exit(int status)
{
    /* SYS_EXIT with ADP_Stopped_ApplicationExit (0x20026) or RunTimeErrorUnknown (0x20023) */
    register int32_t op __asm__("r0") = 0x18;
    register int32_t reason __asm__("r1") = status == 0 ? 0x20026 : 0x20023;
    __asm__ volatile("bkpt 0xab" : "+r"(op) : "r"(reason) : "memory");
}

void reset_handler(void);
void reset_handler(void)
{
    for (uint32_t *p = &__bss_start__; p < &__bss_end__; p++)
    {
        *p = 0;
    }
#if defined(__ARM_FP)
    /* CPACR: full access to CP10 and CP11 (the FPU) */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    semihosting_exit(main());
    for (;;)
    {
    }
}

static void fault_handler(void)
{
    semihosting_exit(1);
    for (;;)
    {
    }
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&__stack_top__),
    reset_handler,
    fault_handler, /* NMI */
    fault_handler, /* HardFault */
    fault_handler, /* MemManage */
    fault_handler, /* BusFault */
    fault_handler, /* UsageFault */
};

/*
 * Startup code of the tinyabi Cortex-M firmware: the vector table and the reset handler.
 *
 * The reset handler enables the FPU (and, on Armv8.1-M, MVE), copies .data from its load
 * address, zeroes .bss, sets the stack limit on Armv8-M, opens newlib's semihosting handles,
 * calls main() and exits through semihosting with main's status. Every fault prints a line
 * naming the fault and the faulting PC, then exits with a failure status, so a crash under
 * QEMU ends the run with a message instead of hanging. A stack overflow faults too: through
 * MSPLIM on Armv8-M, through an MPU guard region at the bottom of the stack on Armv7-M.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "semihost.h"

/* Symbols of the linker script. */
extern uint32_t __data_load__[];
extern uint32_t __data_start__[];
extern uint32_t __data_end__[];
extern uint32_t __bss_start__[];
extern uint32_t __bss_end__[];
extern uint32_t __stack_limit__[];
extern uint32_t __stack_top__[];

extern void initialise_monitor_handles(void);
extern int main(void);

void Reset_Handler(void);
void SysTick_Handler(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_SHCSR (*(volatile uint32_t *)0xE000ED24u)
#define MPU_CTRL (*(volatile uint32_t *)0xE000ED94u)
#define MPU_RNR (*(volatile uint32_t *)0xE000ED98u)
#define MPU_RBAR (*(volatile uint32_t *)0xE000ED9Cu)
#define MPU_RASR (*(volatile uint32_t *)0xE000EDA0u)
/* The stack guard: 32 bytes (the linker script aligns __stack_limit__ to 32). */
#define STACK_GUARD_BYTES 32u

/* Print which fault happened, the stacked PC and the fault status registers; then exit.
 * `frame` is the exception frame, or NULL when the stack pointer was outside the stack. */
static void report_fault(const char *name, const uint32_t *frame)
{
    char line[128];
    size_t n = 0;
    const char *prefix = "TINYABI_FAULT ";
    while (*prefix != '\0') {
        line[n++] = *prefix++;
    }
    while (*name != '\0' && n < 60) {
        line[n++] = *name++;
    }
    if (frame != NULL) {
        n += semihost_format_hex(&line[n], " pc=", frame[6]);
    } else {
        const char *overflow = " (stack overflow)";
        while (*overflow != '\0') {
            line[n++] = *overflow++;
        }
    }
    n += semihost_format_hex(&line[n], " cfsr=", SCB_CFSR);
    n += semihost_format_hex(&line[n], " hfsr=", SCB_HFSR);
    line[n++] = '\n';
    line[n] = '\0';
    semihost_write0(line);
    semihost_exit(3);
}

/* The exception frame is on the MSP (everything runs in thread mode on the main stack). The
 * handler moves the MSP back to the top of the stack, since the fault may be an overflow. */
#define FAULT_HANDLER(handler, label)                                   \
    void handler(void) __attribute__((naked));                          \
    void handler(void)                                                  \
    {                                                                   \
        __asm__ volatile("mrs r1, msp\n"                                \
                         "ldr r2, =__stack_top__\n"                     \
                         "msr msp, r2\n"                                \
                         "ldr r0, =" #label "_name\n"                   \
                         "b fault_entry\n");                            \
    }                                                                   \
    const char label##_name[] = #label

void fault_entry(const char *name, const uint32_t *frame);
void fault_entry(const char *name, const uint32_t *frame)
{
    uintptr_t low = (uintptr_t)__stack_limit__ + STACK_GUARD_BYTES;
    uintptr_t high = (uintptr_t)__stack_top__ - 8u * sizeof(uint32_t);
    if ((uintptr_t)frame < low || (uintptr_t)frame > high) {
        frame = NULL;
    }
    report_fault(name, frame);
}

/* Armv7-M: a no-access MPU region over the lowest bytes of the stack. */
static void enable_stack_guard(void)
{
#if defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_7M__)
    const uint32_t size_field = 4u; /* 2^(4+1) = 32 bytes */
    MPU_RNR = 0;
    MPU_RBAR = (uint32_t)__stack_limit__;
    MPU_RASR = (1u << 28) /* XN */ | (size_field << 1) | 1u /* ENABLE, AP = no access */;
    MPU_CTRL = (1u << 2) /* PRIVDEFENA */ | 1u /* ENABLE */;
#endif
}

FAULT_HANDLER(NMI_Handler, NMI);
FAULT_HANDLER(HardFault_Handler, HardFault);
FAULT_HANDLER(MemManage_Handler, MemManage);
FAULT_HANDLER(BusFault_Handler, BusFault);
FAULT_HANDLER(UsageFault_Handler, UsageFault);
FAULT_HANDLER(SecureFault_Handler, SecureFault);
FAULT_HANDLER(Default_Handler, UnexpectedInterrupt);

typedef void (*vector_t)(void);

/* The system exceptions; no device interrupt is enabled, so the table stops after SysTick. */
__attribute__((section(".vectors"), used)) const vector_t tinyabi_vectors[16] = {
    (vector_t)__stack_top__,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    SecureFault_Handler,
    0,
    0,
    0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
};

void Reset_Handler(void)
{
    /* Full access to CP10/CP11: the FPU, and MVE on Armv8.1-M. */
    SCB_CPACR |= 0xFu << 20;
    /* Report MemManage, BusFault and UsageFault separately instead of as HardFault. */
    SCB_SHCSR |= (1u << 16) | (1u << 17) | (1u << 18);
#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
    /* A stack overflow becomes a UsageFault (STKOF) instead of silent corruption. */
    __asm__ volatile("msr msplim, %0" : : "r"((uintptr_t)__stack_limit__ + STACK_GUARD_BYTES));
#endif
    enable_stack_guard();
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    memcpy(__data_start__, __data_load__,
           (size_t)((char *)__data_end__ - (char *)__data_start__));
    memset(__bss_start__, 0, (size_t)((char *)__bss_end__ - (char *)__bss_start__));
    initialise_monitor_handles();
    exit(main());
}

/*
 * SysTick-based instruction counter (see insn_counter.h).
 */
#include "insn_counter.h"

#ifndef TINYABI_CPU_HZ
#error "define TINYABI_CPU_HZ, the frequency of the board's CPU clock"
#endif

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define SYST_ENABLE 1u
#define SYST_TICKINT 2u
#define SYST_CLKSOURCE_CPU 4u
#define SYST_RELOAD 0xFFFFFFu
#define ICSR_PENDSTSET (1u << 26)
/* Instructions per iteration of the loop in spin_until_change(). */
#define SPIN_LOOP_INSTRUCTIONS 4u
#define CALIBRATION_RUNS 5

void SysTick_Handler(void);

static volatile uint32_t systick_wraps;
static uint64_t start_ticks;
static int64_t fixed_cost = -1;

void SysTick_Handler(void)
{
    systick_wraps++;
}

/* Ticks since SysTick was enabled, consistent across a wrap (also one whose interrupt is
 * still pending). */
static uint64_t systick_ticks(void)
{
    uint32_t wraps;
    uint32_t value;
    do {
        wraps = systick_wraps;
        value = SYST_CVR;
    } while (wraps != systick_wraps);
    if ((SCB_ICSR & ICSR_PENDSTSET) != 0u && value > SYST_RELOAD / 2u) {
        wraps++;
    }
    return (uint64_t)wraps * (SYST_RELOAD + 1u) + (SYST_RELOAD - value);
}

/* Spin until SYST_CVR differs from `value`; returns the iterations, SPIN_LOOP_INSTRUCTIONS
 * instructions each (ldr, adds, cmp, beq). */
static uint32_t spin_until_change(uint32_t value)
{
    uint32_t iterations = 0;
    uint32_t now;
    __asm__ volatile("1:\n\t"
                     "ldr %[now], [%[cvr]]\n\t"
                     "adds %[iterations], %[iterations], #1\n\t"
                     "cmp %[now], %[value]\n\t"
                     "beq 1b\n"
                     : [now] "=&r"(now), [iterations] "+&r"(iterations)
                     : [cvr] "r"(&SYST_CVR), [value] "r"(value)
                     : "cc", "memory");
    return iterations;
}

static void systick_enable(void)
{
    SYST_CSR = 0;
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0; /* any write clears the counter */
    systick_wraps = 0;
    SYST_CSR = SYST_ENABLE | SYST_TICKINT | SYST_CLKSOURCE_CPU;
    while (SYST_CVR == 0u) {
    }
}

static void align_and_start(void)
{
    (void)spin_until_change(SYST_CVR);
    start_ticks = systick_ticks();
}

/* Instructions since the last align_and_start(), before subtracting the fixed cost. */
static int64_t raw_count(void)
{
    uint32_t spins = spin_until_change(SYST_CVR);
    uint64_t ticks = systick_ticks() - start_ticks;
    uint64_t nanoseconds = ticks * 1000000000ull / (uint64_t)TINYABI_CPU_HZ;
    return (int64_t)nanoseconds - (int64_t)(spins * SPIN_LOOP_INSTRUCTIONS);
}

/* The cost of measuring nothing: the median of a few empty measurements. */
static int64_t measure_fixed_cost(void)
{
    int64_t runs[CALIBRATION_RUNS];
    int i;
    int j;
    for (i = 0; i < CALIBRATION_RUNS; i++) {
        int64_t value;
        align_and_start();
        value = raw_count();
        for (j = i; j > 0 && runs[j - 1] > value; j--) {
            runs[j] = runs[j - 1];
        }
        runs[j] = value;
    }
    return runs[CALIBRATION_RUNS / 2];
}

void insn_counter_start(void)
{
    if (fixed_cost < 0) {
        systick_enable();
        fixed_cost = measure_fixed_cost();
    }
    align_and_start();
}

uint64_t insn_counter_stop(void)
{
    int64_t count = raw_count() - fixed_cost;
    return count > 0 ? (uint64_t)count : 0u;
}

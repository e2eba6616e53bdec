/*
 * Stack painting (see stack_probe.h).
 */
#include "stack_probe.h"

#include <stdint.h>

#define STACK_PAINT 0x5AC3A55Cu
/* Leave the painting function's own frame alone. */
#define STACK_PAINT_MARGIN 128u
/* The MPU / MSPLIM guard at the bottom of the stack (see startup.c). */
#define STACK_GUARD_BYTES 32u

extern uint32_t __stack_limit__[];
extern uint32_t __stack_top__[];

static uintptr_t current_sp(void)
{
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

void stack_probe_paint(void)
{
    volatile uint32_t *word = (volatile uint32_t *)((uintptr_t)__stack_limit__ + STACK_GUARD_BYTES);
    uintptr_t end = current_sp() - STACK_PAINT_MARGIN;
    while ((uintptr_t)word < end) {
        *word++ = STACK_PAINT;
    }
}

size_t stack_probe_peak(void)
{
    const volatile uint32_t *word =
        (const volatile uint32_t *)((uintptr_t)__stack_limit__ + STACK_GUARD_BYTES);
    uintptr_t top = (uintptr_t)__stack_top__;
    while ((uintptr_t)word < top && *word == STACK_PAINT) {
        word++;
    }
    return (size_t)(top - (uintptr_t)word);
}

/*
 * Instruction counting with SysTick under `qemu-system-arm -icount shift=0`.
 *
 * With -icount shift=0 QEMU's virtual clock advances exactly 1 ns per executed instruction,
 * and SysTick (processor clock source) decrements once per period of the board's CPU clock,
 * TINYABI_CPU_HZ: 25 MHz on mps2-an386 and 32 MHz on mps3-an547, i.e. once every 40 or 31.25
 * instructions. To resolve below one tick, both ends of a measurement are aligned to a tick
 * edge: the start spins until the counter changes; the stop counts the iterations of a spin
 * loop of known length until the next change and subtracts them. The fixed cost of the
 * measurement itself is measured on an empty region and subtracted, so what remains is the
 * instructions executed between insn_counter_start() and insn_counter_stop() to within a few
 * instructions (the spin loop's length), plus SysTick's interrupt (one per 2^24 ticks).
 */
#ifndef TINYABI_INSN_COUNTER_H
#define TINYABI_INSN_COUNTER_H

#include <stdint.h>

/* Start counting. */
void insn_counter_start(void);

/* Stop counting; returns the instructions executed since insn_counter_start() returned. */
uint64_t insn_counter_stop(void);

#endif

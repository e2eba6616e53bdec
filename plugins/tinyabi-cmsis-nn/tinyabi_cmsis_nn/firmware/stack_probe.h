/*
 * Peak stack use by painting: fill the free part of the stack with a pattern, run, and find
 * the lowest word that no longer holds it.
 */
#ifndef TINYABI_STACK_PROBE_H
#define TINYABI_STACK_PROBE_H

#include <stddef.h>

/* Paint the stack below the caller's frame. */
void stack_probe_paint(void);

/* The peak stack use since the paint, in bytes from the top of the stack (the caller's own
 * frames included). */
size_t stack_probe_peak(void);

#endif

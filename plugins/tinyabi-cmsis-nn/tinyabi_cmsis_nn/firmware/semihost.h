/*
 * The few semihosting calls the firmware makes directly (without newlib), for fault reports.
 */
#ifndef TINYABI_SEMIHOST_H
#define TINYABI_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

/* Write a NUL-terminated string to the host's console (SYS_WRITE0). */
void semihost_write0(const char *text);

/* End the program with `status` (0 = success) through SYS_EXIT; never returns. */
void semihost_exit(int status) __attribute__((noreturn));

/* Write `label` then `value` as 0x-prefixed hex into `out` (not terminated); returns the
 * number of characters written (at most strlen(label) + 10). */
size_t semihost_format_hex(char *out, const char *label, uint32_t value);

#endif

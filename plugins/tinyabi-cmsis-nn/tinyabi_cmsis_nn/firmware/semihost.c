/*
 * Direct semihosting calls (the Arm semihosting interface: operation in r0, argument in r1,
 * `bkpt 0xab` on M-profile).
 */
#include "semihost.h"

#define SYS_WRITE0 0x04u
#define SYS_EXIT 0x18u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define ADP_STOPPED_RUNTIME_ERROR 0x20023u

static uint32_t semihost_call(uint32_t operation, const void *argument)
{
    register uint32_t r0 __asm__("r0") = operation;
    register const void *r1 __asm__("r1") = argument;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void semihost_write0(const char *text)
{
    (void)semihost_call(SYS_WRITE0, text);
}

void semihost_exit(int status)
{
    /* The 32-bit SYS_EXIT takes the reason itself (not a block); any error is status 1. */
    uintptr_t reason = status == 0 ? ADP_STOPPED_APPLICATION_EXIT : ADP_STOPPED_RUNTIME_ERROR;
    (void)semihost_call(SYS_EXIT, (const void *)reason);
    for (;;) {
    }
}

size_t semihost_format_hex(char *out, const char *label, uint32_t value)
{
    static const char digits[] = "0123456789abcdef";
    size_t n = 0;
    int shift;
    while (*label != '\0') {
        out[n++] = *label++;
    }
    out[n++] = '0';
    out[n++] = 'x';
    for (shift = 28; shift >= 0; shift -= 4) {
        out[n++] = digits[(value >> shift) & 0xFu];
    }
    return n;
}

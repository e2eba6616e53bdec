/*
 * The heap for newlib's malloc (stdio buffers): the linker script's .heap section.
 *
 * newlib's semihosting _sbrk refuses to grow the heap above the stack pointer, which this
 * firmware's memory layout (stack at the bottom of RAM) always is; this one grows within
 * [__end__, __heap_limit__) instead.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

extern char __end__[];
extern char __heap_limit__[];

void *_sbrk(ptrdiff_t increment);

void *_sbrk(ptrdiff_t increment)
{
    static char *heap_end = NULL;
    char *previous;
    if (heap_end == NULL) {
        heap_end = __end__;
    }
    if (increment > __heap_limit__ - heap_end || increment < __end__ - heap_end) {
        errno = ENOMEM;
        return (void *)-1;
    }
    previous = heap_end;
    heap_end += increment;
    return previous;
}

/*
 * A stand-in "model" with the generated API, for calibrating the instruction counter: its
 * input is a little-endian uint32 N and model_run() executes an assembly loop of exactly
 * N iterations of LOOP_INSTRUCTIONS instructions; the output is the input, unchanged.
 */
#ifndef MODEL_H
#define MODEL_H

#include <stddef.h>
#include <stdint.h>

#define MODEL_ARENA_SIZE 16
#define MODEL_NUM_INPUTS 1
#define MODEL_NUM_OUTPUTS 1
/* Instructions per iteration of the loop in model_run(). */
#define LOOP_INSTRUCTIONS 5

typedef struct {
    const char *name;
    int32_t dtype;
    int32_t ndim;
    int32_t shape[6];
    float scale;
    int32_t zero_point;
    size_t size;
    size_t arena_offset;
} model_tensor_t;

int model_init(void *arena, size_t arena_size);
const model_tensor_t *model_input(int index);
const model_tensor_t *model_output(int index);
void *model_tensor_data(const model_tensor_t *t);
int model_run(void);

#endif

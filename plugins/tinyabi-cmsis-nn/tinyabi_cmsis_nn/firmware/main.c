/*
 * The tinyabi firmware harness: runs a generated model once under QEMU.
 *
 * Reads the model's inputs (concatenated, in input order) from the host file
 * TINYABI_INPUT_FILE through semihosting, runs model_init() then model_run() with the
 * instructions of model_run() counted by SysTick, writes the outputs (concatenated, in output
 * order) to TINYABI_OUTPUT_FILE and prints one line
 *   TINYABI_RESULT instructions=<n> stack_bytes=<peak stack use during the run>
 * Built with -DMODEL_PROFILE, it first prints one line per layer,
 *   TINYABI_LAYER <layer> instructions=<n>
 * and <n> of the result line is their sum (the per-layer counters replace the outer one).
 * A model with state (MODEL_STATE_SIZE > 0: an SVDF's memory, an LSTM's hidden and cell
 * states) keeps it on the host between runs: the firmware starts from the state in
 * TINYABI_STATE_FILE when the host gives that file (else from model_init's reset state) and
 * writes the state after the run back to it.
 * On any error it prints "TINYABI_ERROR <what>" and exits with a nonzero status.
 */
#include <stdint.h>
#include <stdio.h>

#include "insn_counter.h"
#include "model.h"
#include "profile.h"
#include "stack_probe.h"

#ifndef TINYABI_INPUT_FILE
#define TINYABI_INPUT_FILE "tinyabi_input.bin"
#endif
#ifndef TINYABI_OUTPUT_FILE
#define TINYABI_OUTPUT_FILE "tinyabi_output.bin"
#endif
#ifndef TINYABI_STATE_FILE
#define TINYABI_STATE_FILE "tinyabi_state.bin"
#endif

#define ARENA_BYTES (MODEL_ARENA_SIZE > 0 ? MODEL_ARENA_SIZE : 16)

/* The model's arena, in its own section so that size reports can show it. */
static uint8_t tinyabi_arena[ARENA_BYTES]
    __attribute__((aligned(16), section(".tinyabi_arena")));

/* Decimal digits of `value` into `out` (at least 21 bytes); returns `out`. */
static char *format_u64(char *out, uint64_t value)
{
    char digits[21];
    int n = 0;
    int i;
    do {
        digits[n++] = (char)('0' + (int)(value % 10u));
        value /= 10u;
    } while (value != 0u);
    for (i = 0; i < n; i++) {
        out[i] = digits[n - 1 - i];
    }
    out[n] = '\0';
    return out;
}

static int fail(const char *what)
{
    fputs("TINYABI_ERROR ", stdout);
    fputs(what, stdout);
    fputs("\n", stdout);
    fflush(stdout);
    return 1;
}

static int read_inputs(void)
{
    FILE *file = fopen(TINYABI_INPUT_FILE, "rb");
    int i;
    int extra;
    if (file == NULL) {
        return fail("cannot open the input file " TINYABI_INPUT_FILE);
    }
    for (i = 0; i < MODEL_NUM_INPUTS; i++) {
        const model_tensor_t *tensor = model_input(i);
        if (fread(model_tensor_data(tensor), 1, tensor->size, file) != tensor->size) {
            fclose(file);
            return fail("the input file is shorter than the model's inputs");
        }
    }
    extra = fgetc(file);
    fclose(file);
    if (extra != EOF) {
        return fail("the input file is longer than the model's inputs");
    }
    return 0;
}

#if MODEL_STATE_SIZE > 0
static int read_state(void)
{
    FILE *file = fopen(TINYABI_STATE_FILE, "rb");
    int extra;
    if (file == NULL) {
        return 0; /* no state given: the sequence starts afresh */
    }
    if (fread(model_state(), 1, MODEL_STATE_SIZE, file) != MODEL_STATE_SIZE) {
        fclose(file);
        return fail("the state file is shorter than the model's state");
    }
    extra = fgetc(file);
    fclose(file);
    if (extra != EOF) {
        return fail("the state file is longer than the model's state");
    }
    return 0;
}

static int write_state(void)
{
    FILE *file = fopen(TINYABI_STATE_FILE, "wb");
    if (file == NULL) {
        return fail("cannot create the state file " TINYABI_STATE_FILE);
    }
    if (fwrite(model_state(), 1, MODEL_STATE_SIZE, file) != MODEL_STATE_SIZE || fclose(file) != 0) {
        return fail("cannot write the state file");
    }
    return 0;
}
#else
static int read_state(void)
{
    return 0;
}

static int write_state(void)
{
    return 0;
}
#endif

static int write_outputs(void)
{
    FILE *file = fopen(TINYABI_OUTPUT_FILE, "wb");
    int i;
    if (file == NULL) {
        return fail("cannot create the output file " TINYABI_OUTPUT_FILE);
    }
    for (i = 0; i < MODEL_NUM_OUTPUTS; i++) {
        const model_tensor_t *tensor = model_output(i);
        if (fwrite(model_tensor_data(tensor), 1, tensor->size, file) != tensor->size) {
            fclose(file);
            return fail("cannot write the output file");
        }
    }
    if (fclose(file) != 0) {
        return fail("cannot write the output file");
    }
    return 0;
}

int main(void)
{
    char instructions_text[24];
    char stack_text[24];
    uint64_t instructions;
    size_t stack_bytes;
    int status;

    if (model_init(tinyabi_arena, sizeof tinyabi_arena) != 0) {
        return fail("model_init failed");
    }
    if (read_inputs() != 0 || read_state() != 0) {
        return 1;
    }
    stack_probe_paint();
#ifdef MODEL_PROFILE
    status = model_run();
    stack_bytes = stack_probe_peak();
    instructions = 0;
    for (int i = 0; i < MODEL_NUM_LAYERS; i++) {
        instructions += profile_layer_instructions[i];
    }
#else
    insn_counter_start();
    status = model_run();
    instructions = insn_counter_stop();
    stack_bytes = stack_probe_peak();
#endif
    if (status != 0) {
        return fail("model_run failed");
    }
    if (write_outputs() != 0 || write_state() != 0) {
        return 1;
    }
#ifdef MODEL_PROFILE
    for (int i = 0; i < MODEL_NUM_LAYERS; i++) {
        fputs("TINYABI_LAYER ", stdout);
        fputs(format_u64(instructions_text, (uint64_t)i), stdout);
        fputs(" instructions=", stdout);
        fputs(format_u64(instructions_text, profile_layer_instructions[i]), stdout);
        fputs("\n", stdout);
    }
#endif
    fputs("TINYABI_RESULT instructions=", stdout);
    fputs(format_u64(instructions_text, instructions), stdout);
    fputs(" stack_bytes=", stdout);
    fputs(format_u64(stack_text, (uint64_t)stack_bytes), stdout);
    fputs("\n", stdout);
    fflush(stdout);
    return 0;
}

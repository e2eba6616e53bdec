/*
 * tinyabi portable CMSIS-NN subset: 16x8 unidirectional LSTM (int16 activations and hidden
 * state, int8 weights, int64 effective biases, int16 gates and cell state).
 *
 * tinyabi's own implementation of the public CMSIS-NN API (not Arm's code), computing what
 * TFLite Micro's 16x8 integer LSTM computes, one time step of one batch row at a time. The
 * steps are those of the int8 version (lstm.c); what differs is each gate part's sum, taken
 * in 64 bits from the int64 effective bias and requantized with the multiplier reduced to
 * Q15 (TFLite's 64-bit requantization), and the int16 hidden state:
 *   gate = activation(sat16(rq64(W_x x + bias_eff) + rq64(W_h h + bias_eff_h)))
 *   cell = clamp(sat16(rq(f * cell)) + rq(i * g))                  (clip, or int16)
 *   h    = sat16(rq(o * tanh(cell)) + output_offset)
 */
#include <stddef.h>

#include "tinyabi_nn_support.h"

/* dst[r] = sat16(dst[r] + rq64(bias[r] + sum_c lhs[c] * w[r][c])) for one batch row. */
static void gate_part_s16(const int16_t *lhs,
                          const int8_t *weights,
                          const int64_t *bias,
                          int32_t multiplier,
                          int32_t shift,
                          int32_t cols,
                          int32_t rows,
                          int16_t *dst)
{
    const int32_t reduced = tinyabi_reduce_multiplier(multiplier);
    int32_t r, c;
    for (r = 0; r < rows; r++)
    {
        const int8_t *w = weights + (size_t)r * cols;
        int64_t acc = bias[r];
        for (c = 0; c < cols; c++)
        {
            acc += (int64_t)((int32_t)lhs[c] * w[c]);
        }
        dst[r] = tinyabi_clamp_s16(tinyabi_requantize_s64(acc, reduced, shift) + dst[r], -32768, 32767);
    }
}

static void gate_s16(const int16_t *x,
                     const int16_t *h,
                     const cmsis_nn_lstm_gate *g,
                     const cmsis_nn_lstm_params *p,
                     int16_t *out)
{
    memset(out, 0, (size_t)p->hidden_size * sizeof(int16_t));
    gate_part_s16(x,
                  (const int8_t *)g->input_weights,
                  (const int64_t *)g->input_effective_bias,
                  g->input_multiplier,
                  g->input_shift,
                  p->input_size,
                  p->hidden_size,
                  out);
    if (h != NULL)
    {
        gate_part_s16(h,
                      (const int8_t *)g->hidden_weights,
                      (const int64_t *)g->hidden_effective_bias,
                      g->hidden_multiplier,
                      g->hidden_shift,
                      p->hidden_size,
                      p->hidden_size,
                      out);
    }
    (void)arm_nn_activation_s16(out, out, p->hidden_size, 0, g->activation_type);
}

/* One time step of one batch row: x [input_size], h_in [hidden] (or NULL), cell [hidden]. */
static void step_s16(const int16_t *x,
                     const int16_t *h_in,
                     int16_t *h_out,
                     int16_t *cell,
                     const cmsis_nn_lstm_params *p,
                     int16_t *t1,
                     int16_t *t2)
{
    const int32_t n = p->hidden_size;
    const int32_t lo = p->cell_clip > 0 ? -p->cell_clip : -32768;
    const int32_t hi = p->cell_clip > 0 ? p->cell_clip : 32767;
    int32_t i;
    gate_s16(x, h_in, &p->forget_gate, p, t1);
    (void)arm_elementwise_mul_s16(
        t1, cell, 0, 0, cell, 0, p->forget_to_cell_multiplier, p->forget_to_cell_shift, -32768, 32767, n);
    gate_s16(x, h_in, &p->input_gate, p, t1);
    gate_s16(x, h_in, &p->cell_gate, p, t2);
    for (i = 0; i < n; i++)
    {
        const int32_t value = tinyabi_requantize(
            (int32_t)t1[i] * t2[i], p->input_to_cell_multiplier, p->input_to_cell_shift);
        cell[i] = tinyabi_clamp_s16(value + cell[i], lo, hi);
    }
    gate_s16(x, h_in, &p->output_gate, p, t1);
    (void)arm_nn_activation_s16(cell, t2, n, p->cell_scale_power + 12, ARM_TANH);
    for (i = 0; i < n; i++)
    {
        const int32_t value =
            tinyabi_requantize((int32_t)t1[i] * t2[i], p->output_multiplier, p->output_shift);
        h_out[i] = tinyabi_clamp_s16(value + p->output_offset, -32768, 32767);
    }
}

arm_cmsis_nn_status arm_lstm_unidirectional_s16(const int16_t *input,
                                                int16_t *output,
                                                const cmsis_nn_lstm_params *params,
                                                cmsis_nn_lstm_context *buffers)
{
    const cmsis_nn_lstm_params *p = params;
    int16_t *hidden = (int16_t *)buffers->hidden_state;
    int16_t *cells = (int16_t *)buffers->cell_state;
    int32_t b, t;
    if (p->cell_scale_power + 12 < 0 || buffers->temp1 == NULL || buffers->temp2 == NULL ||
        cells == NULL)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    if (hidden == NULL)
    {
        memset(cells, 0, (size_t)p->batch_size * p->hidden_size * sizeof(int16_t));
    }
    /* Each batch row runs its own sequence: its hidden state is its previous output row. */
    for (b = 0; b < p->batch_size; b++)
    {
        const int16_t *h_in = hidden != NULL ? hidden + (size_t)b * p->hidden_size : NULL;
        int16_t *cell = cells + (size_t)b * p->hidden_size;
        for (t = 0; t < p->time_steps; t++)
        {
            const size_t row = p->time_major ? (size_t)t * p->batch_size + b : (size_t)b * p->time_steps + t;
            int16_t *h_out = output + row * p->hidden_size;
            step_s16(input + row * p->input_size, h_in, h_out, cell, p, buffers->temp1, buffers->temp2);
            h_in = h_out;
        }
        if (hidden != NULL && p->time_steps > 0)
        {
            memcpy(hidden + (size_t)b * p->hidden_size, h_in, (size_t)p->hidden_size * sizeof(int16_t));
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

/*
 * tinyabi portable CMSIS-NN subset: int8 unidirectional LSTM with int16 gates and cell.
 *
 * tinyabi's own implementation of the public CMSIS-NN API (not Arm's code), computing what
 * TFLite Micro's integer LSTM computes, one time step at a time:
 *   gate = activation(sat16(rq(W_x x + bias_eff) + rq(W_h h + bias_eff_h)))   (i, f, o: sigmoid;
 *          the cell gate: tanh; the gate input has scale 2^-12, its output 2^-15)
 *   cell = clamp(sat16(rq(f * cell)) + rq(i * g))                      (clip, or int16)
 *   h    = clamp8(rq(o * tanh(cell)) + output_offset)                   (tanh: cell scale)
 * with rq the double-rounding requantization. The zero points are folded into the effective
 * biases (bias - zero point * row sum), so the products use the raw int8 values.
 */
#include <stddef.h>

#include "tinyabi_nn_support.h"

/* dst[r] = sat16(dst[r] + rq(bias[r] + sum_c lhs[c] * w[r][c])) for one batch row. */
static void gate_part(const int8_t *lhs,
                      const int8_t *weights,
                      const int32_t *bias,
                      int32_t multiplier,
                      int32_t shift,
                      int32_t cols,
                      int32_t rows,
                      int16_t *dst)
{
    int32_t r, c;
    for (r = 0; r < rows; r++)
    {
        const int8_t *w = weights + (size_t)r * cols;
        uint32_t acc = (uint32_t)bias[r];
        int32_t value;
        for (c = 0; c < cols; c++)
        {
            acc += (uint32_t)(lhs[c] * w[c]);
        }
        value = tinyabi_requantize((int32_t)acc, multiplier, shift) + dst[r];
        value = TINYABI_MAX(value, -32768);
        value = TINYABI_MIN(value, 32767);
        dst[r] = (int16_t)value;
    }
}

static void gate(const int8_t *x,
                 const int8_t *h,
                 const cmsis_nn_lstm_gate *g,
                 const cmsis_nn_lstm_params *p,
                 int16_t *out)
{
    memset(out, 0, (size_t)p->hidden_size * sizeof(int16_t));
    gate_part(x,
              (const int8_t *)g->input_weights,
              (const int32_t *)g->input_effective_bias,
              g->input_multiplier,
              g->input_shift,
              p->input_size,
              p->hidden_size,
              out);
    if (h != NULL)
    {
        gate_part(h,
                  (const int8_t *)g->hidden_weights,
                  (const int32_t *)g->hidden_effective_bias,
                  g->hidden_multiplier,
                  g->hidden_shift,
                  p->hidden_size,
                  p->hidden_size,
                  out);
    }
    (void)arm_nn_activation_s16(out, out, p->hidden_size, 0, g->activation_type);
}

/* One time step of one batch row: x [input_size], h_in [hidden] (or NULL), cell [hidden]. */
static void step(const int8_t *x,
                 const int8_t *h_in,
                 int8_t *h_out,
                 int16_t *cell,
                 const cmsis_nn_lstm_params *p,
                 int16_t *t1,
                 int16_t *t2)
{
    const int32_t n = p->hidden_size;
    const int32_t lo = p->cell_clip > 0 ? -p->cell_clip : -32768;
    const int32_t hi = p->cell_clip > 0 ? p->cell_clip : 32767;
    int32_t i;
    gate(x, h_in, &p->forget_gate, p, t1);
    (void)arm_elementwise_mul_s16(
        t1, cell, 0, 0, cell, 0, p->forget_to_cell_multiplier, p->forget_to_cell_shift, -32768, 32767, n);
    gate(x, h_in, &p->input_gate, p, t1);
    gate(x, h_in, &p->cell_gate, p, t2);
    for (i = 0; i < n; i++)
    {
        int32_t value = tinyabi_requantize(
            (int32_t)t1[i] * t2[i], p->input_to_cell_multiplier, p->input_to_cell_shift);
        value += cell[i];
        value = TINYABI_MAX(value, lo);
        value = TINYABI_MIN(value, hi);
        cell[i] = (int16_t)value;
    }
    gate(x, h_in, &p->output_gate, p, t1);
    (void)arm_nn_activation_s16(cell, t2, n, p->cell_scale_power + 12, ARM_TANH);
    for (i = 0; i < n; i++)
    {
        int32_t value = tinyabi_requantize((int32_t)t1[i] * t2[i], p->output_multiplier, p->output_shift);
        value += p->output_offset;
        value = TINYABI_MAX(value, -128);
        value = TINYABI_MIN(value, 127);
        h_out[i] = (int8_t)value;
    }
}

arm_cmsis_nn_status arm_lstm_unidirectional_s8(const int8_t *input,
                                               int8_t *output,
                                               const cmsis_nn_lstm_params *params,
                                               cmsis_nn_lstm_context *buffers)
{
    const cmsis_nn_lstm_params *p = params;
    int8_t *hidden = (int8_t *)buffers->hidden_state;
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
        const int8_t *h_in = hidden != NULL ? hidden + (size_t)b * p->hidden_size : NULL;
        int16_t *cell = cells + (size_t)b * p->hidden_size;
        for (t = 0; t < p->time_steps; t++)
        {
            const size_t row = p->time_major ? (size_t)t * p->batch_size + b : (size_t)b * p->time_steps + t;
            int8_t *h_out = output + row * p->hidden_size;
            step(input + row * p->input_size, h_in, h_out, cell, p, buffers->temp1, buffers->temp2);
            h_in = h_out;
        }
        if (hidden != NULL && p->time_steps > 0)
        {
            memcpy(hidden + (size_t)b * p->hidden_size, h_in, (size_t)p->hidden_size);
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

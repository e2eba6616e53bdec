/*
 * tinyabi portable CMSIS-NN subset: int8 fully connected layer and kernel sums.
 *
 * tinyabi's own implementation of the public CMSIS-NN API (not Arm's code).
 * out[b][r] = clamp(requantize(bias[r] + sum_j (x[b][j] + input_offset) * w[r][j]) + output_offset)
 *
 * Four rows per pass, each input load shared by the four rows: on MVE three 16-lane VMLADAVA
 * per row and 16 columns (the input offset enters as two int8 halves times the weights) in a
 * tail-predicated loop, the four results requantized as one vector; with the DSP extension
 * two SMLAD per row and 4 columns. A last block of fewer than four rows takes the last four
 * rows again (with fewer than four rows in all, blocks of two or one rows, each computed
 * twice or four times). The hot loops are inline assembly where GCC's own code spills or
 * addresses poorly; the C loops beside them compute the same and serve other compilers and
 * the host tests (TINYABI_EMULATE_DSP).
 *
 * Kernel sums (arm_vector_sum_s8: bias + input_offset * the row's weight sum, which the real
 * library wants in ctx->buf on cores with the vector extension) are not asked for and not
 * read: kept in flash in place of the biases they would save the MVE loop two VMLADAVA of
 * three, but the generated project would need a context per layer and a size check in
 * model_init, more flash than ad01's budget (0.75x of TFLM's) has left.
 */
#include <stddef.h>

#include "tinyabi_nn_support.h"

arm_cmsis_nn_status arm_vector_sum_s8(int32_t *vector_sum_buf,
                                      const int32_t vector_cols,
                                      const int32_t vector_rows,
                                      const int8_t *vector_data,
                                      const int32_t lhs_offset,
                                      const int32_t rhs_offset,
                                      const int32_t *bias_data)
{
    for (int32_t r = 0; r < vector_rows; r++)
    {
        const int8_t *row = vector_data + (size_t)r * vector_cols;
        int32_t sum = 0;
        for (int32_t j = 0; j < vector_cols; j++)
        {
            sum += row[j];
        }
        sum += rhs_offset * vector_cols;
        vector_sum_buf[r] = lhs_offset * sum + (bias_data != NULL ? bias_data[r] : 0);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t arm_fully_connected_s8_get_buffer_size(const cmsis_nn_dims *filter_dims)
{
    (void)filter_dims;
    return 0;
}

#if defined(__GNUC__)
#define FC_NOINLINE __attribute__((noinline))
#else
#define FC_NOINLINE
#endif

/* What every block of rows of one layer shares. */
typedef struct
{
    int32_t cols;
    int32_t s1; /* row w_1 - row w_0 (0 with fewer than two rows per block) */
    int32_t s2; /* row w_2 - row w_0 (0 with fewer than four rows per block) */
    int32_t step; /* rows per block: 4, 2 or 1 */
    const cmsis_nn_fc_params *params;
    const cmsis_nn_per_tensor_quant_params *quant;
    const int32_t *bias;
} fc_layer;

/* Outputs first to first + step - 1 of one input vector x: for the rows w_0 = w,
 * w_1 = w + s1, w_2 = w + s2, w_3 = w + s1 + s2 the dot products
 * sum_j (x[j] + offset) * w_i[j], bias added, requantized. Not inlined: the caller's values
 * would take the registers the dot product loop needs. */
static FC_NOINLINE void fc_block(const fc_layer *l, const int8_t *x, const int8_t *w,
                                 int8_t *out, int32_t first)
{
    const int32_t cols = l->cols;
    const int32_t s2 = l->s2;
    const int32_t offset = l->params->input_offset;
    int32_t a0 = 0;
    int32_t a1 = 0;
    int32_t a2 = 0;
    int32_t a3 = 0;
    const int8_t *wa = w;
    const int8_t *wb = w + l->s1;
#if TINYABI_MVE && defined(__GNUC__) && !defined(__clang__)
    /* (x + offset) . w = x . w + o1 * sum(w) + o2 * sum(w) with o1 = offset >> 1 and
     * o2 = offset - o1, both int8 for an offset in [-256, 254] (TFLite's input offsets lie in
     * [-127, 128]): three VMLADAVA per row and 16 columns, no register for the weight sums.
     * A tail-predicated loop (WLSTP/LETP) takes the last columns too; the loads post-increment
     * (GCC's own loop addresses each row as base minus a counter, one more instruction per
     * load); VMLADAVA accumulates in even registers (constraint Te). */
    const int32_t o1 = offset >> 1;
    const int8x16_t v1 = vdupq_n_s8((int8_t)o1);
    const int8x16_t v2 = vdupq_n_s8((int8_t)(offset - o1));
    const int8_t *wc = wa + s2;
    const int8_t *wd = wb + s2;
    int8x16_t xv;
    int8x16_t kv;
    __asm__ volatile(
        "wlstp.8 lr, %[n], 2f\n"
        "1:\n\t"
        "vldrb.8 %q[xv], [%[x]], #16\n\t"
        "vldrb.8 %q[kv], [%[wa]], #16\n\t"
        "vmladava.s8 %[a0], %q[xv], %q[kv]\n\t"
        "vmladava.s8 %[a0], %q[v1], %q[kv]\n\t"
        "vmladava.s8 %[a0], %q[v2], %q[kv]\n\t"
        "vldrb.8 %q[kv], [%[wb]], #16\n\t"
        "vmladava.s8 %[a1], %q[xv], %q[kv]\n\t"
        "vmladava.s8 %[a1], %q[v1], %q[kv]\n\t"
        "vmladava.s8 %[a1], %q[v2], %q[kv]\n\t"
        "vldrb.8 %q[kv], [%[wc]], #16\n\t"
        "vmladava.s8 %[a2], %q[xv], %q[kv]\n\t"
        "vmladava.s8 %[a2], %q[v1], %q[kv]\n\t"
        "vmladava.s8 %[a2], %q[v2], %q[kv]\n\t"
        "vldrb.8 %q[kv], [%[wd]], #16\n\t"
        "vmladava.s8 %[a3], %q[xv], %q[kv]\n\t"
        "vmladava.s8 %[a3], %q[v1], %q[kv]\n\t"
        "vmladava.s8 %[a3], %q[v2], %q[kv]\n\t"
        "letp lr, 1b\n"
        "2:"
        : [x] "+&r"(x), [wa] "+&r"(wa), [wb] "+&r"(wb), [wc] "+&r"(wc), [wd] "+&r"(wd),
          [a0] "+&Te"(a0), [a1] "+&Te"(a1), [a2] "+&Te"(a2), [a3] "+&Te"(a3), [xv] "=&w"(xv),
          [kv] "=&w"(kv)
        : [n] "r"(cols), [v1] "w"(v1), [v2] "w"(v2)
        : "lr", "cc", "memory");
#elif defined(TINYABI_DSP_NATIVE) && defined(__GNUC__) && !defined(__clang__) && \
    defined(__OPTIMIZE__)
    /* The C loops below, scheduled by hand: GCC hoists the five loads of an iteration and
     * runs out of registers, spilling accumulators on every pass. Thirteen registers live
     * through the loop, the end pointers are read from the stack. (An unoptimized build keeps
     * a frame pointer and has no 13 registers to give.) */
    const int8_t *const end4 = x + (cols & ~3);
    const int8_t *const end = x + cols;
    const uint32_t offset2 = tinyabi_dup16(offset);
    uint32_t xv;
    uint32_t x02;
    uint32_t k;
    uint32_t t;
    __asm__ volatile(
        "b 2f\n"
        "1:\n\t"
        "ldr %[xv], [%[x]], #4\n\t"
        "ldr %[k], [%[wa], %[s2]]\n\t"
        "sxtab16 %[x02], %[off], %[xv]\n\t"
        "sxtab16 %[xv], %[off], %[xv], ror #8\n\t"
        "sxtb16 %[t], %[k]\n\t"
        "smlad %[a2], %[x02], %[t], %[a2]\n\t"
        "sxtb16 %[t], %[k], ror #8\n\t"
        "smlad %[a2], %[xv], %[t], %[a2]\n\t"
        "ldr %[k], [%[wb], %[s2]]\n\t"
        "sxtb16 %[t], %[k]\n\t"
        "smlad %[a3], %[x02], %[t], %[a3]\n\t"
        "sxtb16 %[t], %[k], ror #8\n\t"
        "smlad %[a3], %[xv], %[t], %[a3]\n\t"
        "ldr %[k], [%[wa]], #4\n\t"
        "sxtb16 %[t], %[k]\n\t"
        "smlad %[a0], %[x02], %[t], %[a0]\n\t"
        "sxtb16 %[t], %[k], ror #8\n\t"
        "smlad %[a0], %[xv], %[t], %[a0]\n\t"
        "ldr %[k], [%[wb]], #4\n\t"
        "sxtb16 %[t], %[k]\n\t"
        "smlad %[a1], %[x02], %[t], %[a1]\n\t"
        "sxtb16 %[t], %[k], ror #8\n\t"
        "smlad %[a1], %[xv], %[t], %[a1]\n\t"
        "2:\n\t"
        "ldr %[t], %[end4]\n\t"
        "cmp %[x], %[t]\n\t"
        "bne 1b\n\t"
        "b 4f\n"
        "3:\n\t"
        "ldrsb %[xv], [%[x]], #1\n\t"
        "sxtah %[xv], %[xv], %[off]\n\t"
        "ldrsb %[k], [%[wa], %[s2]]\n\t"
        "mla %[a2], %[xv], %[k], %[a2]\n\t"
        "ldrsb %[k], [%[wb], %[s2]]\n\t"
        "mla %[a3], %[xv], %[k], %[a3]\n\t"
        "ldrsb %[k], [%[wa]], #1\n\t"
        "mla %[a0], %[xv], %[k], %[a0]\n\t"
        "ldrsb %[k], [%[wb]], #1\n\t"
        "mla %[a1], %[xv], %[k], %[a1]\n\t"
        "4:\n\t"
        "ldr %[t], %[end]\n\t"
        "cmp %[x], %[t]\n\t"
        "bne 3b"
        : [x] "+&r"(x), [wa] "+&r"(wa), [wb] "+&r"(wb), [a0] "+&r"(a0), [a1] "+&r"(a1),
          [a2] "+&r"(a2), [a3] "+&r"(a3), [xv] "=&r"(xv), [x02] "=&r"(x02), [k] "=&r"(k),
          [t] "=&r"(t)
        : [s2] "r"(s2), [end4] "m"(end4), [end] "m"(end), [off] "r"(offset2)
        : "cc", "memory");
#else
    const int8_t *const end = x + cols;
#if TINYABI_DSP
    const uint32_t offset2 = tinyabi_dup16(offset);
    for (; end - x >= 4; x += 4, wa += 4, wb += 4)
    {
        const uint32_t xv = tinyabi_read_s8x4(x);
        const uint32_t x02 = tinyabi_sxtab16(offset2, xv);
        const uint32_t x13 = tinyabi_sxtab16_ror8(offset2, xv);
        uint32_t k = tinyabi_read_s8x4(wa + s2);
        a2 = tinyabi_smlad(x02, tinyabi_sxtb16(k), a2);
        a2 = tinyabi_smlad(x13, tinyabi_sxtb16_ror8(k), a2);
        k = tinyabi_read_s8x4(wb + s2);
        a3 = tinyabi_smlad(x02, tinyabi_sxtb16(k), a3);
        a3 = tinyabi_smlad(x13, tinyabi_sxtb16_ror8(k), a3);
        k = tinyabi_read_s8x4(wa);
        a0 = tinyabi_smlad(x02, tinyabi_sxtb16(k), a0);
        a0 = tinyabi_smlad(x13, tinyabi_sxtb16_ror8(k), a0);
        k = tinyabi_read_s8x4(wb);
        a1 = tinyabi_smlad(x02, tinyabi_sxtb16(k), a1);
        a1 = tinyabi_smlad(x13, tinyabi_sxtb16_ror8(k), a1);
    }
#endif
    for (; x < end; x++, wa++, wb++)
    {
        const int32_t v = *x + offset;
        a0 += v * wa[0];
        a1 += v * wb[0];
        a2 += v * wa[s2];
        a3 += v * wb[s2];
    }
#endif
#if TINYABI_MVE
    const mve_pred16_t lanes = vctp32q((uint32_t)l->step);
    int32x4_t v = tinyabi_lanes4(a0, a1, a2, a3);
    if (l->bias != NULL)
    {
        v = vaddq_s32(v, vldrwq_z_s32(l->bias + first, lanes));
    }
    v = tinyabi_requantize_x4(v, vdupq_n_s32(l->quant->multiplier), vdupq_n_s32(l->quant->shift),
                              l->params->output_offset, l->params->activation.min,
                              l->params->activation.max);
    vstrbq_p_s32(out + first, v, lanes);
#else
    /* Locals: a store through out (int8_t) could change *l as far as C knows. */
    const int32_t acc[4] = {a0, a1, a2, a3};
    const int32_t *bias = l->bias != NULL ? l->bias + first : NULL;
    const int32_t count = l->step;
    const int32_t mult = l->quant->multiplier;
    const int32_t shift = l->quant->shift;
    const int32_t out_offset = l->params->output_offset;
    const int32_t act_min = l->params->activation.min;
    const int32_t act_max = l->params->activation.max;
    out += first;
    for (int32_t i = 0; i < count; i++)
    {
        const int32_t v = acc[i] + (bias != NULL ? bias[i] : 0);
        out[i] = tinyabi_requantize_s8(v, mult, shift, out_offset, act_min, act_max);
    }
#endif
}

arm_cmsis_nn_status arm_fully_connected_s8(const cmsis_nn_context *ctx,
                                           const cmsis_nn_fc_params *fc_params,
                                           const cmsis_nn_per_tensor_quant_params *quant_params,
                                           const cmsis_nn_dims *input_dims,
                                           const int8_t *input_data,
                                           const cmsis_nn_dims *filter_dims,
                                           const int8_t *filter_data,
                                           const cmsis_nn_dims *bias_dims,
                                           const int32_t *bias_data,
                                           const cmsis_nn_dims *output_dims,
                                           int8_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    if (fc_params->filter_offset != 0)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t cols = filter_dims->n;
    const int32_t rows = output_dims->c;
    /* Blocks of four rows, the last one moved back to end at the last row (it computes some
     * rows again); with fewer than four rows in all, blocks of two or one. */
    const int32_t step = rows >= 4 ? 4 : (rows >= 2 ? 2 : 1);
    const fc_layer l = {
        .cols = cols,
        .s1 = step > 1 ? cols : 0,
        .s2 = step > 2 ? 2 * cols : 0,
        .step = step,
        .params = fc_params,
        .quant = quant_params,
        .bias = bias_data,
    };
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *x = input_data + (size_t)b * cols;
        int8_t *out = output_data + (size_t)b * rows;
        for (int32_t r = 0; r < rows; r += step)
        {
            const int32_t first = TINYABI_MIN(r, rows - step);
            fc_block(&l, x, filter_data + (size_t)first * cols, out, first);
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

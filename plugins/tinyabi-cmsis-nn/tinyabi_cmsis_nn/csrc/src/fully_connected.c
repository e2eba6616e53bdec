/*
 * tinyabi portable CMSIS-NN subset: int8 fully connected layer and kernel sums.
 *
 * tinyabi's own implementation of the public CMSIS-NN API (not Arm's code).
 * out[b][r] = clamp(requantize(bias[r] + sum_j (x[b][j] + input_offset) * w[r][j]) + output_offset)
 *
 * Kernel sums: like the real library on cores with the vector extension, this library asks
 * for (arm_fully_connected_s8_get_buffer_size) and reads a non-NULL ctx->buf as the
 * output_depth values
 *   ksum[r] = input_offset * sum_j w[r][j] + bias[r]
 * that arm_vector_sum_s8(buf, accum_depth, output_depth, w, input_offset, 0, bias) writes;
 * the bias argument is then not read, and the inner loop is a plain int8 dot product
 * (generated code computes the sums at generation time and keeps them in flash). With
 * ctx->buf == NULL the sums of each block of rows are computed on the fly.
 *
 * Rows are computed four at a time, each input load shared by the four rows: on MVE one
 * 16-lane VMLADAVA per row and 16 columns, the four results requantized as one vector; with
 * the DSP extension two SMLAD per row and 4 columns. A last block of fewer than four rows
 * repeats its first row in the missing places and stores only the rows it has.
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
    return filter_dims->c * (int32_t)sizeof(int32_t);
}

/* acc[i] += x . w_i over cols int8 values for the four rows w_0 = w, w_1 = w + s1,
 * w_2 = w + s2, w_3 = w + s1 + s2 (two pointers and one stride keep the DSP loop in registers). */
static void fc_dot4(const int8_t *x, const int8_t *w, int32_t s1, int32_t s2, int32_t cols,
                    int32_t acc[4])
{
    int32_t a0 = acc[0];
    int32_t a1 = acc[1];
    int32_t a2 = acc[2];
    int32_t a3 = acc[3];
    const int8_t *wa = w;
    const int8_t *wb = w + s1;
#if TINYABI_MVE
    const int8_t *wc = wa + s2;
    const int8_t *wd = wb + s2;
    int32_t left = cols;
#if defined(__GNUC__)
    /* The loop below with post-incrementing loads: GCC addresses each row as base minus a
     * counter instead, one extra instruction per load. VMLADAVA wants even registers (Te). */
    uint32_t blocks = (uint32_t)cols / 16u;
    if (blocks > 0u)
    {
        int8x16_t xv;
        int8x16_t kv;
        __asm__ volatile(
            "1:\n\t"
            "vldrb.8 %q[xv], [%[x]], #16\n\t"
            "vldrb.8 %q[kv], [%[wa]], #16\n\t"
            "vmladava.s8 %[a0], %q[xv], %q[kv]\n\t"
            "vldrb.8 %q[kv], [%[wb]], #16\n\t"
            "vmladava.s8 %[a1], %q[xv], %q[kv]\n\t"
            "vldrb.8 %q[kv], [%[wc]], #16\n\t"
            "vmladava.s8 %[a2], %q[xv], %q[kv]\n\t"
            "vldrb.8 %q[kv], [%[wd]], #16\n\t"
            "vmladava.s8 %[a3], %q[xv], %q[kv]\n\t"
            "subs %[n], %[n], #1\n\t"
            "bne 1b"
            : [x] "+&r"(x), [wa] "+&r"(wa), [wb] "+&r"(wb), [wc] "+&r"(wc), [wd] "+&r"(wd),
              [a0] "+&Te"(a0), [a1] "+&Te"(a1), [a2] "+&Te"(a2), [a3] "+&Te"(a3),
              [n] "+&r"(blocks), [xv] "=&w"(xv), [kv] "=&w"(kv)
            :
            : "cc", "memory");
        left &= 15;
    }
#else
    for (; left >= 16; left -= 16)
    {
        const int8x16_t xv = vldrbq_s8(x);
        a0 = vmladavaq_s8(a0, xv, vldrbq_s8(wa));
        a1 = vmladavaq_s8(a1, xv, vldrbq_s8(wb));
        a2 = vmladavaq_s8(a2, xv, vldrbq_s8(wc));
        a3 = vmladavaq_s8(a3, xv, vldrbq_s8(wd));
        x += 16;
        wa += 16;
        wb += 16;
        wc += 16;
        wd += 16;
    }
#endif
    if (left > 0)
    {
        const mve_pred16_t p = vctp8q((uint32_t)left);
        const int8x16_t xv = vldrbq_z_s8(x, p);
        a0 = vmladavaq_s8(a0, xv, vldrbq_z_s8(wa, p));
        a1 = vmladavaq_s8(a1, xv, vldrbq_z_s8(wb, p));
        a2 = vmladavaq_s8(a2, xv, vldrbq_z_s8(wc, p));
        a3 = vmladavaq_s8(a3, xv, vldrbq_z_s8(wd, p));
    }
#else
    const int8_t *const end = x + cols;
#if defined(TINYABI_DSP_NATIVE) && defined(__GNUC__) && defined(__OPTIMIZE__)
    /* The C loop below, scheduled by hand: GCC hoists the five loads of an iteration and
     * runs out of registers (13 live values), spilling an accumulator on every pass. (An
     * unoptimized build keeps a frame pointer and has no 13 registers to give.) */
    const int8_t *const end4 = x + (cols & ~3);
    if (x < end4)
    {
        uint32_t xv;
        uint32_t x02;
        uint32_t k;
        uint32_t t;
        __asm__ volatile(
            "1:\n\t"
            "ldr %[xv], [%[x]], #4\n\t"
            "ldr %[k], [%[wa], %[s2]]\n\t"
            "sxtb16 %[x02], %[xv]\n\t"
            "sxtb16 %[xv], %[xv], ror #8\n\t"
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
            "cmp %[x], %[end]\n\t"
            "bne 1b"
            : [x] "+&r"(x), [wa] "+&r"(wa), [wb] "+&r"(wb), [a0] "+&r"(a0), [a1] "+&r"(a1),
              [a2] "+&r"(a2), [a3] "+&r"(a3), [xv] "=&r"(xv), [x02] "=&r"(x02), [k] "=&r"(k),
              [t] "=&r"(t)
            : [s2] "r"(s2), [end] "r"(end4)
            : "cc", "memory");
    }
#elif TINYABI_DSP
    for (; end - x >= 4; x += 4, wa += 4, wb += 4)
    {
        const uint32_t xv = tinyabi_read_s8x4(x);
        const uint32_t x02 = tinyabi_sxtb16(xv);
        const uint32_t x13 = tinyabi_sxtb16_ror8(xv);
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
        const int32_t v = *x;
        a0 += v * wa[0];
        a1 += v * wb[0];
        a2 += v * wa[s2];
        a3 += v * wb[s2];
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
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
    (void)bias_dims;
    if (fc_params->filter_offset != 0)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t cols = filter_dims->n;
    const int32_t rows = output_dims->c;
    const int32_t mult = quant_params->multiplier;
    const int32_t shift = quant_params->shift;
    const int32_t out_offset = fc_params->output_offset;
    const int32_t act_min = fc_params->activation.min;
    const int32_t act_max = fc_params->activation.max;
    const int32_t *kernel_sum = (ctx != NULL) ? (const int32_t *)ctx->buf : NULL;
#if TINYABI_MVE
    const int32x4_t mult_v = vdupq_n_s32(mult);
    const int32x4_t shift_v = vdupq_n_s32(shift);
#endif

    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *x = input_data + (size_t)b * cols;
        int8_t *out = output_data + (size_t)b * rows;
        for (int32_t r = 0; r < rows;)
        {
            /* Rows r + {0, d1, d2, d1 + d2}: four new rows; or, for a last block of fewer
             * than four, the last four rows again (rows >= 4), or one or two rows twice. */
            int32_t count = 4;
            int32_t d1 = 1;
            int32_t d2 = 2;
            if (rows - r < 4)
            {
                if (rows >= 4)
                {
                    r = rows - 4;
                }
                else
                {
                    count = TINYABI_MIN(rows - r, 2);
                    d1 = count - 1;
                    d2 = 0;
                }
            }
            const int32_t row[4] = {r, r + d1, r + d2, r + d1 + d2};
            int32_t acc[4];
            for (int32_t i = 0; i < 4; i++)
            {
                if (kernel_sum != NULL)
                {
                    acc[i] = kernel_sum[row[i]];
                }
                else
                {
                    int32_t sum = 0;
                    for (int32_t j = 0; j < cols; j++)
                    {
                        sum += filter_data[(size_t)row[i] * cols + j];
                    }
                    acc[i] = fc_params->input_offset * sum + (bias_data != NULL ? bias_data[row[i]] : 0);
                }
            }
            fc_dot4(x, filter_data + (size_t)r * cols, d1 * cols, d2 * cols, cols, acc);
#if TINYABI_MVE
            const int32x4_t v =
                tinyabi_requantize_x4(vldrwq_s32(acc), mult_v, shift_v, out_offset, act_min, act_max);
            vstrbq_p_s32(out + r, v, vctp32q((uint32_t)count));
#else
            for (int32_t i = 0; i < count; i++)
            {
                out[r + i] = tinyabi_requantize_s8(acc[i], mult, shift, out_offset, act_min, act_max);
            }
#endif
            r += count;
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

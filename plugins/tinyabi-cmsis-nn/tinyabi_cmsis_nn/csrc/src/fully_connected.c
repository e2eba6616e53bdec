/*
 * tinyabi portable CMSIS-NN subset: int8 fully connected layer and kernel sums.
 *
 * tinyabi's own implementation of the public CMSIS-NN API (not Arm's code).
 * out[b][r] = clamp(requantize(bias[r] + sum_j (x[b][j] + input_offset) * w[r][j]) + output_offset)
 *
 * Kernel sums: like the real library on cores with the vector extension, a non-NULL
 * ctx->buf is read as the output_depth values
 *   ksum[r] = input_offset * sum_j w[r][j] + bias[r]
 * that arm_vector_sum_s8(buf, accum_depth, output_depth, w, input_offset, 0, bias) writes;
 * the bias argument is then not read again, and the inner loop is a plain int8 dot product.
 * With ctx->buf == NULL the offset and bias are applied on the fly.
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

/* Two rows at a time: acc += (x + offset) . w, x shared between both rows. `offset` is 0
 * when the kernel sums already hold the offset term. */
static inline void fc_rows(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t cols,
                           int32_t offset, int32_t *acc0, int32_t *acc1)
{
    int32_t s0 = *acc0;
    int32_t s1 = *acc1;
    int32_t j = 0;
#if TINYABI_MVE
    /* sum((x + offset) * w) = sum(x * w) + offset * sum(w) */
    int32_t sum0 = 0;
    int32_t sum1 = 0;
    for (; j < cols; j += 16)
    {
        const mve_pred16_t p = vctp8q((uint32_t)(cols - j));
        const int8x16_t xv = vldrbq_z_s8(x + j, p);
        const int8x16_t k0 = vldrbq_z_s8(w0 + j, p);
        const int8x16_t k1 = vldrbq_z_s8(w1 + j, p);
        s0 = vmladavaq_s8(s0, xv, k0);
        s1 = vmladavaq_s8(s1, xv, k1);
        if (offset != 0)
        {
            sum0 = vaddvaq_s8(sum0, k0);
            sum1 = vaddvaq_s8(sum1, k1);
        }
    }
    s0 += offset * sum0;
    s1 += offset * sum1;
#elif TINYABI_DSP
    const uint32_t offset2 = tinyabi_dup16(offset);
    for (; j + 4 <= cols; j += 4)
    {
        const uint32_t xv = tinyabi_read_s8x4(x + j);
        const uint32_t x02 = tinyabi_sxtab16(offset2, xv);
        const uint32_t x13 = tinyabi_sxtab16_ror8(offset2, xv);
        const uint32_t k0 = tinyabi_read_s8x4(w0 + j);
        s0 = tinyabi_smlad(x02, tinyabi_sxtb16(k0), s0);
        s0 = tinyabi_smlad(x13, tinyabi_sxtb16_ror8(k0), s0);
        const uint32_t k1 = tinyabi_read_s8x4(w1 + j);
        s1 = tinyabi_smlad(x02, tinyabi_sxtb16(k1), s1);
        s1 = tinyabi_smlad(x13, tinyabi_sxtb16_ror8(k1), s1);
    }
#endif
    for (; j < cols; j++)
    {
        const int32_t xa = x[j] + offset;
        s0 += xa * w0[j];
        s1 += xa * w1[j];
    }
    *acc0 = s0;
    *acc1 = s1;
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
    /* With kernel sums the offset and bias are already in the starting value. */
    const int32_t offset = kernel_sum != NULL ? 0 : fc_params->input_offset;
    const int32_t *start = kernel_sum != NULL ? kernel_sum : bias_data;

    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *x = input_data + (size_t)b * cols;
        int8_t *out = output_data + (size_t)b * rows;
        const int8_t *w = filter_data;
        int32_t pending = 0;
        for (int32_t r = 0; r < rows; r++)
        {
            int32_t acc = pending;
            if ((r & 1) == 0)
            {
                /* Rows r and r + 1 at once (an odd last row is computed twice); the second
                 * result waits for the next iteration, so there is one requantization site. */
                const int32_t next = r + 1 < rows ? cols : 0;
                acc = start != NULL ? start[r] : 0;
                pending = start != NULL ? start[r + (next != 0)] : 0;
                fc_rows(x, w, w + next, cols, offset, &acc, &pending);
                w += 2 * cols;
            }
            out[r] = tinyabi_requantize_s8(acc, mult, shift, out_offset, act_min, act_max);
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

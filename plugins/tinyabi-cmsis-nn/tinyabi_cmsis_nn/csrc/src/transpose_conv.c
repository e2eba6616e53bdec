/*
 * tinyabi portable CMSIS-NN subset: int8 transposed convolution.
 *
 * tinyabi's own implementation of the public CMSIS-NN API (not Arm's code). The scatter
 * "input pixel (y, x) adds w[o, ky, kx] * (in + input_offset) to output row
 * y * stride - padding + ky" is computed as a gather: output row r takes the taps ky with
 * (r + padding - ky) a non-negative multiple of the stride below input height * stride
 * (likewise for columns), so no buffer is needed and every output position is written once
 * (positions no input reaches hold the bias). The sums wrap in 32 bits (unsigned arithmetic,
 * as TFLite's int32 accumulator behaves), then the per-channel requantization,
 * + output_offset, clamp.
 */
#include <stddef.h>

#include "tinyabi_nn_support.h"

/* The input index a tap reaches from output position pos, or -1 when none. */
static inline int32_t source_index(int32_t pos, int32_t pad, int32_t tap, int32_t stride, int32_t size)
{
    const int32_t t = pos + pad - tap;
    if (t < 0 || t % stride != 0 || t / stride >= size)
    {
        return -1;
    }
    return t / stride;
}

arm_cmsis_nn_status arm_transpose_conv_s8(const cmsis_nn_context *ctx,
                                          const cmsis_nn_context *output_ctx,
                                          const cmsis_nn_transpose_conv_params *transpose_conv_params,
                                          const cmsis_nn_per_channel_quant_params *quant_params,
                                          const cmsis_nn_dims *input_dims,
                                          const int8_t *input_data,
                                          const cmsis_nn_dims *filter_dims,
                                          const int8_t *filter_data,
                                          const cmsis_nn_dims *bias_dims,
                                          const int32_t *bias_data,
                                          const cmsis_nn_dims *output_dims,
                                          int8_t *output_data)
{
    const cmsis_nn_transpose_conv_params *p = transpose_conv_params;
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    int32_t n, r, c, o, ky, kx, i;
    (void)ctx;
    (void)output_ctx;
    (void)bias_dims;
    if (p->stride.h < 1 || p->stride.w < 1 || filter_dims->c != in_c || filter_dims->n != out_c)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (n = 0; n < input_dims->n; n++)
    {
        const int8_t *in = input_data + (size_t)n * in_h * in_w * in_c;
        for (r = 0; r < out_h; r++)
        {
            for (c = 0; c < out_w; c++)
            {
                for (o = 0; o < out_c; o++)
                {
                    uint32_t acc = bias_data != NULL ? (uint32_t)bias_data[o] : 0u;
                    int32_t result;
                    for (ky = 0; ky < k_h; ky++)
                    {
                        const int32_t y = source_index(r, p->padding.h, ky, p->stride.h, in_h);
                        if (y < 0)
                        {
                            continue;
                        }
                        for (kx = 0; kx < k_w; kx++)
                        {
                            const int32_t x = source_index(c, p->padding.w, kx, p->stride.w, in_w);
                            const int8_t *src;
                            const int8_t *w;
                            if (x < 0)
                            {
                                continue;
                            }
                            src = in + ((size_t)y * in_w + x) * in_c;
                            w = filter_data + (((size_t)o * k_h + ky) * k_w + kx) * in_c;
                            for (i = 0; i < in_c; i++)
                            {
                                acc += (uint32_t)((src[i] + p->input_offset) * w[i]);
                            }
                        }
                    }
                    result = tinyabi_requantize((int32_t)acc, quant_params->multiplier[o], quant_params->shift[o]);
                    result += p->output_offset;
                    result = TINYABI_MAX(result, p->activation.min);
                    result = TINYABI_MIN(result, p->activation.max);
                    *output_data++ = (int8_t)result;
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t arm_transpose_conv_s8_get_buffer_size(const cmsis_nn_transpose_conv_params *transpose_conv_params,
                                              const cmsis_nn_dims *input_dims,
                                              const cmsis_nn_dims *filter_dims,
                                              const cmsis_nn_dims *out_dims)
{
    (void)transpose_conv_params;
    (void)input_dims;
    (void)filter_dims;
    (void)out_dims;
    return 0;
}

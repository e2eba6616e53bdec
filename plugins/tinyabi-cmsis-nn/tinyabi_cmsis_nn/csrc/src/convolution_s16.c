/*
 * tinyabi portable CMSIS-NN subset: 16x8 convolution (int16 activations, int8 filters).
 *
 * tinyabi's own implementation of the public CMSIS-NN s16 convolution API (not Arm's code).
 * Each output is the sum of input x filter products over the window's valid taps (padding
 * contributes nothing: the input zero point is 0) plus the bias. With an int64 bias (or
 * none) the sum is 64-bit and requantized with the Q15-reduced multiplier (one rounding);
 * with an int32 bias it wraps in 32 bits and is requantized with double rounding, as
 * TFLite Micro's reference kernels do. No scratch memory is needed.
 */
#include <stddef.h>

#include "tinyabi_nn_support.h"

int32_t arm_convolve_s16_get_buffer_size(const cmsis_nn_dims *input_dims, const cmsis_nn_dims *filter_dims)
{
    (void)input_dims;
    (void)filter_dims;
    return 0;
}

int32_t arm_convolve_wrapper_s16_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                                 const cmsis_nn_dims *input_dims,
                                                 const cmsis_nn_dims *filter_dims,
                                                 const cmsis_nn_dims *output_dims)
{
    (void)conv_params;
    (void)output_dims;
    return arm_convolve_s16_get_buffer_size(input_dims, filter_dims);
}

arm_cmsis_nn_status arm_convolve_s16(const cmsis_nn_context *ctx,
                                     const cmsis_nn_conv_params *conv_params,
                                     const cmsis_nn_per_channel_quant_params *quant_params,
                                     const cmsis_nn_dims *input_dims,
                                     const int16_t *input_data,
                                     const cmsis_nn_dims *filter_dims,
                                     const int8_t *filter_data,
                                     const cmsis_nn_dims *bias_dims,
                                     const cmsis_nn_bias_data *bias_data,
                                     const cmsis_nn_dims *output_dims,
                                     int16_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t in_c = input_dims->c;
    const int32_t k_h = filter_dims->h;
    const int32_t k_w = filter_dims->w;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t lo = conv_params->activation.min;
    const int32_t hi = conv_params->activation.max;
    const int32_t batches = input_dims->n > 0 ? input_dims->n : 1;
    const int is_int32_bias = bias_data != NULL && bias_data->is_int32_bias;
    const int64_t *bias64 = bias_data != NULL && !is_int32_bias ? (const int64_t *)bias_data->data : NULL;
    const int32_t *bias32 = is_int32_bias ? (const int32_t *)bias_data->data : NULL;

    if (filter_dims->c != in_c)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (int32_t b = 0; b < batches; b++)
    {
        const int16_t *in = input_data + (size_t)b * in_h * in_w * in_c;
        int16_t *out = output_data + (size_t)b * out_h * out_w * out_c;
        for (int32_t oy = 0; oy < out_h; oy++)
        {
            const int32_t base_y = oy * conv_params->stride.h - conv_params->padding.h;
            int32_t ky0;
            int32_t ky1;
            tinyabi_valid_taps(base_y, conv_params->dilation.h, k_h, in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < out_w; ox++)
            {
                const int32_t base_x = ox * conv_params->stride.w - conv_params->padding.w;
                int32_t kx0;
                int32_t kx1;
                tinyabi_valid_taps(base_x, conv_params->dilation.w, k_w, in_w, &kx0, &kx1);
                for (int32_t oc = 0; oc < out_c; oc++)
                {
                    const int8_t *w = filter_data + (size_t)oc * k_h * k_w * in_c;
                    int64_t acc = 0;
                    for (int32_t ky = ky0; ky < ky1; ky++)
                    {
                        const int32_t iy = base_y + ky * conv_params->dilation.h;
                        for (int32_t kx = kx0; kx < kx1; kx++)
                        {
                            const int32_t ix = base_x + kx * conv_params->dilation.w;
                            const int16_t *x = in + ((size_t)iy * in_w + ix) * in_c;
                            const int8_t *wk = w + ((size_t)ky * k_w + kx) * in_c;
                            int32_t part = 0; /* |x * w| <= 2^22: in_c < 2^8 terms per step */
                            for (int32_t c = 0; c < in_c; c++)
                            {
                                part += (int32_t)x[c] * wk[c];
                                if ((c & 255) == 255)
                                {
                                    acc += part;
                                    part = 0;
                                }
                            }
                            acc += part;
                        }
                    }
                    int32_t v;
                    if (is_int32_bias)
                    {
                        /* 32-bit accumulator: wraps as TFLite Micro's int32 sum does. */
                        uint32_t acc32 = (uint32_t)acc;
                        if (bias32 != NULL)
                        {
                            acc32 += (uint32_t)bias32[oc];
                        }
                        v = tinyabi_requantize((int32_t)acc32, quant_params->multiplier[oc], quant_params->shift[oc]);
                    }
                    else
                    {
                        if (bias64 != NULL)
                        {
                            acc = (int64_t)((uint64_t)acc + (uint64_t)bias64[oc]);
                        }
                        v = tinyabi_requantize_s64(acc,
                                                   tinyabi_reduce_multiplier(quant_params->multiplier[oc]),
                                                   quant_params->shift[oc]);
                    }
                    out[((size_t)oy * out_w + ox) * out_c + oc] = tinyabi_clamp_s16(v, lo, hi);
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_convolve_wrapper_s16(const cmsis_nn_context *ctx,
                                             const cmsis_nn_conv_params *conv_params,
                                             const cmsis_nn_per_channel_quant_params *quant_params,
                                             const cmsis_nn_dims *input_dims,
                                             const int16_t *input_data,
                                             const cmsis_nn_dims *filter_dims,
                                             const int8_t *filter_data,
                                             const cmsis_nn_dims *bias_dims,
                                             const cmsis_nn_bias_data *bias_data,
                                             const cmsis_nn_dims *output_dims,
                                             int16_t *output_data)
{
    return arm_convolve_s16(ctx,
                            conv_params,
                            quant_params,
                            input_dims,
                            input_data,
                            filter_dims,
                            filter_data,
                            bias_dims,
                            bias_data,
                            output_dims,
                            output_data);
}

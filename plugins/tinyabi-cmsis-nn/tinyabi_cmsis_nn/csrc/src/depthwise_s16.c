/*
 * tinyabi portable CMSIS-NN subset: 16x8 depthwise convolution.
 *
 * tinyabi's own implementation of the public CMSIS-NN s16 depthwise API (not Arm's code).
 * Output channel c = i * ch_mult + m reads input channel i; the sum of products over the
 * window's valid taps and the int64 bias is requantized with the Q15-reduced multiplier, as
 * TFLite Micro's reference kernel does. No scratch memory is needed.
 */
#include <stddef.h>

#include "tinyabi_nn_support.h"

int32_t arm_depthwise_conv_wrapper_s16_get_buffer_size(const cmsis_nn_dw_conv_params *dw_conv_params,
                                                       const cmsis_nn_dims *input_dims,
                                                       const cmsis_nn_dims *filter_dims,
                                                       const cmsis_nn_dims *output_dims)
{
    (void)dw_conv_params;
    (void)input_dims;
    (void)filter_dims;
    (void)output_dims;
    return 0;
}

arm_cmsis_nn_status arm_depthwise_conv_s16(const cmsis_nn_context *ctx,
                                           const cmsis_nn_dw_conv_params *dw_conv_params,
                                           const cmsis_nn_per_channel_quant_params *quant_params,
                                           const cmsis_nn_dims *input_dims,
                                           const int16_t *input_data,
                                           const cmsis_nn_dims *filter_dims,
                                           const int8_t *filter_data,
                                           const cmsis_nn_dims *bias_dims,
                                           const int64_t *bias_data,
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
    const int32_t ch_mult = dw_conv_params->ch_mult;
    const int32_t lo = dw_conv_params->activation.min;
    const int32_t hi = dw_conv_params->activation.max;
    const int32_t batches = input_dims->n > 0 ? input_dims->n : 1;

    if (ch_mult < 1 || in_c * ch_mult != out_c)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (int32_t b = 0; b < batches; b++)
    {
        const int16_t *in = input_data + (size_t)b * in_h * in_w * in_c;
        int16_t *out = output_data + (size_t)b * out_h * out_w * out_c;
        for (int32_t oy = 0; oy < out_h; oy++)
        {
            const int32_t base_y = oy * dw_conv_params->stride.h - dw_conv_params->padding.h;
            int32_t ky0;
            int32_t ky1;
            tinyabi_valid_taps(base_y, dw_conv_params->dilation.h, k_h, in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < out_w; ox++)
            {
                const int32_t base_x = ox * dw_conv_params->stride.w - dw_conv_params->padding.w;
                int32_t kx0;
                int32_t kx1;
                tinyabi_valid_taps(base_x, dw_conv_params->dilation.w, k_w, in_w, &kx0, &kx1);
                for (int32_t oc = 0; oc < out_c; oc++)
                {
                    const int32_t ic = oc / ch_mult;
                    int64_t acc = bias_data != NULL ? bias_data[oc] : 0;
                    for (int32_t ky = ky0; ky < ky1; ky++)
                    {
                        const int32_t iy = base_y + ky * dw_conv_params->dilation.h;
                        for (int32_t kx = kx0; kx < kx1; kx++)
                        {
                            const int32_t ix = base_x + kx * dw_conv_params->dilation.w;
                            const int32_t x = in[((size_t)iy * in_w + ix) * in_c + ic];
                            const int32_t w = filter_data[((size_t)ky * k_w + kx) * out_c + oc];
                            acc = (int64_t)((uint64_t)acc + (uint64_t)(int64_t)(x * w));
                        }
                    }
                    const int32_t v = tinyabi_requantize_s64(
                        acc, tinyabi_reduce_multiplier(quant_params->multiplier[oc]), quant_params->shift[oc]);
                    out[((size_t)oy * out_w + ox) * out_c + oc] = tinyabi_clamp_s16(v, lo, hi);
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_depthwise_conv_wrapper_s16(const cmsis_nn_context *ctx,
                                                   const cmsis_nn_dw_conv_params *dw_conv_params,
                                                   const cmsis_nn_per_channel_quant_params *quant_params,
                                                   const cmsis_nn_dims *input_dims,
                                                   const int16_t *input_data,
                                                   const cmsis_nn_dims *filter_dims,
                                                   const int8_t *filter_data,
                                                   const cmsis_nn_dims *bias_dims,
                                                   const int64_t *bias_data,
                                                   const cmsis_nn_dims *output_dims,
                                                   int16_t *output_data)
{
    return arm_depthwise_conv_s16(ctx,
                                  dw_conv_params,
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

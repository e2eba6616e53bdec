/*
 * tinyabi portable CMSIS-NN subset: int16 max and average pooling.
 *
 * tinyabi's own implementation of the public CMSIS-NN s16 pooling API (not Arm's code), with
 * the int8 rules: windows visit only the input positions they cover; the average sums the
 * raw values in int32 and divides by the visited count, ties away from zero (TFLite); both
 * clamp to the activation range. No scratch memory is needed.
 */
#include <stddef.h>

#include "tinyabi_nn_support.h"

int32_t arm_avgpool_s16_get_buffer_size(const int dim_dst_width, const int ch_src)
{
    (void)dim_dst_width;
    (void)ch_src;
    return 0;
}

/* Pool one batch of NHWC int16 values: the average (average != 0) or the maximum. */
static arm_cmsis_nn_status pool_s16(const cmsis_nn_pool_params *pool_params,
                                    const cmsis_nn_dims *input_dims,
                                    const int16_t *input_data,
                                    const cmsis_nn_dims *filter_dims,
                                    const cmsis_nn_dims *output_dims,
                                    int16_t *output_data,
                                    int average)
{
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t ch = input_dims->c;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t lo = pool_params->activation.min;
    const int32_t hi = pool_params->activation.max;
    const int32_t batches = input_dims->n > 0 ? input_dims->n : 1;

    for (int32_t b = 0; b < batches; b++)
    {
        const int16_t *in = input_data + (size_t)b * in_h * in_w * ch;
        int16_t *out = output_data + (size_t)b * out_h * out_w * ch;
        for (int32_t oy = 0; oy < out_h; oy++)
        {
            const int32_t base_y = oy * pool_params->stride.h - pool_params->padding.h;
            int32_t ky0;
            int32_t ky1;
            tinyabi_valid_taps(base_y, 1, filter_dims->h, in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < out_w; ox++)
            {
                const int32_t base_x = ox * pool_params->stride.w - pool_params->padding.w;
                int32_t kx0;
                int32_t kx1;
                tinyabi_valid_taps(base_x, 1, filter_dims->w, in_w, &kx0, &kx1);
                const int32_t count = (ky1 - ky0) * (kx1 - kx0);
                if (count == 0)
                {
                    return ARM_CMSIS_NN_ARG_ERROR;
                }
                for (int32_t c = 0; c < ch; c++)
                {
                    int32_t acc = average ? 0 : INT16_MIN;
                    for (int32_t ky = ky0; ky < ky1; ky++)
                    {
                        for (int32_t kx = kx0; kx < kx1; kx++)
                        {
                            const int32_t v = in[((size_t)(base_y + ky) * in_w + base_x + kx) * ch + c];
                            acc = average ? acc + v : TINYABI_MAX(acc, v);
                        }
                    }
                    if (average)
                    {
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    }
                    out[((size_t)oy * out_w + ox) * ch + c] = tinyabi_clamp_s16(acc, lo, hi);
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_avgpool_s16(const cmsis_nn_context *ctx,
                                    const cmsis_nn_pool_params *pool_params,
                                    const cmsis_nn_dims *input_dims,
                                    const int16_t *input_data,
                                    const cmsis_nn_dims *filter_dims,
                                    const cmsis_nn_dims *output_dims,
                                    int16_t *output_data)
{
    (void)ctx;
    return pool_s16(pool_params, input_dims, input_data, filter_dims, output_dims, output_data, 1);
}

arm_cmsis_nn_status arm_max_pool_s16(const cmsis_nn_context *ctx,
                                     const cmsis_nn_pool_params *pool_params,
                                     const cmsis_nn_dims *input_dims,
                                     const int16_t *src,
                                     const cmsis_nn_dims *filter_dims,
                                     const cmsis_nn_dims *output_dims,
                                     int16_t *dst)
{
    (void)ctx;
    return pool_s16(pool_params, input_dims, src, filter_dims, output_dims, dst, 0);
}

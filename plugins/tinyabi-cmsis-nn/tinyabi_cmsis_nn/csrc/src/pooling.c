/*
 * tinyabi portable CMSIS-NN subset: int8 max and average pooling.
 *
 * tinyabi's own implementation of the public CMSIS-NN pooling API (not Arm's code).
 * Windows only visit the input positions they cover (padding never takes part). Average
 * pooling sums the raw int8 values in int32 and divides by the number of visited
 * positions, rounding half away from zero (TFLite); both clamp to the activation range.
 * Four channels are reduced per pass; no scratch memory is needed.
 */
#include <stddef.h>

#include "tinyabi_nn_support.h"

static inline int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi)
{
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

/* TFLite's average: sum / count, ties away from zero. */
static inline int32_t rounded_average(int32_t sum, int32_t count)
{
    return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

int32_t arm_avgpool_s8_get_buffer_size(const int dim_dst_width, const int ch_src)
{
    (void)dim_dst_width;
    (void)ch_src;
    return 0;
}

arm_cmsis_nn_status arm_avgpool_s8(const cmsis_nn_context *ctx,
                                   const cmsis_nn_pool_params *pool_params,
                                   const cmsis_nn_dims *input_dims,
                                   const int8_t *input_data,
                                   const cmsis_nn_dims *filter_dims,
                                   const cmsis_nn_dims *output_dims,
                                   int8_t *output_data)
{
    (void)ctx;
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t ch = input_dims->c;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t lo = pool_params->activation.min;
    const int32_t hi = pool_params->activation.max;
    const int32_t batches = input_dims->n > 0 ? input_dims->n : 1;
    const int32_t row_step = in_w * ch;

    for (int32_t b = 0; b < batches; b++)
    {
        const int8_t *in_batch = input_data + (size_t)b * in_h * in_w * ch;
        int8_t *out = output_data + (size_t)b * out_h * out_w * ch;
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
                const int8_t *first = in_batch + ((size_t)(base_y + ky0) * in_w + (base_x + kx0)) * ch;
                int32_t c = 0;
                for (; c + 4 <= ch; c += 4)
                {
                    int32_t s0 = 0;
                    int32_t s1 = 0;
                    int32_t s2 = 0;
                    int32_t s3 = 0;
                    const int8_t *row = first + c;
                    for (int32_t ky = ky0; ky < ky1; ky++)
                    {
                        const int8_t *p = row;
                        for (int32_t kx = kx0; kx < kx1; kx++)
                        {
                            s0 += p[0];
                            s1 += p[1];
                            s2 += p[2];
                            s3 += p[3];
                            p += ch;
                        }
                        row += row_step;
                    }
                    out[c] = (int8_t)clamp_i32(rounded_average(s0, count), lo, hi);
                    out[c + 1] = (int8_t)clamp_i32(rounded_average(s1, count), lo, hi);
                    out[c + 2] = (int8_t)clamp_i32(rounded_average(s2, count), lo, hi);
                    out[c + 3] = (int8_t)clamp_i32(rounded_average(s3, count), lo, hi);
                }
                for (; c < ch; c++)
                {
                    int32_t s = 0;
                    const int8_t *row = first + c;
                    for (int32_t ky = ky0; ky < ky1; ky++)
                    {
                        const int8_t *p = row;
                        for (int32_t kx = kx0; kx < kx1; kx++)
                        {
                            s += *p;
                            p += ch;
                        }
                        row += row_step;
                    }
                    out[c] = (int8_t)clamp_i32(rounded_average(s, count), lo, hi);
                }
                out += ch;
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_max_pool_s8(const cmsis_nn_context *ctx,
                                    const cmsis_nn_pool_params *pool_params,
                                    const cmsis_nn_dims *input_dims,
                                    const int8_t *input_data,
                                    const cmsis_nn_dims *filter_dims,
                                    const cmsis_nn_dims *output_dims,
                                    int8_t *output_data)
{
    (void)ctx;
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t ch = input_dims->c;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t lo = pool_params->activation.min;
    const int32_t hi = pool_params->activation.max;
    const int32_t batches = input_dims->n > 0 ? input_dims->n : 1;
    const int32_t row_step = in_w * ch;

    for (int32_t b = 0; b < batches; b++)
    {
        const int8_t *in_batch = input_data + (size_t)b * in_h * in_w * ch;
        int8_t *out = output_data + (size_t)b * out_h * out_w * ch;
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
                if (ky1 <= ky0 || kx1 <= kx0)
                {
                    return ARM_CMSIS_NN_ARG_ERROR;
                }
                const int8_t *first = in_batch + ((size_t)(base_y + ky0) * in_w + (base_x + kx0)) * ch;
                int32_t c = 0;
                for (; c + 4 <= ch; c += 4)
                {
                    int32_t m0 = -128;
                    int32_t m1 = -128;
                    int32_t m2 = -128;
                    int32_t m3 = -128;
                    const int8_t *row = first + c;
                    for (int32_t ky = ky0; ky < ky1; ky++)
                    {
                        const int8_t *p = row;
                        for (int32_t kx = kx0; kx < kx1; kx++)
                        {
                            m0 = TINYABI_MAX(m0, (int32_t)p[0]);
                            m1 = TINYABI_MAX(m1, (int32_t)p[1]);
                            m2 = TINYABI_MAX(m2, (int32_t)p[2]);
                            m3 = TINYABI_MAX(m3, (int32_t)p[3]);
                            p += ch;
                        }
                        row += row_step;
                    }
                    out[c] = (int8_t)clamp_i32(m0, lo, hi);
                    out[c + 1] = (int8_t)clamp_i32(m1, lo, hi);
                    out[c + 2] = (int8_t)clamp_i32(m2, lo, hi);
                    out[c + 3] = (int8_t)clamp_i32(m3, lo, hi);
                }
                for (; c < ch; c++)
                {
                    int32_t m = -128;
                    const int8_t *row = first + c;
                    for (int32_t ky = ky0; ky < ky1; ky++)
                    {
                        const int8_t *p = row;
                        for (int32_t kx = kx0; kx < kx1; kx++)
                        {
                            m = TINYABI_MAX(m, (int32_t)*p);
                            p += ch;
                        }
                        row += row_step;
                    }
                    out[c] = (int8_t)clamp_i32(m, lo, hi);
                }
                out += ch;
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

/*
 * tinyabi portable CMSIS-NN subset: int8 depthwise convolution.
 *
 * tinyabi's own implementation of the public CMSIS-NN depthwise API (not Arm's code).
 * Output channel oc reads input channel oc / ch_mult:
 *   acc[oc] = bias[oc] + sum_valid_taps (x[ic] + input_offset) * w[ky][kx][oc]
 * then per-channel requantization, + output_offset, clamp. Only taps that fall inside the
 * input are visited (the valid tap range is computed per output row and column), so padding
 * costs nothing. With ch_mult == 1, four channels are accumulated at once in registers
 * (one MVE vector on Cortex-M55), and full 3x3 windows are unrolled (in inline assembly
 * with GCC on DSP cores, where the C version spills). A full int8 activation range clamps
 * with one SSAT. No scratch memory is needed.
 */
#include <stddef.h>

#include "tinyabi_nn_support.h"

/* Accumulators of four consecutive channels: an MVE vector, or four int32 values. */
#if TINYABI_MVE
typedef int32x4_t acc4_t;

static inline acc4_t acc4_init(const int32_t *bias)
{
    return bias != NULL ? vldrwq_s32(bias) : vdupq_n_s32(0);
}

/* One kernel tap for the four channels: acc[i] += (x[i] + offset) * w[i]. */
static inline void tap4(const int8_t *x, const int8_t *w, int32_t offset, acc4_t *acc)
{
    const int32x4_t xv = vaddq_n_s32(vldrbq_s32(x), offset);
    *acc = vaddq_s32(*acc, vmulq_s32(xv, vldrbq_s32(w)));
}

#else
typedef struct
{
    int32_t v[4];
} acc4_t;

static inline acc4_t acc4_init(const int32_t *bias)
{
    acc4_t acc = {{0, 0, 0, 0}};
    if (bias != NULL)
    {
        acc.v[0] = bias[0];
        acc.v[1] = bias[1];
        acc.v[2] = bias[2];
        acc.v[3] = bias[3];
    }
    return acc;
}

/* One kernel tap for the four channels: acc[i] += (x[i] + offset) * w[i]. */
static inline void tap4(const int8_t *x, const int8_t *w, int32_t offset, acc4_t *acc)
{
#if TINYABI_DSP
    const uint32_t offset2 = tinyabi_dup16(offset);
    const uint32_t xv = tinyabi_read_s8x4(x);
    const uint32_t wv = tinyabi_read_s8x4(w);
    const uint32_t x02 = tinyabi_sxtab16(offset2, xv);
    const uint32_t x13 = tinyabi_sxtab16_ror8(offset2, xv);
    const uint32_t w02 = tinyabi_sxtb16(wv);
    const uint32_t w13 = tinyabi_sxtb16_ror8(wv);
    acc->v[0] = tinyabi_smlabb(x02, w02, acc->v[0]);
    acc->v[2] = tinyabi_smlatt(x02, w02, acc->v[2]);
    acc->v[1] = tinyabi_smlabb(x13, w13, acc->v[1]);
    acc->v[3] = tinyabi_smlatt(x13, w13, acc->v[3]);
#else
    acc->v[0] += (x[0] + offset) * w[0];
    acc->v[1] += (x[1] + offset) * w[1];
    acc->v[2] += (x[2] + offset) * w[2];
    acc->v[3] += (x[3] + offset) * w[3];
#endif
}

/* All nine taps of a full 3x3 window for four channels, in assembly with GCC on cores with
 * the DSP extension (the C loop keeps spilling there): x at x (taps col apart, rows
 * col * 2 + row_gap apart), the filter's taps col apart; x gets offset2's lanes added. */
#if defined(TINYABI_DSP_NATIVE) && defined(__GNUC__) && !defined(__clang__)
#define TINYABI_ASM_3X3 1
#define TINYABI_TAP4_ASM(xa, wa)                                                                   \
    "ldr %[t0], " xa "\n\t"                                                                        \
    "ldr %[t2], " wa "\n\t"                                                                        \
    "sxtab16 %[t1], %[o2], %[t0]\n\t"                                                              \
    "sxtab16 %[t0], %[o2], %[t0], ror #8\n\t"                                                      \
    "sxtb16 %[t3], %[t2]\n\t"                                                                      \
    "sxtb16 %[t2], %[t2], ror #8\n\t"                                                              \
    "smlabb %[a0], %[t1], %[t3], %[a0]\n\t"                                                        \
    "smlatt %[a2], %[t1], %[t3], %[a2]\n\t"                                                        \
    "smlabb %[a1], %[t0], %[t2], %[a1]\n\t"                                                        \
    "smlatt %[a3], %[t0], %[t2], %[a3]\n\t"
#define TINYABI_ROW3_ASM                                                                           \
    TINYABI_TAP4_ASM("[%[xp]]", "[%[wp]]")                                                         \
    TINYABI_TAP4_ASM("[%[xp], %[col]]", "[%[wp], %[col]]")                                         \
    "add %[xp], %[xp], %[col], lsl #1\n\t"                                                         \
    "add %[wp], %[wp], %[col], lsl #1\n\t"                                                         \
    TINYABI_TAP4_ASM("[%[xp]]", "[%[wp]]")                                                         \
    "add %[xp], %[xp], %[gap]\n\t"                                                                 \
    "add %[wp], %[wp], %[col]\n\t"
static inline void tap4_3x3_asm(const int8_t *x, const int8_t *w, int32_t col, int32_t row_gap,
                                uint32_t offset2, acc4_t *acc)
{
    int32_t a0 = acc->v[0];
    int32_t a1 = acc->v[1];
    int32_t a2 = acc->v[2];
    int32_t a3 = acc->v[3];
    uint32_t t0;
    uint32_t t1;
    uint32_t t2;
    uint32_t t3;
    __asm__(TINYABI_ROW3_ASM TINYABI_ROW3_ASM TINYABI_ROW3_ASM
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xp] "+r"(x), [wp] "+r"(w),
              [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3)
            : [col] "r"(col), [gap] "r"(row_gap), [o2] "r"(offset2)
            : "cc", "memory");
    acc->v[0] = a0;
    acc->v[1] = a1;
    acc->v[2] = a2;
    acc->v[3] = a3;
}
#else
#define TINYABI_ASM_3X3 0
#endif

static inline void acc4_store(acc4_t acc, int32_t *out)
{
    out[0] = acc.v[0];
    out[1] = acc.v[1];
    out[2] = acc.v[2];
    out[3] = acc.v[3];
}
#endif

#ifndef TINYABI_ASM_3X3
#define TINYABI_ASM_3X3 0
#endif

/* Depth multiplier 1: four channels per pass over the valid taps. */
static void depthwise_mult1(const cmsis_nn_dw_conv_params *p,
                            const cmsis_nn_per_channel_quant_params *q,
                            const cmsis_nn_dims *input_dims,
                            const int8_t *input,
                            const cmsis_nn_dims *filter_dims,
                            const int8_t *filter,
                            const int32_t *bias,
                            const cmsis_nn_dims *output_dims,
                            int8_t *output)
{
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t ch = input_dims->c;
    const int32_t k_h = filter_dims->h;
    const int32_t k_w = filter_dims->w;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t in_offset = p->input_offset;
    const int32_t out_offset = p->output_offset;
    const int32_t act_min = p->activation.min;
    const int32_t act_max = p->activation.max;
    const int32_t dil_h = p->dilation.h;
    const int32_t dil_w = p->dilation.w;
    const int32_t row_step = dil_h * in_w * ch;
    const int32_t col_step = dil_w * ch;
    const int32_t *mult = q->multiplier;
    const int32_t *shift = q->shift;
#if TINYABI_ASM_3X3
    const uint32_t offset2 = tinyabi_dup16(in_offset);
#endif
#if !TINYABI_MVE
    const int full_range = tinyabi_full_range(act_min, act_max);
#endif

    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *in_batch = input + (size_t)b * in_h * in_w * ch;
        int8_t *out = output + (size_t)b * out_h * out_w * ch;
        for (int32_t oy = 0; oy < out_h; oy++)
        {
            const int32_t base_y = oy * p->stride.h - p->padding.h;
            int32_t ky0;
            int32_t ky1;
            tinyabi_valid_taps(base_y, dil_h, k_h, in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < out_w; ox++)
            {
                const int32_t base_x = ox * p->stride.w - p->padding.w;
                int32_t kx0;
                int32_t kx1;
                tinyabi_valid_taps(base_x, dil_w, k_w, in_w, &kx0, &kx1);
                const int32_t taps_x = kx1 - kx0;
                const int8_t *x_first =
                    in_batch + ((size_t)(base_y + ky0 * dil_h) * in_w + (base_x + kx0 * dil_w)) * ch;
                const int8_t *w_first = filter + ((size_t)ky0 * k_w + kx0) * ch;
                /* A full 3x3 window (the interior of a 3x3 depthwise layer): taps unrolled. */
                const int32_t full3x3 = k_h == 3 && k_w == 3 && ky1 - ky0 == 3 && taps_x == 3;
                int32_t c = 0;
                for (; c + 4 <= ch; c += 4)
                {
                    acc4_t acc = acc4_init(bias != NULL ? bias + c : NULL);
                    const int8_t *x_row = x_first + c;
                    const int8_t *w_row = w_first + c;
#if TINYABI_ASM_3X3
                    if (full3x3 && col_step == ch)
                    {
                        tap4_3x3_asm(x_row, w_row, ch, row_step - 2 * ch, offset2, &acc);
                    }
                    else
#endif
                    if (full3x3)
                    {
                        for (int32_t ky = 0; ky < 3; ky++)
                        {
                            tap4(x_row, w_row, in_offset, &acc);
                            tap4(x_row + col_step, w_row + ch, in_offset, &acc);
                            tap4(x_row + 2 * col_step, w_row + 2 * ch, in_offset, &acc);
                            x_row += row_step;
                            w_row += 3 * ch;
                        }
                    }
                    else
                    {
                        for (int32_t ky = ky0; ky < ky1; ky++)
                        {
                            const int8_t *xp = x_row;
                            const int8_t *wp = w_row;
                            for (int32_t t = 0; t < taps_x; t++)
                            {
                                tap4(xp, wp, in_offset, &acc);
                                xp += col_step;
                                wp += ch;
                            }
                            x_row += row_step;
                            w_row += k_w * ch;
                        }
                    }
#if TINYABI_MVE
                    vstrbq_s32(out + c, tinyabi_requantize_x4(acc, vldrwq_s32(mult + c), vldrwq_s32(shift + c),
                                                              out_offset, act_min, act_max));
#else
                    int32_t sums[4];
                    acc4_store(acc, sums);
                    if (full_range)
                    {
                        out[c] = tinyabi_sat_s8(tinyabi_requantize(sums[0], mult[c], shift[c]) + out_offset);
                        out[c + 1] =
                            tinyabi_sat_s8(tinyabi_requantize(sums[1], mult[c + 1], shift[c + 1]) + out_offset);
                        out[c + 2] =
                            tinyabi_sat_s8(tinyabi_requantize(sums[2], mult[c + 2], shift[c + 2]) + out_offset);
                        out[c + 3] =
                            tinyabi_sat_s8(tinyabi_requantize(sums[3], mult[c + 3], shift[c + 3]) + out_offset);
                        continue;
                    }
                    out[c] = tinyabi_requantize_s8(sums[0], mult[c], shift[c], out_offset, act_min, act_max);
                    out[c + 1] =
                        tinyabi_requantize_s8(sums[1], mult[c + 1], shift[c + 1], out_offset, act_min, act_max);
                    out[c + 2] =
                        tinyabi_requantize_s8(sums[2], mult[c + 2], shift[c + 2], out_offset, act_min, act_max);
                    out[c + 3] =
                        tinyabi_requantize_s8(sums[3], mult[c + 3], shift[c + 3], out_offset, act_min, act_max);
#endif
                }
                for (; c < ch; c++)
                {
                    int32_t acc = bias != NULL ? bias[c] : 0;
                    const int8_t *x_row = x_first + c;
                    const int8_t *w_row = w_first + c;
                    for (int32_t ky = ky0; ky < ky1; ky++)
                    {
                        const int8_t *xp = x_row;
                        const int8_t *wp = w_row;
                        for (int32_t t = 0; t < taps_x; t++)
                        {
                            acc += (*xp + in_offset) * *wp;
                            xp += col_step;
                            wp += ch;
                        }
                        x_row += row_step;
                        w_row += k_w * ch;
                    }
                    out[c] = tinyabi_requantize_s8(acc, mult[c], shift[c], out_offset, act_min, act_max);
                }
                out += ch;
            }
        }
    }
}

/* Any depth multiplier: one output channel at a time. */
static void depthwise_generic(const cmsis_nn_dw_conv_params *p,
                              const cmsis_nn_per_channel_quant_params *q,
                              const cmsis_nn_dims *input_dims,
                              const int8_t *input,
                              const cmsis_nn_dims *filter_dims,
                              const int8_t *filter,
                              const int32_t *bias,
                              const cmsis_nn_dims *output_dims,
                              int8_t *output)
{
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t in_c = input_dims->c;
    const int32_t ch_mult = p->ch_mult;
    const int32_t k_h = filter_dims->h;
    const int32_t k_w = filter_dims->w;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t in_offset = p->input_offset;
    const int32_t out_offset = p->output_offset;
    const int32_t act_min = p->activation.min;
    const int32_t act_max = p->activation.max;
    const int32_t dil_h = p->dilation.h;
    const int32_t dil_w = p->dilation.w;
    const int32_t row_step = dil_h * in_w * in_c;
    const int32_t col_step = dil_w * in_c;

    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *in_batch = input + (size_t)b * in_h * in_w * in_c;
        int8_t *out = output + (size_t)b * out_h * out_w * out_c;
        for (int32_t oy = 0; oy < out_h; oy++)
        {
            const int32_t base_y = oy * p->stride.h - p->padding.h;
            int32_t ky0;
            int32_t ky1;
            tinyabi_valid_taps(base_y, dil_h, k_h, in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < out_w; ox++)
            {
                const int32_t base_x = ox * p->stride.w - p->padding.w;
                int32_t kx0;
                int32_t kx1;
                tinyabi_valid_taps(base_x, dil_w, k_w, in_w, &kx0, &kx1);
                const int8_t *x_first =
                    in_batch + ((size_t)(base_y + ky0 * dil_h) * in_w + (base_x + kx0 * dil_w)) * in_c;
                const int8_t *w_first = filter + ((size_t)ky0 * k_w + kx0) * out_c;
                for (int32_t ic = 0; ic < in_c; ic++)
                {
                    for (int32_t m = 0; m < ch_mult; m++)
                    {
                        const int32_t oc = ic * ch_mult + m;
                        int32_t acc = bias != NULL ? bias[oc] : 0;
                        const int8_t *x_row = x_first + ic;
                        const int8_t *w_row = w_first + oc;
                        for (int32_t ky = ky0; ky < ky1; ky++)
                        {
                            const int8_t *xp = x_row;
                            const int8_t *wp = w_row;
                            for (int32_t kx = kx0; kx < kx1; kx++)
                            {
                                acc += (*xp + in_offset) * *wp;
                                xp += col_step;
                                wp += out_c;
                            }
                            x_row += row_step;
                            w_row += k_w * out_c;
                        }
                        out[oc] = tinyabi_requantize_s8(
                            acc, q->multiplier[oc], q->shift[oc], out_offset, act_min, act_max);
                    }
                }
                out += out_c;
            }
        }
    }
}

arm_cmsis_nn_status arm_depthwise_conv_s8(const cmsis_nn_context *ctx,
                                          const cmsis_nn_dw_conv_params *dw_conv_params,
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
    (void)ctx;
    (void)bias_dims;
    if (dw_conv_params->ch_mult < 1 || output_dims->c != input_dims->c * dw_conv_params->ch_mult)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    if (dw_conv_params->ch_mult == 1)
    {
        depthwise_mult1(dw_conv_params, quant_params, input_dims, input_data, filter_dims, filter_data,
                        bias_data, output_dims, output_data);
    }
    else
    {
        depthwise_generic(dw_conv_params, quant_params, input_dims, input_data, filter_dims, filter_data,
                          bias_data, output_dims, output_data);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_depthwise_conv_3x3_s8(const cmsis_nn_context *ctx,
                                              const cmsis_nn_dw_conv_params *dw_conv_params,
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
    (void)ctx;
    (void)bias_dims;
    if (input_dims->c != output_dims->c || filter_dims->w != 3 || filter_dims->h != 3 ||
        dw_conv_params->padding.w > 1)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    depthwise_mult1(dw_conv_params, quant_params, input_dims, input_data, filter_dims, filter_data, bias_data,
                    output_dims, output_data);
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t arm_depthwise_conv_wrapper_s8_get_buffer_size(const cmsis_nn_dw_conv_params *dw_conv_params,
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

arm_cmsis_nn_status arm_depthwise_conv_wrapper_s8(const cmsis_nn_context *ctx,
                                                  const cmsis_nn_dw_conv_params *dw_conv_params,
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
    if (dw_conv_params->ch_mult == 1 && input_dims->n == 1 && dw_conv_params->dilation.w == 1 &&
        dw_conv_params->dilation.h == 1 && filter_dims->w == 3 && filter_dims->h == 3 &&
        dw_conv_params->padding.h <= 1 && dw_conv_params->padding.w <= 1)
    {
        return arm_depthwise_conv_3x3_s8(ctx,
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
    return arm_depthwise_conv_s8(ctx,
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

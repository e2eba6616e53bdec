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

/* ------------------------------------------------------------------ 3x3 through line buffers
 *
 * 3x3 filters with depth multiplier 1, unit dilation and unit strides, on cores with MVE or the
 * DSP extension, for calls with enough output positions per channel (TINYABI_DW_MIN_POSITIONS):
 * one channel at a time over the whole image, so that its nine weights stay in registers and
 * the input offset folds into the bias (bias + input_offset * sum of the weights). The image
 * is walked line by line along one spatial axis (v) and position by position along the other
 * (u); the axis of the positions is chosen per call to waste the fewest lanes. The input lines
 * of the window are copied, for the one channel, into a ring of line buffers in ctx->buf with
 * the padding written out (as the input zero point, which the folded offset turns into zero),
 * so the hot loop has no edge cases and reads its taps at small fixed offsets.
 *   MVE: lines of int8 values; four output positions per vector (VMLA by the scalar weight),
 *        requantized together and scattered to the output.
 *   DSP: lines of int16 values with the input offset added (padding 0), two output positions
 *        per pass, two taps per SMLAD.
 * Each call repeats the per-channel set-up (the weights, the folded bias, the first lines of
 * the window); in the row bands of the generated code a call has few rows, so small calls
 * and strides of 2 (which fill twice as many lines per output line) run faster through the
 * buffer-free loops below. TINYABI_DW_MIN_POSITIONS is where the line buffers start to win
 * (measured under QEMU on vww's layers). */

/* The line-buffer helpers are instantiated per stride and shift direction: inlined. */
#if defined(__GNUC__)
#define DW_INLINE static inline __attribute__((always_inline))
#else
#define DW_INLINE static inline
#endif

#define DW_RING 3   /* input lines of the window */
#define DW_SLOTS 4  /* the ring and one line of padding */
/* Output positions per call (per channel) from which this path runs; tests set it to 1 to
 * check the path on small shapes. On MVE the channels-in-lanes path below is faster on every
 * vww and kws layer (vww's 48x48 and 24x24 stride-1 layers included, measured under QEMU),
 * so there the line buffers only run when a build asks for them. */
#ifndef TINYABI_DW_MIN_POSITIONS
#if TINYABI_MVE
#define TINYABI_DW_MIN_POSITIONS 0x7fffffff
#else
#define TINYABI_DW_MIN_POSITIONS 64
#endif
#endif

/* The walk of one call: lines (v) and positions (u), with byte steps along each in the input,
 * the output and the filter. */
typedef struct
{
    int32_t n_v, n_u;   /* output lines, output positions per line */
    int32_t in_v, in_u; /* input lines, input positions per line */
    int32_t s_v, s_u;   /* strides */
    int32_t pad_v, pad_u;
    int32_t in_step_v, in_step_u;
    int32_t out_step_v, out_step_u;
    int32_t w_step_v, w_step_u;
    int32_t line_bytes; /* one buffered line */
} dw_walk;

/* Bytes of one MVE line for n_u positions at stride s_u (0 when the path does not take them):
 * the int8 values four-lane groups read. */
static int32_t dw_line_bytes_mve(int32_t n_u, int32_t s_u, int32_t in_step_u)
{
    const int32_t lanes = (n_u + 3) / 4 * 4;
    if (n_u < 1 || s_u != 1 || 7 * in_step_u > 0xFFFF)
    {
        return 0; /* the offsets of the 16-bit gathers must fit */
    }
    return (lanes + 2 + 15) & ~15;
}

/* Bytes of one DSP line (0 when the path does not take it): the int16 values two-position
 * passes read (a word per tap pair). */
static int32_t dw_line_bytes_dsp(int32_t n_u, int32_t s_u)
{
    const int32_t positions = (n_u + 1) / 2 * 2;
    if (n_u < 1 || s_u != 1)
    {
        return 0;
    }
    return (2 * (positions + 3) + 15) & ~15;
}

/* The walk with positions along the width (transpose 0) or along the height (1). */
static void dw_walk_of(const cmsis_nn_dw_conv_params *p,
                       const cmsis_nn_dims *in,
                       const cmsis_nn_dims *out,
                       int transpose,
                       dw_walk *w)
{
    const int32_t ch = in->c;
    if (!transpose)
    {
        *w = (dw_walk){out->h, out->w, in->h, in->w, p->stride.h, p->stride.w, p->padding.h, p->padding.w,
                       in->w * ch, ch, out->w * ch, ch, 3 * ch, ch, 0};
    }
    else
    {
        *w = (dw_walk){out->w, out->h, in->w, in->h, p->stride.w, p->stride.h, p->padding.w, p->padding.h,
                       ch, in->w * ch, ch, out->w * ch, ch, 3 * ch, 0};
    }
}

/* Whether the line-buffer path takes this call's geometry (before the walk is chosen). */
static int dw_lines_apply(const cmsis_nn_dw_conv_params *p,
                          const cmsis_nn_dims *in,
                          const cmsis_nn_dims *filter,
                          const cmsis_nn_dims *out)
{
    return p->ch_mult == 1 && filter->h == 3 && filter->w == 3 && p->dilation.h == 1 && p->dilation.w == 1 &&
           p->stride.h == 1 && p->stride.w == 1 && p->padding.h >= 0 && p->padding.w >= 0 && in->c == out->c &&
           p->input_offset >= -127 && p->input_offset <= 128 &&
           out->h >= 1 && out->w >= 1;
}

/* Scratch bytes of the line buffers: the largest any core's walk along either axis needs
 * (the same answer on every target, so that a buffer sized on the host fits every core). */
static int32_t dw_lines_buffer_size(const cmsis_nn_dw_conv_params *p,
                                    const cmsis_nn_dims *in,
                                    const cmsis_nn_dims *filter,
                                    const cmsis_nn_dims *out)
{
    int32_t line = 0;
    if (!dw_lines_apply(p, in, filter, out))
    {
        return 0;
    }
    for (int transpose = 0; transpose < 2; transpose++)
    {
        dw_walk w;
        dw_walk_of(p, in, out, transpose, &w);
        line = TINYABI_MAX(line, dw_line_bytes_mve(w.n_u, w.s_u, w.in_step_u));
        line = TINYABI_MAX(line, dw_line_bytes_dsp(w.n_u, w.s_u));
    }
    return DW_SLOTS * line;
}

#if TINYABI_MVE || TINYABI_DSP

/* Bytes of one buffered line of walk w on this core (0 when it does not fit). */
static int32_t dw_line_bytes(const dw_walk *w)
{
#if TINYABI_MVE
    return dw_line_bytes_mve(w->n_u, w->s_u, w->in_step_u);
#else
    return dw_line_bytes_dsp(w->n_u, w->s_u);
#endif
}


#if TINYABI_MVE
typedef int8_t dw_elem;
#else
typedef int16_t dw_elem;
#endif
/* Write entries [lo, hi) of a line of count entries whose entry i is input position
 * first + i * step (of the line at src, positions src_step bytes apart): the entries inside
 * the input. The others are padding, written once per call (the same in every line). */
DW_INLINE void dw_fill(dw_elem *dst,
                       int32_t count,
                       int32_t first,
                       int32_t step,
                       const int8_t *src,
                       int32_t src_step,
                       int32_t in_u,
                       int32_t offset)
{
    int32_t lo = first >= 0 ? 0 : (-first + step - 1) / step;
    int32_t hi = in_u - first <= 0 ? 0 : (in_u - first + step - 1) / step;
    lo = TINYABI_MIN(lo, count);
    hi = TINYABI_MAX(TINYABI_MIN(hi, count), lo);
    const int8_t *x = src + (first + lo * step) * src_step;
#if TINYABI_MVE
    (void)offset;
    const uint16x8_t offsets = vmulq_n_u16(vidupq_n_u16(0, 1), (uint16_t)(step * src_step));
    for (int32_t i = lo; i < hi; i += 8)
    {
        const mve_pred16_t live = vctp16q((uint32_t)(hi - i));
        vstrbq_p_s16(dst + i, vldrbq_gather_offset_z_s16(x, offsets, live), live);
        x += 8 * step * src_step;
    }
#else
    const int32_t x_step = step * src_step;
    for (int32_t i = lo; i < hi; i++)
    {
        dst[i] = (int16_t)(*x + offset);
        x += x_step;
    }
#endif
}

/* Fill the buffered line of the input line at src for walk w. */
DW_INLINE void dw_fill_line(dw_elem *dst, const dw_walk *w, const int8_t *src, int32_t offset)
{
#if TINYABI_MVE
    const int32_t lanes = (w->n_u + 3) / 4 * 4;
    dw_fill(dst, lanes + 2, -w->pad_u, 1, src, w->in_step_u, w->in_u, offset);
#else
    const int32_t positions = (w->n_u + 1) / 2 * 2;
    dw_fill(dst, positions + 3, -w->pad_u, 1, src, w->in_step_u, w->in_u, offset);
#endif
}

/* What one channel's line pass needs besides its rows. */
typedef struct
{
    int32_t w[9];     /* the taps, [v][u] */
    int32_t bias;     /* bias + input offset * sum of the taps (MVE) or the bias (DSP) */
    int32_t mult;
    int32_t shift;
    int32_t out_offset;
    int32_t act_min;
    int32_t act_max;
} dw_channel;

#if TINYABI_MVE
/* Four output positions of one channel from rows r0..r2. */
DW_INLINE int32x4_t dw_pass_mve(const int8_t *r0, const int8_t *r1, const int8_t *r2, const int32_t *w,
                                    int32_t bias)
{
    const int32_t o1 = 1;
    const int32_t o2 = 2;
    int32x4_t acc = vdupq_n_s32(bias);
    acc = vmlaq_n_s32(acc, vldrbq_s32(r0), w[0]);
    acc = vmlaq_n_s32(acc, vldrbq_s32(r0 + o1), w[1]);
    acc = vmlaq_n_s32(acc, vldrbq_s32(r0 + o2), w[2]);
    acc = vmlaq_n_s32(acc, vldrbq_s32(r1), w[3]);
    acc = vmlaq_n_s32(acc, vldrbq_s32(r1 + o1), w[4]);
    acc = vmlaq_n_s32(acc, vldrbq_s32(r1 + o2), w[5]);
    acc = vmlaq_n_s32(acc, vldrbq_s32(r2), w[6]);
    acc = vmlaq_n_s32(acc, vldrbq_s32(r2 + o1), w[7]);
    acc = vmlaq_n_s32(acc, vldrbq_s32(r2 + o2), w[8]);
    return acc;
}

/* tinyabi_requantize_s8 on four lanes of one channel: a left shift (right == 0) or a right
 * shift of at least one (right == 1); VRSHL rounds half up, so negative values move down by
 * one first to round half away from zero. */
DW_INLINE int32x4_t dw_requantize_mve(int32x4_t acc, const dw_channel *k, int32x4_t lo, int32x4_t hi,
                                          const int right)
{
    int32x4_t x;
    if (right)
    {
        x = vqrdmulhq_n_s32(acc, k->mult);
        x = vaddq_s32(x, vshrq_n_s32(x, 31));
        x = vrshlq_n_s32(x, k->shift);
    }
    else
    {
        x = vqrdmulhq_n_s32(vshlq_r_s32(acc, k->shift), k->mult);
    }
    return vminq_s32(vmaxq_s32(vaddq_n_s32(x, k->out_offset), lo), hi);
}

/* One output line of one channel. */
DW_INLINE void dw_line(const dw_elem *r0, const dw_elem *r1, const dw_elem *r2, int8_t *out,
                           const dw_walk *wk, const dw_channel *k, const int right)
{
    const uint32x4_t out_offsets = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)wk->out_step_u);
    const int32x4_t lo = vdupq_n_s32(k->act_min);
    const int32x4_t hi = vdupq_n_s32(k->act_max);
    const int32_t out_step = 4 * wk->out_step_u;
    int32_t left = wk->n_u;
    for (; left >= 4; left -= 4)
    {
        const int32x4_t acc = dw_pass_mve(r0, r1, r2, k->w, k->bias);
        vstrbq_scatter_offset_s32(out, out_offsets, dw_requantize_mve(acc, k, lo, hi, right));
        r0 += 4;
        r1 += 4;
        r2 += 4;
        out += out_step;
    }
    if (left > 0)
    {
        const int32x4_t acc = dw_pass_mve(r0, r1, r2, k->w, k->bias);
        vstrbq_scatter_offset_p_s32(out, out_offsets, dw_requantize_mve(acc, k, lo, hi, right),
                                    vctp32q((uint32_t)left));
    }
}
#else
/* Two 16-bit lanes: lo in the low half. */
static inline uint32_t dw_pack16(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}
#if defined(TINYABI_DSP_NATIVE)
static inline int32_t dw_smlabt(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlabt((int32_t)a, (int32_t)b, acc);
}
static inline int32_t dw_smlatb(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlatb((int32_t)a, (int32_t)b, acc);
}
#else
static inline int32_t dw_smlabt(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(tinyabi_lo16(a) * tinyabi_hi16(b)));
}
static inline int32_t dw_smlatb(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(tinyabi_hi16(a) * tinyabi_lo16(b)));
}
#endif

/* requantize, add the output offset and clamp: a left shift (right == 0) or a right shift of
 * at least one with a non-negative multiplier (right == 1, one 64-bit multiply-accumulate). */
DW_INLINE int8_t dw_requantize_dsp(int32_t acc, const dw_channel *k, int64_t round, const int right)
{
    int32_t v;
    if (right)
    {
        v = tinyabi_requantize_fused(acc, k->mult, round, -k->shift - 1) + k->out_offset;
    }
    else
    {
        v = tinyabi_requantize(acc, k->mult, k->shift) + k->out_offset;
    }
    v = TINYABI_MAX(v, k->act_min);
    v = TINYABI_MIN(v, k->act_max);
    return (int8_t)v;
}

/* One row's taps for two output positions: (x[p], x[p+1]) . (w0, w1) + x[p+2] * w2 and
 * x[p+1] * w0 + (x[p+2], x[p+3]) . (w1, w2), with w01 = (w0, w1), w12 = (w1, w2) as
 * 16-bit lanes. */
DW_INLINE void dw_row_dsp(const int16_t *r, uint32_t w01, uint32_t w12, int32_t *a0, int32_t *a1)
{
    const uint32_t x01 = tinyabi_read_s16x2(r);
    const uint32_t x23 = tinyabi_read_s16x2(r + 2);
    *a0 = tinyabi_smlad(x01, w01, *a0);
    *a0 = dw_smlabt(x23, w12, *a0);
    *a1 = dw_smlatb(x01, w01, *a1);
    *a1 = tinyabi_smlad(x23, w12, *a1);
}

/* One output line of one channel. */
DW_INLINE void dw_line(const dw_elem *r0, const dw_elem *r1, const dw_elem *r2, int8_t *out,
                           const dw_walk *wk, const dw_channel *k, const int right)
{
    const uint32_t w01a = dw_pack16(k->w[0], k->w[1]);
    const uint32_t w12a = dw_pack16(k->w[1], k->w[2]);
    const uint32_t w01b = dw_pack16(k->w[3], k->w[4]);
    const uint32_t w12b = dw_pack16(k->w[4], k->w[5]);
    const uint32_t w01c = dw_pack16(k->w[6], k->w[7]);
    const uint32_t w12c = dw_pack16(k->w[7], k->w[8]);
    const int64_t round = right ? tinyabi_requantize_k(k->shift) : 0;
    const int32_t step = wk->out_step_u;
    for (int32_t p = 0; p < wk->n_u; p += 2)
    {
        int32_t a0 = k->bias;
        int32_t a1 = k->bias;
        dw_row_dsp(r0, w01a, w12a, &a0, &a1);
        dw_row_dsp(r1, w01b, w12b, &a0, &a1);
        dw_row_dsp(r2, w01c, w12c, &a0, &a1);
        out[0] = dw_requantize_dsp(a0, k, round, right);
        if (p + 1 < wk->n_u)
        {
            out[step] = dw_requantize_dsp(a1, k, round, right);
        }
        out += 2 * step;
        r0 += 2;
        r1 += 2;
        r2 += 2;
    }
}
#endif

/* All output lines of one channel (in and out point at the channel's first value). */
DW_INLINE void dw_channel_lines(const dw_walk *wk, const int8_t *in, int8_t *out, const dw_channel *k,
                                    int32_t in_offset, dw_elem *buf, const int right)
{
    const int32_t lb = wk->line_bytes / (int32_t)sizeof(dw_elem);
    const dw_elem *padding = buf + DW_RING * lb;
    dw_elem *ring[DW_RING] = {buf, buf + lb, buf + 2 * lb}; /* lines loaded - 3 .. loaded - 1 */
    int32_t loaded = 0; /* the next input line to buffer */
    for (int32_t ov = 0; ov < wk->n_v; ov++)
    {
        const int32_t first = ov * wk->s_v - wk->pad_v;
        const int32_t end = TINYABI_MIN(first + DW_RING, wk->in_v);
        for (int32_t iv = TINYABI_MAX(loaded, first); iv < end; iv++)
        {
            dw_elem *slot = ring[0];
            ring[0] = ring[1];
            ring[1] = ring[2];
            ring[2] = slot;
            dw_fill_line(slot, wk, in + iv * wk->in_step_v, in_offset);
        }
        loaded = TINYABI_MAX(loaded, end);
        const dw_elem *rows[DW_RING];
        for (int32_t kv = 0; kv < DW_RING; kv++)
        {
            const int32_t iv = first + kv;
            rows[kv] = iv >= 0 && iv < wk->in_v ? ring[iv - loaded + DW_RING] : padding;
        }
        dw_line(rows[0], rows[1], rows[2], out + ov * wk->out_step_v, wk, k, right);
    }
}

/* The 3x3 line-buffer path; 0 when it does not take the call (then nothing is written). */
static int depthwise_3x3_lines(const cmsis_nn_context *ctx,
                               const cmsis_nn_dw_conv_params *p,
                               const cmsis_nn_per_channel_quant_params *q,
                               const cmsis_nn_dims *input_dims,
                               const int8_t *input,
                               const cmsis_nn_dims *filter_dims,
                               const int8_t *filter,
                               const int32_t *bias,
                               const cmsis_nn_dims *output_dims,
                               int8_t *output)
{
    if (ctx == NULL || ctx->buf == NULL || output_dims->h * output_dims->w < TINYABI_DW_MIN_POSITIONS ||
        !dw_lines_apply(p, input_dims, filter_dims, output_dims))
    {
        return 0;
    }
    dw_walk walks[2];
    int32_t best = -1;
    int32_t best_cost = 0;
    for (int transpose = 0; transpose < 2; transpose++)
    {
        dw_walk *w = &walks[transpose];
        dw_walk_of(p, input_dims, output_dims, transpose, w);
        w->line_bytes = dw_line_bytes(w);
        /* Passes plus a per-line cost of about two passes (the fill and the set-up). */
        const int32_t group = TINYABI_MVE ? 4 : 2;
        const int32_t cost = w->n_v * ((w->n_u + group - 1) / group + 2);
        if (w->line_bytes > 0 && DW_SLOTS * w->line_bytes <= ctx->size && (best < 0 || cost < best_cost))
        {
            best = transpose;
            best_cost = cost;
        }
    }
    if (best < 0 || walks[best].n_v * walks[best].n_u < TINYABI_DW_MIN_POSITIONS)
    {
        return 0;
    }
    const dw_walk *wk = &walks[best];
    const int32_t ch = input_dims->c;
    const int32_t in_offset = p->input_offset;
    dw_elem *buf = (dw_elem *)ctx->buf;
    const int32_t lb = wk->line_bytes / (int32_t)sizeof(dw_elem);
    const dw_elem pad = (dw_elem)(TINYABI_MVE ? -in_offset : 0);
    for (int32_t i = 0; i < DW_SLOTS * lb; i++)
    {
        buf[i] = pad; /* the padding line, and every line's padding entries */
    }
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *in = input + (size_t)b * input_dims->h * input_dims->w * ch;
        int8_t *out = output + (size_t)b * output_dims->h * output_dims->w * ch;
        for (int32_t c = 0; c < ch; c++)
        {
            dw_channel k;
            uint32_t sum = 0;
            for (int32_t kv = 0; kv < 3; kv++)
            {
                for (int32_t ku = 0; ku < 3; ku++)
                {
                    k.w[kv * 3 + ku] = filter[kv * wk->w_step_v + ku * wk->w_step_u + c];
                    sum += (uint32_t)k.w[kv * 3 + ku];
                }
            }
            k.bias = bias != NULL ? bias[c] : 0;
#if TINYABI_MVE
            k.bias = (int32_t)((uint32_t)k.bias + sum * (uint32_t)in_offset);
#else
            (void)sum;
#endif
            k.mult = q->multiplier[c];
            k.shift = q->shift[c];
            k.out_offset = p->output_offset;
            k.act_min = p->activation.min;
            k.act_max = p->activation.max;
            /* The right-shift variants need a shift of at least one (and, on DSP cores, a
             * non-negative multiplier); everything else takes the left-shift ones. */
            const int right = k.shift < 0 && (TINYABI_MVE || k.mult >= 0);
            if (right)
            {
                dw_channel_lines(wk, in + c, out + c, &k, in_offset, buf, 1);
            }
            else
            {
                dw_channel_lines(wk, in + c, out + c, &k, in_offset, buf, 0);
            }
        }
    }
    return 1;
}
#else
static int depthwise_3x3_lines(const cmsis_nn_context *ctx,
                               const cmsis_nn_dw_conv_params *p,
                               const cmsis_nn_per_channel_quant_params *q,
                               const cmsis_nn_dims *input_dims,
                               const int8_t *input,
                               const cmsis_nn_dims *filter_dims,
                               const int8_t *filter,
                               const int32_t *bias,
                               const cmsis_nn_dims *output_dims,
                               int8_t *output)
{
    (void)ctx;
    (void)p;
    (void)q;
    (void)input_dims;
    (void)input;
    (void)filter_dims;
    (void)filter;
    (void)bias;
    (void)output_dims;
    (void)output;
    return 0;
}
#endif

#if TINYABI_MVE
/* ------------------------------------------------------------------ channels in lanes (MVE)
 *
 * Depth multiplier 1 on Cortex-M55 (the rule against depthwise_mult1: TINYABI_DW_LANES_COLUMNS):
 * four consecutive channels per s32 vector, channel groups in passes of up to DW_CHUNK groups
 * over the call's output. Per group the set-up is a few loads: the bias with the input offset
 * folded in (bias + input_offset * sum of the valid taps, from per-column sums of the filter),
 * the multipliers and shifts as vectors. The positions whose window lies inside the input run
 * along the longer side of their rectangle four at a time (one weight vector load for the four,
 * widening loads, multiply and add into four accumulators, then requantization of the four
 * with each constant loaded once), in inline assembly with GCC; edge columns and rows run the
 * same way over their valid taps from their own folded bias; corners and (without GCC) the
 * rest visit their valid taps adding the input offset per tap. A channel count that is not a
 * multiple of four ends with one predicated group. */

/* The C loops (without GCC, and for the last predicated group): positions per full-window
 * block and the unrolling of a filter row; more of either makes GCC spill the accumulators. */
#define DW_LANES_BLOCK 2
#define DW_UNROLL 1
/* The rule between this path and the position-outer loops of depthwise_mult1 (which loop over
 * all channel groups per position): this path when the output has at least
 * TINYABI_DW_LANES_COLUMNS columns per unit of horizontal stride. Its set-up is per channel
 * group and per class of positions (interior, edge columns, edge rows), so on narrow outputs
 * of many channels (vww's 6x6 stride-2 and 3x3 layers) the old loops cost less; from 4 columns
 * per stride on it wins (measured under QEMU on Cortex-M55: kws's 25x5 layers in row bands
 * of 4x5, vww's layers of 48 to 3 columns). Tests set it to 0 to run this path on every
 * shape. */
#ifndef TINYABI_DW_LANES_COLUMNS
#define TINYABI_DW_LANES_COLUMNS 4
#endif
#define DW_PRAGMA(x) _Pragma(#x)
#define DW_UNROLL_PRAGMA(n) DW_PRAGMA(GCC unroll n)

/* What the group loops need of one call. */
typedef struct
{
    int32_t in_h, in_w, ch, k_h, k_w, out_h, out_w;
    int32_t s_h, s_w, pad_h, pad_w, dil_h, dil_w;
    int32_t col_step, row_step; /* bytes between horizontal and vertical taps */
    int32_t x_lo, x_hi;         /* output columns whose window is inside the input horizontally */
    int32_t y_lo, y_hi;         /* output rows whose window is inside the input vertically */
    int32_t in_offset, out_offset, act_min, act_max;
} dw_lanes;

/* Requantization of one channel group: tinyabi_requantize_x4 with its per-group parts
 * hoisted. */
typedef struct
{
    int32x4_t mult, left, right, round_down;
} dw_rq4;

DW_INLINE int32x4_t dw_ld4(const int8_t *p, mve_pred16_t live, const int tail)
{
    return tail ? vldrbq_z_s32(p, live) : vldrbq_s32(p);
}

/* acc + x * w (MVE multiplies vectors by vectors only without accumulating). */
DW_INLINE int32x4_t dw_mla4(int32x4_t acc, int32x4_t x, int32x4_t w)
{
    return vaddq_s32(acc, vmulq_s32(x, w));
}

DW_INLINE void dw_out4(int8_t *out, int32x4_t acc, const dw_rq4 *r, const dw_lanes *g, mve_pred16_t live,
                       const int tail)
{
    int32x4_t x = vqrdmulhq_s32(vshlq_s32(acc, r->left), r->mult);
    x = vqaddq_s32(x, vandq_s32(vshrq_n_s32(x, 31), r->round_down));
    x = vaddq_n_s32(vrshlq_s32(x, r->right), g->out_offset);
    x = vminq_s32(vmaxq_s32(x, vdupq_n_s32(g->act_min)), vdupq_n_s32(g->act_max));
    if (tail)
    {
        vstrbq_p_s32(out, x, live);
    }
    else
    {
        vstrbq_s32(out, x);
    }
}

/* n (1, 2 or 4) positions pos_step bytes apart in the input, ch apart in the output, over the
 * full window (x and w at its first tap); k3: a 3x3 filter, unrolled. */
DW_INLINE void dw_lanes_full(const int8_t *x, int32_t pos_step, const int8_t *w, int8_t *out, int32x4_t init,
                             const dw_rq4 *r, const dw_lanes *g, mve_pred16_t live, const int n, const int tail,
                             const int k3)
{
    int32x4_t a0 = init;
    int32x4_t a1 = init;
    int32x4_t a2 = init;
    int32x4_t a3 = init;
    const int32_t k_h = k3 ? 3 : g->k_h;
    const int32_t k_w = k3 ? 3 : g->k_w;
    for (int32_t ky = 0; ky < k_h; ky++)
    {
        const int8_t *xp = x;
        DW_UNROLL_PRAGMA(DW_UNROLL)
        for (int32_t kx = 0; kx < k_w; kx++)
        {
            const int32x4_t wv = dw_ld4(w, live, tail);
            a0 = dw_mla4(a0, dw_ld4(xp, live, tail), wv);
            if (n > 1)
            {
                a1 = dw_mla4(a1, dw_ld4(xp + pos_step, live, tail), wv);
            }
            if (n > 2)
            {
                a2 = dw_mla4(a2, dw_ld4(xp + 2 * pos_step, live, tail), wv);
                a3 = dw_mla4(a3, dw_ld4(xp + 3 * pos_step, live, tail), wv);
            }
            xp += g->col_step;
            w += g->ch;
        }
        x += g->row_step;
    }
    dw_out4(out, a0, r, g, live, tail);
    if (n > 1)
    {
        dw_out4(out + g->ch, a1, r, g, live, tail);
    }
    if (n > 2)
    {
        dw_out4(out + 2 * g->ch, a2, r, g, live, tail);
        dw_out4(out + 3 * g->ch, a3, r, g, live, tail);
    }
}

/* One position whose window is clipped by the padding: taps [ky0, ky1) x [kx0, kx1) (x and w
 * at the first), the input offset added per tap. */
DW_INLINE void dw_lanes_edge(const int8_t *x, const int8_t *w, int32_t rows, int32_t cols, int8_t *out,
                             int32x4_t bias, const dw_rq4 *r, const dw_lanes *g, mve_pred16_t live, const int tail)
{
    int32x4_t acc = bias;
    for (int32_t ky = 0; ky < rows; ky++)
    {
        const int8_t *xp = x;
        const int8_t *wp = w;
        for (int32_t kx = 0; kx < cols; kx++)
        {
            acc = dw_mla4(acc, vaddq_n_s32(dw_ld4(xp, live, tail), g->in_offset), dw_ld4(wp, live, tail));
            xp += g->col_step;
            wp += g->ch;
        }
        x += g->row_step;
        w += g->k_w * g->ch;
    }
    dw_out4(out, acc, r, g, live, tail);
}

/* Output position (oy, ox) at the padding, row taps [ky0, ky1). */
DW_INLINE void dw_lanes_edge_at(const dw_lanes *g, const int8_t *in, const int8_t *filter, int8_t *out, int32_t base_y,
                                int32_t ky0, int32_t ky1, int32_t ox, int32x4_t bias, const dw_rq4 *r,
                                mve_pred16_t live, const int tail)
{
    const int32_t base_x = ox * g->s_w - g->pad_w;
    int32_t kx0;
    int32_t kx1;
    if (g->dil_w == 1)
    {
        kx0 = TINYABI_MAX(0, -base_x);
        kx1 = TINYABI_MAX(TINYABI_MIN(g->k_w, g->in_w - base_x), kx0);
    }
    else
    {
        tinyabi_valid_taps(base_x, g->dil_w, g->k_w, g->in_w, &kx0, &kx1);
    }
    const int8_t *x = in + ((base_y + ky0 * g->dil_h) * g->in_w + base_x + kx0 * g->dil_w) * g->ch;
    const int8_t *w = filter + (ky0 * g->k_w + kx0) * g->ch;
    dw_lanes_edge(x, w, ky1 - ky0, kx1 - kx0, out + ox * g->ch, bias, r, g, live, tail);
}

/* All output positions of the channel group at in, filter, bias, out (already offset by c). */
DW_INLINE void dw_lanes_group(const dw_lanes *g, const int8_t *in, const int8_t *filter, const int32_t *bias,
                              const int32_t *mult, const int32_t *shift, int8_t *out, mve_pred16_t live,
                              const int tail, const int k3)
{
    const int32x4_t zero = vdupq_n_s32(0);
    int32x4_t raw = zero;
    if (bias != NULL)
    {
        raw = tail ? vldrwq_z_s32(bias, live) : vldrwq_s32(bias);
    }
    int32x4_t sum = zero;
    for (int32_t t = 0; t < g->k_h * g->k_w; t++)
    {
        sum = vaddq_s32(sum, dw_ld4(filter + t * g->ch, live, tail));
    }
    const int32x4_t init = vmlaq_n_s32(raw, sum, g->in_offset);
    dw_rq4 r;
    const int32x4_t s = tail ? vldrwq_z_s32(shift, live) : vldrwq_s32(shift);
    r.mult = tail ? vldrwq_z_s32(mult, live) : vldrwq_s32(mult);
    r.left = vmaxq_s32(s, zero);
    r.right = vminq_s32(s, zero);
    r.round_down = vshrq_n_s32(r.right, 31);
    const int32_t pos_step = g->s_w * g->ch;
    for (int32_t oy = 0; oy < g->out_h; oy++)
    {
        const int32_t base_y = oy * g->s_h - g->pad_h;
        int32_t ky0;
        int32_t ky1;
        tinyabi_valid_taps(base_y, g->dil_h, g->k_h, g->in_h, &ky0, &ky1);
        int8_t *o = out + oy * g->out_w * g->ch;
        const int full_rows = ky0 == 0 && ky1 == g->k_h;
        const int32_t lo = full_rows ? g->x_lo : g->out_w;
        int32_t ox = 0;
        for (; ox < lo; ox++)
        {
            dw_lanes_edge_at(g, in, filter, o, base_y, ky0, ky1, ox, raw, &r, live, tail);
        }
        if (full_rows)
        {
            const int8_t *x = in + (base_y * g->in_w + ox * g->s_w - g->pad_w) * g->ch;
            for (; ox + DW_LANES_BLOCK <= g->x_hi; ox += DW_LANES_BLOCK)
            {
                dw_lanes_full(x, pos_step, filter, o + ox * g->ch, init, &r, g, live, DW_LANES_BLOCK, tail, k3);
                x += DW_LANES_BLOCK * pos_step;
            }
            if (DW_LANES_BLOCK > 2 && ox + 2 <= g->x_hi)
            {
                dw_lanes_full(x, pos_step, filter, o + ox * g->ch, init, &r, g, live, 2, tail, k3);
                x += 2 * pos_step;
                ox += 2;
            }
            if (ox < g->x_hi)
            {
                dw_lanes_full(x, pos_step, filter, o + ox * g->ch, init, &r, g, live, 1, tail, k3);
                ox++;
            }
            for (; ox < g->out_w; ox++)
            {
                dw_lanes_edge_at(g, in, filter, o, base_y, ky0, ky1, ox, raw, &r, live, tail);
            }
        }
    }
}

/* With GCC when optimizing (unoptimized builds cannot give the asm its registers). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__)
#define DW_LANES_ASM 1
/* Requantization of n accumulators (tinyabi_requantize_x4's steps; the per-group vectors at
 * kv: left shift, multiplier, rounding mask, right shift, min, max), each pair of constants
 * loaded once for all n, and the stores, os bytes apart. */
#define DW_RQ1(i) "vshl.s32 %q[a" #i "], %q[a" #i "], %q[k0]\n\t"
#define DW_RQ2(i) "vqrdmulh.s32 %q[a" #i "], %q[a" #i "], %q[k1]\n\t"
#define DW_RQ3(i)                                                                                  \
    "vshr.s32 %q[t], %q[a" #i "], #31\n\t"                                                         \
    "vand %q[t], %q[t], %q[k0]\n\t"                                                                \
    "vqadd.s32 %q[a" #i "], %q[a" #i "], %q[t]\n\t"                                                \
    "vrshl.s32 %q[a" #i "], %q[a" #i "], %q[k1]\n\t"                                               \
    "vadd.i32 %q[a" #i "], %q[a" #i "], %[off]\n\t"
#define DW_RQ4(i)                                                                                  \
    "vmax.s32 %q[a" #i "], %q[a" #i "], %q[k0]\n\t"                                                \
    "vmin.s32 %q[a" #i "], %q[a" #i "], %q[k1]\n\t"                                                \
    "vstrb.32 %q[a" #i "], [%[o]]\n\t"                                                             \
    "add %[o], %[o], %[os]\n\t"
#define DW_ALL4(M) M(0) M(1) M(2) M(3)
#define DW_ALL2(M) M(0) M(1)
#define DW_ALL1(M) M(0)
/* Taps of up to four output positions in inline assembly (GCC spills the accumulators of the
 * C version): acc_i += x_i * w per tap, each weight vector loaded once for the positions. One
 * position's tap: load its four channels, step its pointer, multiply, accumulate. The widening
 * loads take low registers only ("l"). */
#define DW_TAP(i, step)                                                                            \
    "vldrb.s32 %q[t], [%[x]]\n\t"                                                                  \
    "add %[x], %[x], %[" step "]\n\t"                                                              \
    "vmul.i32 %q[t], %q[t], %q[u]\n\t"                                                             \
    "vadd.i32 %q[a" #i "], %q[a" #i "], %q[t]\n\t"
#define DW_WEIGHT(step)                                                                            \
    "vldrb.s32 %q[u], [%[w]]\n\t"                                                                  \
    "add %[w], %[w], %[" step "]\n\t"
/* One tap of the n positions: one pointer walks them (ps apart), then steps on to the next
 * tap of the first position (back, or backl after a row's last tap). */
#define DW_TAPS4(back) DW_TAP(0, "ps") DW_TAP(1, "ps") DW_TAP(2, "ps") DW_TAP(3, back)
#define DW_TAPS2(back) DW_TAP(0, "ps") DW_TAP(1, back)
#define DW_TAPS1(back) DW_TAP(0, back)

/* n (1, 2 or 4) positions ps bytes apart in the input (x at the first one's first valid tap),
 * rows x cols taps (rows, cols >= 1): the taps of a row cs bytes apart in the input and ch
 * apart in the filter, the next row xg / wg after the last tap's step; rows of two or three
 * columns are unrolled (the last step includes the gap). Then the n outputs, os bytes apart
 * from o. */
#define DW_LANES_TAPS(n)                                                                           \
    DW_INLINE void dw_block##n(const int8_t *x, int32_t ps, const int8_t *w, int32_t rows, int32_t cols, \
                               int32_t cs, int32_t ch, int32_t xg, int32_t wg, int32x4_t init,        \
                               const int32x4_t *kv, int8_t *o, int32_t os, int32_t off)             \
    {                                                                                              \
        register int32x4_t a0 __asm__("q0") = init;                                                \
        register int32x4_t a1 __asm__("q1") = init;                                                \
        register int32x4_t a2 __asm__("q2") = init;                                                \
        register int32x4_t a3 __asm__("q3") = init;                                                \
        int32x4_t t;                                                                               \
        int32x4_t u;                                                                               \
        const int32_t back = cs - ((n) - 1) * ps;                                                  \
        if (cols == 3 || cols == 2)                                                                \
        {                                                                                          \
            const int32_t backl = back + xg;                                                       \
            const int32_t chl = ch + wg;                                                           \
            if (cols == 3)                                                                         \
            {                                                                                      \
                __asm__("1:\n\t" DW_WEIGHT("ch") DW_TAPS##n("back") DW_WEIGHT("ch") DW_TAPS##n("back") \
                            DW_WEIGHT("chl") DW_TAPS##n("backl") "subs %[rows], %[rows], #1\n\t"   \
                                                                 "bne 1b\n\t"                      \
                        : [a0] "+w"(a0), [a1] "+w"(a1), [a2] "+w"(a2), [a3] "+w"(a3), [t] "=&w"(t),\
                          [u] "=&w"(u), [x] "+l"(x), [w] "+l"(w), [rows] "+r"(rows)                \
                        : [ps] "r"(ps), [back] "r"(back), [backl] "r"(backl), [ch] "r"(ch),        \
                          [chl] "r"(chl)                                                           \
                        : "cc", "memory");                                                         \
            }                                                                                      \
            else                                                                                   \
            {                                                                                      \
                __asm__("1:\n\t" DW_WEIGHT("ch") DW_TAPS##n("back") DW_WEIGHT("chl")               \
                            DW_TAPS##n("backl") "subs %[rows], %[rows], #1\n\t"                    \
                                                "bne 1b\n\t"                                       \
                        : [a0] "+w"(a0), [a1] "+w"(a1), [a2] "+w"(a2), [a3] "+w"(a3), [t] "=&w"(t),\
                          [u] "=&w"(u), [x] "+l"(x), [w] "+l"(w), [rows] "+r"(rows)                \
                        : [ps] "r"(ps), [back] "r"(back), [backl] "r"(backl), [ch] "r"(ch),        \
                          [chl] "r"(chl)                                                           \
                        : "cc", "memory");                                                         \
            }                                                                                      \
        }                                                                                          \
        else                                                                                       \
        {                                                                                          \
            for (int32_t ky = 0; ky < rows; ky++)                                                  \
            {                                                                                      \
                int32_t kc = cols;                                                                 \
                __asm__("2:\n\t" DW_WEIGHT("ch") DW_TAPS##n("back") "subs %[kc], %[kc], #1\n\t"    \
                                                                    "bne 2b\n\t"                   \
                        : [a0] "+w"(a0), [a1] "+w"(a1), [a2] "+w"(a2), [a3] "+w"(a3), [t] "=&w"(t),\
                          [u] "=&w"(u), [x] "+l"(x), [w] "+l"(w), [kc] "+r"(kc)                    \
                        : [ps] "r"(ps), [back] "r"(back), [ch] "r"(ch)                             \
                        : "cc", "memory");                                                         \
                x += xg;                                                                           \
                w += wg;                                                                           \
            }                                                                                      \
        }                                                                                          \
        int32x4_t k0;                                                                              \
        int32x4_t k1;                                                                              \
        __asm__ volatile("vldrw.32 %q[k0], [%[c]]\n\t"                                             \
                         "vldrw.32 %q[k1], [%[c], #16]\n\t" DW_ALL##n(DW_RQ1) DW_ALL##n(DW_RQ2)     \
                         "vldrw.32 %q[k0], [%[c], #32]\n\t"                                        \
                         "vldrw.32 %q[k1], [%[c], #48]\n\t" DW_ALL##n(DW_RQ3)                       \
                         "vldrw.32 %q[k0], [%[c], #64]\n\t"                                        \
                         "vldrw.32 %q[k1], [%[c], #80]\n\t" DW_ALL##n(DW_RQ4)                       \
                         : [a0] "+w"(a0), [a1] "+w"(a1), [a2] "+w"(a2), [a3] "+w"(a3), [k0] "=&w"(k0), \
                           [k1] "=&w"(k1), [t] "=&w"(t), [o] "+l"(o)                               \
                         : [c] "r"(kv), [os] "r"(os), [off] "r"(off)                               \
                         : "memory");                                                              \
    }
DW_LANES_TAPS(4)
DW_LANES_TAPS(2)
DW_LANES_TAPS(1)


/* Channel groups (of four channels) per pass of the assembly path: the geometry, the loops
 * and the block dispatch are shared by the groups of a pass. */
#define DW_CHUNK 4
#define DW_KV 6 /* vectors per group at kv: left, multiplier, rounding mask, right, min, max */

/* n (1 to 4) output positions along a line of the output, for the ng groups of a pass: the
 * first position at x (input, at the first valid tap) and out, the next pos_step / out_step
 * bytes further; the taps rows x cols from w (x_gap / w_gap from the end of a row of taps to
 * the next); group j (4 * j bytes further in input, filter and output) from init[j] with its
 * requantization vectors at kv + DW_KV * j. */
DW_INLINE void dw_run(const dw_lanes *g, const int8_t *x, int32_t pos_step, int8_t *out, int32_t out_step, int32_t n,
                      const int8_t *w, int32_t rows, int32_t cols, int32_t x_gap, int32_t w_gap, const int32x4_t *init,
                      const int32x4_t *kv, int32_t ng)
{
    for (; n >= 4; n -= 4)
    {
        for (int32_t j = 0; j < ng; j++)
        {
            const int32_t c = 4 * j;
            dw_block4(x + c, pos_step, w + c, rows, cols, g->col_step, g->ch, x_gap, w_gap, init[j], kv + DW_KV * j,
                      out + c, out_step, g->out_offset);
        }
        x += 4 * pos_step;
        out += 4 * out_step;
    }
    if (n >= 2)
    {
        for (int32_t j = 0; j < ng; j++)
        {
            const int32_t c = 4 * j;
            dw_block2(x + c, pos_step, w + c, rows, cols, g->col_step, g->ch, x_gap, w_gap, init[j], kv + DW_KV * j,
                      out + c, out_step, g->out_offset);
        }
        x += 2 * pos_step;
        out += 2 * out_step;
        n -= 2;
    }
    if (n > 0)
    {
        for (int32_t j = 0; j < ng; j++)
        {
            const int32_t c = 4 * j;
            dw_block1(x + c, pos_step, w + c, rows, cols, g->col_step, g->ch, x_gap, w_gap, init[j], kv + DW_KV * j,
                      out + c, out_step, g->out_offset);
        }
    }
}

/* init[j] = raw[j] + input_offset * (sum of the filter's taps [ky0, ky1) x [kx0, kx1)) of
 * group j. */
DW_INLINE void dw_fold(const dw_lanes *g, const int8_t *filter, const int32x4_t *raw, int32_t ng, int32_t ky0,
                       int32_t ky1, int32_t kx0, int32_t kx1, int32x4_t *init)
{
    for (int32_t j = 0; j < ng; j++)
    {
        int32x4_t sum = vdupq_n_s32(0);
        for (int32_t ky = ky0; ky < ky1; ky++)
        {
            const int8_t *w = filter + (ky * g->k_w + kx0) * g->ch + 4 * j;
            for (int32_t kx = kx0; kx < kx1; kx++)
            {
                sum = vaddq_s32(sum, vldrbq_s32(w));
                w += g->ch;
            }
        }
        init[j] = vmlaq_n_s32(raw[j], sum, g->in_offset);
    }
}

/* The per-column sums of the filter's taps over its full height (filters up to
 * DW_COLSUM_MAX wide): colsum[DW_COLSUM_MAX * j + kx] for group j. */
#define DW_COLSUM_MAX 3
DW_INLINE void dw_colsums(const dw_lanes *g, const int8_t *filter, int32_t ng, int32x4_t *colsum)
{
    for (int32_t j = 0; j < ng; j++)
    {
        for (int32_t kx = 0; kx < g->k_w; kx++)
        {
            const int8_t *w = filter + kx * g->ch + 4 * j;
            int32x4_t sum = vdupq_n_s32(0);
            for (int32_t ky = 0; ky < g->k_h; ky++)
            {
                sum = vaddq_s32(sum, vldrbq_s32(w));
                w += g->k_w * g->ch;
            }
            colsum[DW_COLSUM_MAX * j + kx] = sum;
        }
    }
}

/* dw_fold over the full height and columns [kx0, kx1), from the column sums when the filter
 * has them. */
DW_INLINE void dw_fold_cols(const dw_lanes *g, const int8_t *filter, const int32x4_t *raw, int32_t ng,
                            const int32x4_t *colsum, int32_t kx0, int32_t kx1, int32x4_t *init)
{
    if (g->k_w > DW_COLSUM_MAX)
    {
        dw_fold(g, filter, raw, ng, 0, g->k_h, kx0, kx1, init);
        return;
    }
    for (int32_t j = 0; j < ng; j++)
    {
        int32x4_t sum = vdupq_n_s32(0);
        for (int32_t kx = kx0; kx < kx1; kx++)
        {
            sum = vaddq_s32(sum, colsum[DW_COLSUM_MAX * j + kx]);
        }
        init[j] = vmlaq_n_s32(raw[j], sum, g->in_offset);
    }
}

/* All output positions of ng (1 to DW_CHUNK) full channel groups (in, filter, bias, out
 * offset by their first channel). The positions whose window lies inside the input form a
 * rectangle, run along its longer side (lines of rows or of columns) up to four at a time from
 * the fully folded bias. Output columns at the left or right padding, over the rows of full
 * windows, run down the column the same way from a bias folded over their valid taps; rows
 * at the top or bottom padding along the row, their corners position by position (the
 * input offset added per tap). */
static void dw_lanes_chunk_asm(const dw_lanes *g, const int8_t *in, const int8_t *filter, const int32_t *bias,
                               const int32_t *mult, const int32_t *shift, int8_t *out, int32_t ng)
{
    const int32x4_t zero = vdupq_n_s32(0);
    int32x4_t raw[DW_CHUNK];
    int32x4_t kv[DW_CHUNK * DW_KV];
    int32x4_t init[DW_CHUNK];
    for (int32_t j = 0; j < ng; j++)
    {
        raw[j] = bias != NULL ? vldrwq_s32(bias + 4 * j) : zero;
        const int32x4_t s = vldrwq_s32(shift + 4 * j);
        int32x4_t *k = kv + DW_KV * j;
        k[0] = vmaxq_s32(s, zero);
        k[1] = vldrwq_s32(mult + 4 * j);
        k[3] = vminq_s32(s, zero);
        k[2] = vshrq_n_s32(k[3], 31);
        k[4] = vdupq_n_s32(g->act_min);
        k[5] = vdupq_n_s32(g->act_max);
    }
    const int32_t ch = g->ch;
    const int32_t x_gap = g->row_step - g->k_w * g->col_step;
    const int32_t step_x = g->s_w * ch;           /* input, one output column on */
    const int32_t step_y = g->s_h * g->in_w * ch; /* input, one output row on */
    const int32_t out_row = g->out_w * ch;
    const int32_t rows = g->y_hi - g->y_lo; /* output rows of full windows vertically */
    const int32_t cols = g->x_hi - g->x_lo;
    int32x4_t colsum[DW_CHUNK * DW_COLSUM_MAX];
    if (rows > 0 && g->k_w <= DW_COLSUM_MAX)
    {
        dw_colsums(g, filter, ng, colsum);
    }
    if (rows > 0 && cols > 0)
    {
        dw_fold_cols(g, filter, raw, ng, colsum, 0, g->k_w, init);
        const int8_t *x = in + ((g->y_lo * g->s_h - g->pad_h) * g->in_w + g->x_lo * g->s_w - g->pad_w) * ch;
        int8_t *o = out + g->y_lo * out_row + g->x_lo * ch;
        if (rows > cols)
        {
            for (int32_t i = 0; i < cols; i++)
            {
                dw_run(g, x + i * step_x, step_y, o + i * ch, out_row, rows, filter, g->k_h, g->k_w, x_gap, 0, init,
                       kv, ng);
            }
        }
        else
        {
            for (int32_t i = 0; i < rows; i++)
            {
                dw_run(g, x + i * step_y, step_x, o + i * out_row, ch, cols, filter, g->k_h, g->k_w, x_gap, 0, init,
                       kv, ng);
            }
        }
    }
    for (int32_t ox = 0; ox < g->out_w && rows > 0; ox = ox + 1 == g->x_lo ? TINYABI_MAX(g->x_hi, ox + 1) : ox + 1)
    {
        if (ox >= g->x_lo && ox < g->x_hi)
        {
            continue;
        }
        const int32_t base_x = ox * g->s_w - g->pad_w;
        int32_t kx0;
        int32_t kx1;
        tinyabi_valid_taps(base_x, g->dil_w, g->k_w, g->in_w, &kx0, &kx1);
        dw_fold_cols(g, filter, raw, ng, colsum, kx0, kx1, init);
        const int32_t n_x = kx1 - kx0;
        const int8_t *x = in + ((g->y_lo * g->s_h - g->pad_h) * g->in_w + base_x + kx0 * g->dil_w) * ch;
        dw_run(g, x, step_y, out + g->y_lo * out_row + ox * ch, out_row, rows, filter + kx0 * ch, n_x > 0 ? g->k_h : 0,
               n_x, g->row_step - n_x * g->col_step, (g->k_w - n_x) * ch, init, kv, ng);
    }
    const mve_pred16_t all = vctp32q(4);
    for (int32_t oy = 0; oy < g->out_h; oy = oy + 1 == g->y_lo ? TINYABI_MAX(g->y_hi, oy + 1) : oy + 1)
    {
        if (oy >= g->y_lo && oy < g->y_hi)
        {
            continue;
        }
        const int32_t base_y = oy * g->s_h - g->pad_h;
        int32_t ky0;
        int32_t ky1;
        tinyabi_valid_taps(base_y, g->dil_h, g->k_h, g->in_h, &ky0, &ky1);
        const int32_t n_y = ky1 - ky0;
        for (int32_t ox = 0; ox < g->out_w; ox = ox + 1 == g->x_lo && n_y > 0 ? TINYABI_MAX(g->x_hi, ox + 1) : ox + 1)
        {
            for (int32_t j = 0; j < ng; j++)
            {
                const int32x4_t *k = kv + DW_KV * j;
                const dw_rq4 r = {k[1], k[0], k[3], k[2]};
                dw_lanes_edge_at(g, in + 4 * j, filter + 4 * j, out + oy * out_row + 4 * j, base_y, ky0, ky1, ox,
                                 raw[j], &r, all, 0);
            }
        }
        if (cols > 0 && n_y > 0)
        {
            dw_fold(g, filter, raw, ng, ky0, ky1, 0, g->k_w, init);
            const int8_t *x = in + ((base_y + ky0 * g->dil_h) * g->in_w + g->x_lo * g->s_w - g->pad_w) * ch;
            dw_run(g, x, step_x, out + oy * out_row + g->x_lo * ch, ch, cols, filter + ky0 * g->k_w * ch, n_y, g->k_w,
                   x_gap, 0, init, kv, ng);
        }
    }
}
#else
#define DW_LANES_ASM 0
#endif

/* The channels-in-lanes path (depth multiplier 1). */
static void depthwise_lanes(const cmsis_nn_dw_conv_params *p,
                            const cmsis_nn_per_channel_quant_params *q,
                            const cmsis_nn_dims *input_dims,
                            const int8_t *input,
                            const cmsis_nn_dims *filter_dims,
                            const int8_t *filter,
                            const int32_t *bias,
                            const cmsis_nn_dims *output_dims,
                            int8_t *output)
{
    dw_lanes g;
    g.in_h = input_dims->h;
    g.in_w = input_dims->w;
    g.ch = input_dims->c;
    g.k_h = filter_dims->h;
    g.k_w = filter_dims->w;
    g.out_h = output_dims->h;
    g.out_w = output_dims->w;
    g.s_h = p->stride.h;
    g.s_w = p->stride.w;
    g.pad_h = p->padding.h;
    g.pad_w = p->padding.w;
    g.dil_h = p->dilation.h;
    g.dil_w = p->dilation.w;
    g.col_step = g.dil_w * g.ch;
    g.row_step = g.dil_h * g.in_w * g.ch;
    g.in_offset = p->input_offset;
    g.out_offset = p->output_offset;
    g.act_min = p->activation.min;
    g.act_max = p->activation.max;
    /* Columns ox with ox * s_w - pad_w >= 0 and ox * s_w - pad_w + (k_w - 1) * dil_w < in_w. */
    const int32_t last = g.in_w - 1 - (g.k_w - 1) * g.dil_w + g.pad_w; /* largest ox * s_w */
    g.x_lo = TINYABI_MIN(TINYABI_MAX(0, (g.pad_w + g.s_w - 1) / g.s_w), g.out_w);
    g.x_hi = last < 0 ? 0 : TINYABI_MIN(last / g.s_w + 1, g.out_w);
    g.x_hi = TINYABI_MAX(g.x_hi, g.x_lo);
    const int32_t last_y = g.in_h - 1 - (g.k_h - 1) * g.dil_h + g.pad_h;
    g.y_lo = TINYABI_MIN(TINYABI_MAX(0, (g.pad_h + g.s_h - 1) / g.s_h), g.out_h);
    g.y_hi = last_y < 0 ? 0 : TINYABI_MIN(last_y / g.s_h + 1, g.out_h);
    g.y_hi = TINYABI_MAX(g.y_hi, g.y_lo);
    const int k3 = g.k_h == 3 && g.k_w == 3;
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *in = input + (size_t)b * g.in_h * g.in_w * g.ch;
        int8_t *out = output + (size_t)b * g.out_h * g.out_w * g.ch;
        int32_t c = 0;
        const mve_pred16_t all = vctp32q(4);
#if DW_LANES_ASM
        for (; c + 4 <= g.ch; c += 4 * DW_CHUNK)
        {
            const int32_t ng = TINYABI_MIN(DW_CHUNK, (g.ch - c) / 4);
            dw_lanes_chunk_asm(&g, in + c, filter + c, bias != NULL ? bias + c : NULL, q->multiplier + c, q->shift + c,
                               out + c, ng);
            if (ng < DW_CHUNK)
            {
                c += 4 * ng;
                break;
            }
        }
#endif
        for (; c + 4 <= g.ch; c += 4)
        {
            const int32_t *bc = bias != NULL ? bias + c : NULL;
            if (k3)
            {
                dw_lanes_group(&g, in + c, filter + c, bc, q->multiplier + c, q->shift + c, out + c, all, 0, 1);
            }
            else
            {
                dw_lanes_group(&g, in + c, filter + c, bc, q->multiplier + c, q->shift + c, out + c, all, 0, 0);
            }
        }
        if (c < g.ch)
        {
            dw_lanes_group(&g, in + c, filter + c, bias != NULL ? bias + c : NULL, q->multiplier + c, q->shift + c,
                           out + c, vctp32q((uint32_t)(g.ch - c)), 1, 0);
        }
    }
}
#endif

#if TINYABI_DSP && !TINYABI_MVE
/* ------------------------------------------------------------------ 3x3, groups of four channels
 *
 * Depth multiplier 1, 3x3 filters, on cores with the DSP extension but no MVE: one group of four
 * channels at a time over every position of the call, so that what depends only on the channels
 * is prepared once per call and group instead of once per position: the nine taps' weights
 * sign-extended into 16-bit lane pairs (channels 0/2 and 1/3, one LDRD per tap), the biases, and
 * the requantization constants (one 64-bit multiply-accumulate per value when the shift is to
 * the right and the multiplier non-negative, as TFLite's are). Positions whose window lies
 * inside the input take all nine taps unrolled (in assembly with GCC), the others their valid
 * taps. Calls with few positions (vww's 6-position row bands) keep the per-position loops of
 * depthwise_mult1, where the set-up is not repaid (measured under QEMU on kws and vww). */

/* Positions per call from which the groups path runs (tests set 1 to check it everywhere). */
#ifndef TINYABI_DW_GROUP_POSITIONS
#define TINYABI_DW_GROUP_POSITIONS 8
#endif

/* One group's weights and requantization. */
typedef struct
{
    uint32_t w[9][2];  /* per tap: channels (0, 2) and (1, 3) as 16-bit lanes */
    int32_t bias[4];
    int32_t mult[4];
    int32_t right_m1[4]; /* fused: the right shift minus one */
    int64_t k[4];        /* fused: tinyabi_requantize_k of the shift */
    int32_t shift[4];
    int fused;           /* every channel takes tinyabi_requantize_fused */
} dw_group;

/* One tap of the group: x the input at the tap (channel 0), w its two weight words. */
DW_INLINE void dw_group_tap(const int8_t *x, const uint32_t *w, uint32_t offset2, int32_t a[4])
{
    const uint32_t xv = tinyabi_read_s8x4(x);
    const uint32_t x02 = tinyabi_sxtab16(offset2, xv);
    const uint32_t x13 = tinyabi_sxtab16_ror8(offset2, xv);
    a[0] = tinyabi_smlabb(x02, w[0], a[0]);
    a[2] = tinyabi_smlatt(x02, w[0], a[2]);
    a[1] = tinyabi_smlabb(x13, w[1], a[1]);
    a[3] = tinyabi_smlatt(x13, w[1], a[3]);
}

#if TINYABI_ASM_3X3
#define DW_GROUP_TAP_ASM(xa)                                                                       \
    "ldr %[t0], " xa "\n\t"                                                                        \
    "ldrd %[t2], %[t3], [%[wp]], #8\n\t"                                                           \
    "sxtab16 %[t1], %[o2], %[t0]\n\t"                                                              \
    "sxtab16 %[t0], %[o2], %[t0], ror #8\n\t"                                                      \
    "smlabb %[a0], %[t1], %[t2], %[a0]\n\t"                                                        \
    "smlatt %[a2], %[t1], %[t2], %[a2]\n\t"                                                        \
    "smlabb %[a1], %[t0], %[t3], %[a1]\n\t"                                                        \
    "smlatt %[a3], %[t0], %[t3], %[a3]\n\t"
#define DW_GROUP_ROW_ASM                                                                           \
    DW_GROUP_TAP_ASM("[%[xp]]")                                                                    \
    DW_GROUP_TAP_ASM("[%[xp], %[col]]")                                                            \
    "add %[xp], %[xp], %[col], lsl #1\n\t"                                                         \
    DW_GROUP_TAP_ASM("[%[xp]]")                                                                    \
    "add %[xp], %[xp], %[gap]\n\t"
#endif

/* All nine taps of a full window for the group (x at the window's first tap of channel 0). */
DW_INLINE void dw_group_full(const int8_t *x, const dw_group *g, int32_t col, int32_t row_gap,
                           uint32_t offset2, int32_t a[4])
{
#if TINYABI_ASM_3X3
    int32_t a0 = a[0];
    int32_t a1 = a[1];
    int32_t a2 = a[2];
    int32_t a3 = a[3];
    const uint32_t *wp = &g->w[0][0];
    uint32_t t0;
    uint32_t t1;
    uint32_t t2;
    uint32_t t3;
    __asm__(DW_GROUP_ROW_ASM DW_GROUP_ROW_ASM DW_GROUP_ROW_ASM
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xp] "+r"(x), [wp] "+r"(wp),
              [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3)
            : [col] "r"(col), [gap] "r"(row_gap), [o2] "r"(offset2)
            : "memory");
    a[0] = a0;
    a[1] = a1;
    a[2] = a2;
    a[3] = a3;
#else
    for (int32_t t = 0; t < 9; t++)
    {
        dw_group_tap(x + (t / 3) * (2 * col + row_gap) + (t % 3) * col, g->w[t], offset2, a);
    }
#endif
}

/* One requantized value: fused (one 64-bit multiply-accumulate, full int8 range) or any. */
DW_INLINE int8_t dw_group_value(const dw_group *g, int i, int32_t acc, int32_t out_offset, int32_t act_min,
                                int32_t act_max, const int fast)
{
    if (fast)
    {
        return tinyabi_sat_s8(tinyabi_requantize_fused(acc, g->mult[i], g->k[i], g->right_m1[i]) + out_offset);
    }
    const int32_t v = tinyabi_requantize(acc, g->mult[i], g->shift[i]) + out_offset;
    return (int8_t)TINYABI_MIN(TINYABI_MAX(v, act_min), act_max);
}

/* The group's four requantized values at out. */
DW_INLINE void dw_group_store(const dw_group *g, const int32_t a[4], int8_t *out, int32_t out_offset,
                              int32_t act_min, int32_t act_max, const int fast)
{
    out[0] = dw_group_value(g, 0, a[0], out_offset, act_min, act_max, fast);
    out[1] = dw_group_value(g, 1, a[1], out_offset, act_min, act_max, fast);
    out[2] = dw_group_value(g, 2, a[2], out_offset, act_min, act_max, fast);
    out[3] = dw_group_value(g, 3, a[3], out_offset, act_min, act_max, fast);
}

/* The groups path (depth multiplier 1, at least TINYABI_DW_GROUP_POSITIONS positions: the
 * caller checks); 0 when it does not take the call (then nothing is written). */
static int depthwise_groups(const cmsis_nn_dw_conv_params *p,
                            const cmsis_nn_per_channel_quant_params *q,
                            const cmsis_nn_dims *input_dims,
                            const int8_t *input,
                            const cmsis_nn_dims *filter_dims,
                            const int8_t *filter,
                            const int32_t *bias,
                            const cmsis_nn_dims *output_dims,
                            int8_t *output)
{
    const int32_t ch = input_dims->c;
    if (filter_dims->h != 3 || filter_dims->w != 3 || ch % 4 != 0)
    {
        return 0;
    }
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t dil_h = p->dilation.h;
    const int32_t dil_w = p->dilation.w;
    const int32_t row_step = dil_h * in_w * ch;
    const int32_t col_step = dil_w * ch;
    const int32_t out_offset = p->output_offset;
    const int32_t act_min = p->activation.min;
    const int32_t act_max = p->activation.max;
    const int full_range = tinyabi_full_range(act_min, act_max);
    const uint32_t offset2 = tinyabi_dup16(p->input_offset);
    dw_group g;
    for (int32_t b = 0; b < input_dims->n; b++)
    {
        const int8_t *in_batch = input + (size_t)b * in_h * in_w * ch;
        int8_t *out_batch = output + (size_t)b * out_h * out_w * ch;
        for (int32_t c = 0; c < ch; c += 4)
        {
            g.fused = 1;
            for (int32_t t = 0; t < 9; t++)
            {
                const uint32_t wv = tinyabi_read_s8x4(filter + t * ch + c);
                g.w[t][0] = tinyabi_sxtb16(wv);
                g.w[t][1] = tinyabi_sxtb16_ror8(wv);
            }
            for (int i = 0; i < 4; i++)
            {
                g.bias[i] = bias != NULL ? bias[c + i] : 0;
                g.mult[i] = q->multiplier[c + i];
                g.shift[i] = q->shift[c + i];
                g.fused &= g.shift[i] < 0 && g.mult[i] >= 0;
                g.right_m1[i] = -g.shift[i] - 1;
                g.k[i] = g.shift[i] < 0 ? tinyabi_requantize_k(g.shift[i]) : 0;
            }
            const int fast = g.fused && full_range;
            int8_t *out = out_batch + c;
            for (int32_t oy = 0; oy < out_h; oy++)
            {
                const int32_t base_y = oy * p->stride.h - p->padding.h;
                int32_t ky0;
                int32_t ky1;
                tinyabi_valid_taps(base_y, dil_h, 3, in_h, &ky0, &ky1);
                for (int32_t ox = 0; ox < out_w; ox++)
                {
                    const int32_t base_x = ox * p->stride.w - p->padding.w;
                    int32_t kx0;
                    int32_t kx1;
                    tinyabi_valid_taps(base_x, dil_w, 3, in_w, &kx0, &kx1);
                    const int8_t *x_first =
                        in_batch + ((size_t)(base_y + ky0 * dil_h) * in_w + (base_x + kx0 * dil_w)) * ch + c;
                    int32_t a[4] = {g.bias[0], g.bias[1], g.bias[2], g.bias[3]};
                    if (ky1 - ky0 == 3 && kx1 - kx0 == 3 && dil_w == 1)
                    {
                        dw_group_full(x_first, &g, ch, row_step - 2 * ch, offset2, a);
                    }
                    else
                    {
                        /* Rows of two or three taps (the edges of a 3x3 window) unrolled. */
                        const int32_t taps_x = kx1 - kx0;
                        const int8_t *x_row = x_first;
                        const uint32_t *w_row = g.w[ky0 * 3 + kx0];
                        for (int32_t ky = ky0; ky < ky1; ky++)
                        {
                            if (taps_x == 2)
                            {
                                dw_group_tap(x_row, w_row, offset2, a);
                                dw_group_tap(x_row + col_step, w_row + 2, offset2, a);
                            }
                            else if (taps_x == 3)
                            {
                                dw_group_tap(x_row, w_row, offset2, a);
                                dw_group_tap(x_row + col_step, w_row + 2, offset2, a);
                                dw_group_tap(x_row + 2 * col_step, w_row + 4, offset2, a);
                            }
                            else
                            {
                                for (int32_t t = 0; t < taps_x; t++)
                                {
                                    dw_group_tap(x_row + t * col_step, w_row + 2 * t, offset2, a);
                                }
                            }
                            x_row += row_step;
                            w_row += 6;
                        }
                    }
                    if (fast)
                    {
                        dw_group_store(&g, a, out, out_offset, act_min, act_max, 1);
                    }
                    else
                    {
                        dw_group_store(&g, a, out, out_offset, act_min, act_max, 0);
                    }
                    out += ch;
                }
            }
        }
    }
    return 1;
}
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
#if TINYABI_MVE
    if (output_dims->w >= TINYABI_DW_LANES_COLUMNS * p->stride.w)
    {
        depthwise_lanes(p, q, input_dims, input, filter_dims, filter, bias, output_dims, output);
        return;
    }
#endif
#if TINYABI_DSP && !TINYABI_MVE
    if (out_h * out_w >= TINYABI_DW_GROUP_POSITIONS &&
        depthwise_groups(p, q, input_dims, input, filter_dims, filter, bias, output_dims, output))
    {
        return;
    }
#endif
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
    (void)bias_dims;
    if (dw_conv_params->ch_mult < 1 || output_dims->c != input_dims->c * dw_conv_params->ch_mult)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    if (depthwise_3x3_lines(ctx, dw_conv_params, quant_params, input_dims, input_data, filter_dims, filter_data,
                            bias_data, output_dims, output_data))
    {
        return ARM_CMSIS_NN_SUCCESS;
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
    (void)bias_dims;
    if (input_dims->c != output_dims->c || filter_dims->w != 3 || filter_dims->h != 3 ||
        dw_conv_params->padding.w > 1)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    if (!depthwise_3x3_lines(ctx, dw_conv_params, quant_params, input_dims, input_data, filter_dims, filter_data,
                             bias_data, output_dims, output_data))
    {
        depthwise_mult1(dw_conv_params, quant_params, input_dims, input_data, filter_dims, filter_data, bias_data,
                        output_dims, output_data);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

int32_t arm_depthwise_conv_wrapper_s8_get_buffer_size(const cmsis_nn_dw_conv_params *dw_conv_params,
                                                      const cmsis_nn_dims *input_dims,
                                                      const cmsis_nn_dims *filter_dims,
                                                      const cmsis_nn_dims *output_dims)
{
    return dw_lines_buffer_size(dw_conv_params, input_dims, filter_dims, output_dims);
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

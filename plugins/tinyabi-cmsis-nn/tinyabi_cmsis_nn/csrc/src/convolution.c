/*
 * tinyabi portable CMSIS-NN subset: int8 convolution.
 *
 * tinyabi's own implementation of the public CMSIS-NN convolution API (not Arm's code).
 * acc[oc] = bias[oc] + sum_taps (x + input_offset) * w[oc]; then the per-channel
 * requantization, + output_offset, clamp. Padding taps contribute nothing (they stand for
 * the input zero point).
 *
 * Without MVE (plain C, or SMLAD on cores with the DSP extension): arm_convolve_s8 gathers
 * the receptive fields of two output pixels (per group) into int16 patches with the input
 * offset already added (zeros for padding) and dots each pair of filters with both (2 x 2
 * accumulators); arm_convolve_1x1_s8_fast takes pairs of output channels outer, pairs of
 * pixels inner, with the input offset folded into a per-channel constant (input_offset *
 * sum(w) + bias) so that the inner loop is pure int8 multiply-accumulate (with GCC on a DSP
 * core an assembly loop of 16 columns per pass: GCC's own allocation spills in it). When the
 * activation range is all of int8 the clamp is one SSAT, and 1x1 layers with right shifts and
 * non-negative multipliers requantize with one 64-bit multiply-accumulate
 * (tinyabi_requantize_fused). Window rows inside the input are gathered as contiguous runs.
 *
 * With MVE both are one int8 GEMM: the patches stay int8 (padding holds the input zero
 * point) and the kernel sums carry the input offset (computed once per call, in the buffer
 * for arm_convolve_s8); 4 output channels x 2 pixels per pass as two 2 x 2 blocks of 16-lane
 * VMLADAV (whole vectors unpredicated, the tail as one predicated block; with GCC in
 * assembly), the 4 channels of a pixel requantized as one vector (VQRDMULH, rounding shifts)
 * and stored as 4 contiguous bytes.
 */
#include <stddef.h>

#include "tinyabi_nn_support.h"

/* The DSP 2 x 2 dot-product loops are written in assembly for GCC (13 registers, so that they
 * also build with a frame pointer). */
#if defined(TINYABI_DSP_NATIVE) && defined(__GNUC__) && !defined(__clang__)
#define TINYABI_ASM_2X2 1
#else
#define TINYABI_ASM_2X2 0
#endif

/* ------------------------------------------------------------------ helpers */

static inline int32_t sum_s8(const int8_t *w, int32_t n)
{
    int32_t s = 0;
    int32_t i = 0;
#if defined(TINYABI_DSP_NATIVE) && defined(__ARM_FEATURE_SIMD32)
    /* Four bytes per USADA8: x ^ 0x80 read as unsigned is x + 128. */
    uint32_t u = 0;
    for (; i + 4 <= n; i += 4)
    {
        u = __usada8(tinyabi_read_s8x4(w + i) ^ 0x80808080u, 0u, u);
    }
    s = (int32_t)u - 128 * i;
#endif
    for (; i < n; i++)
    {
        s += w[i];
    }
    return s;
}

/* v clamped to [lo, hi] (a range inside int8) as int8. */
static inline int8_t clamp_s8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)TINYABI_MIN(TINYABI_MAX(v, lo), hi);
}

#if !TINYABI_MVE
/* The requantization with the output offset folded in (TFLite's two roundings, as
 * tinyabi_requantize_fused, for a shift -e with 1 <= e <= 21, a multiplier >= 0 and
 * |value| < 2^30): one SMMLAR of 2 * value, then a shift by e,
 *   floor((2 value m + 2^31 + 2^32 (k + (value >> 31))) / 2^32) >> e,
 *   k = 2^(e-1) + output_offset * 2^e
 * (twice tinyabi_requantize_fused's numerator, so that its 2^30 rounding term becomes
 * SMMLAR's own 2^31 and its sign correction a whole unit of the high word). The high word
 * stays below 2^31 in magnitude for these e. */
static inline int folds(int32_t base, int64_t dot_bound, int32_t mult, int32_t shift, int32_t out_offset)
{
    const int64_t bound = (base < 0 ? -(int64_t)base : (int64_t)base) + dot_bound;
    return shift <= -1 && shift >= -21 && mult >= 0 && bound < ((int64_t)1 << 30) && out_offset >= -255 &&
           out_offset <= 255;
}

/* k of a folding channel (2 * output_offset + 1 times 2^(e-1)). */
static inline int32_t folded_k(int32_t shift, int32_t out_offset)
{
    return (2 * out_offset + 1) * ((int32_t)1 << (-shift - 1));
}

/* (acc * 2^32 + a * b + 2^31) >> 32, the instruction on a DSP core. */
static inline int32_t smmlar(int32_t a, int32_t b, int32_t acc)
{
#if defined(TINYABI_DSP_NATIVE) && defined(__GNUC__)
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
#else
    return (int32_t)(((int64_t)acc * ((int64_t)1 << 32) + (int64_t)a * b + ((int64_t)1 << 31)) >> 32);
#endif
}

/* A folding channel's requantized value, saturated to int8 (k = folded_k, e = -shift). */
static inline int8_t requantize_folded(int32_t v, int32_t k, int32_t mult, int32_t e)
{
    return tinyabi_sat_s8(smmlar(2 * v, mult, k + (v >> 31)) >> e);
}

/* One int16 patch column dotted with one int8 filter. In the DSP (not MVE) build the first
 * n & ~3 patch values are stored in groups of four as x0 x2 x1 x3 (see gather_patch). */
static inline int32_t dot_patch(const int16_t *a, const int8_t *w, int32_t n)
{
    int32_t acc = 0;
    int32_t i = 0;
#if TINYABI_DSP
    for (; i + 4 <= n; i += 4)
    {
        const uint32_t k = tinyabi_read_s8x4(w + i);
        acc = tinyabi_smlad(tinyabi_sxtb16(k), tinyabi_read_s16x2(a + i), acc);
        acc = tinyabi_smlad(tinyabi_sxtb16_ror8(k), tinyabi_read_s16x2(a + i + 2), acc);
    }
#endif
    for (; i < n; i++)
    {
        acc += a[i] * w[i];
    }
    return acc;
}

#if TINYABI_ASM_2X2
/* Four int16 of each patch (the second `pb` bytes after the first) times four int8 of each
 * filter (the second `n` bytes after the first) into the 2 x 2 accumulators. */
#define TINYABI_ASM_PATCH_STEP4                                                                    \
    "ldr %[t0], [%[wp], %[n]]\n\t"                                                                 \
    "ldr %[t2], [%[wp]], #4\n\t"                                                                   \
    "sxtb16 %[t1], %[t0]\n\t"                                                                      \
    "sxtb16 %[t0], %[t0], ror #8\n\t"                                                              \
    "sxtb16 %[t3], %[t2]\n\t"                                                                      \
    "sxtb16 %[t2], %[t2], ror #8\n\t"                                                              \
    "ldr %[t4], [%[pa], %[pb]]\n\t"                                                                \
    "smlad %[b0], %[t3], %[t4], %[b0]\n\t"                                                         \
    "smlad %[b1], %[t1], %[t4], %[b1]\n\t"                                                         \
    "ldr %[t4], [%[pa]], #4\n\t"                                                                   \
    "smlad %[a0], %[t3], %[t4], %[a0]\n\t"                                                         \
    "smlad %[a1], %[t1], %[t4], %[a1]\n\t"                                                         \
    "ldr %[t4], [%[pa], %[pb]]\n\t"                                                                \
    "smlad %[b0], %[t2], %[t4], %[b0]\n\t"                                                         \
    "smlad %[b1], %[t0], %[t4], %[b1]\n\t"                                                         \
    "ldr %[t4], [%[pa]], #4\n\t"                                                                   \
    "smlad %[a0], %[t2], %[t4], %[a0]\n\t"                                                         \
    "smlad %[a1], %[t0], %[t4], %[a1]\n\t"
#endif

/* Two patch columns (a, and b = a + n) times two filters (w0, and w1 = w0 + n):
 * acc = {a.w0, a.w1, b.w0, b.w1}. */
static inline void dot_patch_2x2(const int16_t *a, const int8_t *w0, int32_t n, int32_t *acc)
{
    const int16_t *b = a + n;
    const int8_t *w1 = w0 + n;
    int32_t a0 = acc[0];
    int32_t a1 = acc[1];
    int32_t b0 = acc[2];
    int32_t b1 = acc[3];
    int32_t i = 0;
    /* (Without optimization GCC cannot give this loop its 13 registers: the C loop below.) */
#if TINYABI_ASM_2X2 && defined(__OPTIMIZE__)
    {
        /* In assembly (GCC spills inside the loop otherwise), eight columns per pass: one
         * patch pointer, the second patch and the second filter at fixed offsets from it and
         * from the filter. */
        const int16_t *pa = a;
        const int8_t *wp = w0;
        const int16_t *end = a + (n & ~7);
        const int32_t patch_bytes = 2 * n;
        uint32_t t0;
        uint32_t t1;
        uint32_t t2;
        uint32_t t3;
        uint32_t t4;
#define TINYABI_ASM_PATCH_OPERANDS                                                                 \
    [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [pa] "+r"(pa), [wp] "+r"(wp),      \
        [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [t4] "=&r"(t4)
        if (pa != end)
        {
            __asm__ volatile("1:\n\t" TINYABI_ASM_PATCH_STEP4 TINYABI_ASM_PATCH_STEP4 "ldr %[t4], %[end]\n\t"
                                                                                     "cmp %[pa], %[t4]\n\t"
                                                                                     "bne 1b"
                             : TINYABI_ASM_PATCH_OPERANDS
                             : [n] "r"(n), [pb] "r"(patch_bytes), [end] "m"(end)
                             : "cc", "memory");
        }
        if (n & 4)
        {
            __asm__ volatile(TINYABI_ASM_PATCH_STEP4
                             : TINYABI_ASM_PATCH_OPERANDS
                             : [n] "r"(n), [pb] "r"(patch_bytes)
                             : "memory");
        }
#undef TINYABI_ASM_PATCH_OPERANDS
        i = n & ~3;
    }
#elif TINYABI_DSP
    for (; i + 4 <= n; i += 4)
    {
        const uint32_t k0 = tinyabi_read_s8x4(w0 + i);
        const uint32_t k1 = tinyabi_read_s8x4(w1 + i);
        const uint32_t k0_02 = tinyabi_sxtb16(k0);
        const uint32_t k0_13 = tinyabi_sxtb16_ror8(k0);
        const uint32_t k1_02 = tinyabi_sxtb16(k1);
        const uint32_t k1_13 = tinyabi_sxtb16_ror8(k1);
        const uint32_t a02 = tinyabi_read_s16x2(a + i);
        const uint32_t a13 = tinyabi_read_s16x2(a + i + 2);
        a0 = tinyabi_smlad(k0_02, a02, a0);
        a0 = tinyabi_smlad(k0_13, a13, a0);
        a1 = tinyabi_smlad(k1_02, a02, a1);
        a1 = tinyabi_smlad(k1_13, a13, a1);
        const uint32_t b02 = tinyabi_read_s16x2(b + i);
        const uint32_t b13 = tinyabi_read_s16x2(b + i + 2);
        b0 = tinyabi_smlad(k0_02, b02, b0);
        b0 = tinyabi_smlad(k0_13, b13, b0);
        b1 = tinyabi_smlad(k1_02, b02, b1);
        b1 = tinyabi_smlad(k1_13, b13, b1);
    }
#endif
    for (; i < n; i++)
    {
        const int32_t va = a[i];
        const int32_t vb = b[i];
        const int32_t k0 = w0[i];
        const int32_t k1 = w1[i];
        a0 += va * k0;
        a1 += va * k1;
        b0 += vb * k0;
        b1 += vb * k1;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}

#if TINYABI_ASM_2X2
/* What patch_pairs_folded walks: the per-channel arrays and the outputs advance with it. */
struct patch_pair_state
{
    const int32_t *bias;  /* of the next channel pair */
    const int32_t *mult;
    const int32_t *shift;
    int8_t *out;          /* pixel a's output of that pair (pixel b's is out_c further) */
    const int8_t *out_end; /* pixel a's output after the last pair */
    int32_t out_c;
    int32_t k_factor;     /* folded_k's factor, 2 * output_offset + 1 */
    const int16_t *end;   /* the end of patch a */
};

/* Both patches (col, col + n) times every filter pair from w on, n a multiple of 8, every
 * channel folding (see folds) and the activation range all of int8: one assembly loop over
 * the channel pairs, each requantized as soon as its 2 x 2 dot product ends (k and e from
 * the shift on the way). */
#if defined(__GNUC__) && defined(__OPTIMIZE__)
__attribute__((noinline))
#endif
static void patch_pairs_folded(const int16_t *col, const int8_t *w, int32_t n, const struct patch_pair_state *state)
{
    struct patch_pair_state k = *state;
    const int16_t *pa = col;
    const int8_t *wp = w;
    const int32_t patch_bytes = 2 * n;
    int32_t a0;
    int32_t a1;
    int32_t b0;
    int32_t b1;
    uint32_t t0;
    uint32_t t1;
    uint32_t t2;
    uint32_t t3;
    uint32_t t4;
#define TINYABI_ASM_PATCH_REQUANTIZE(a, b)                                                         \
    "ldr %[t0], %[shift]\n\t"                                                                     \
    "ldr %[t1], [%[t0]], #4\n\t"                                                                  \
    "str %[t0], %[shift]\n\t"                                                                     \
    "ldr %[t0], %[mult]\n\t"                                                                      \
    "ldr %[t2], [%[t0]], #4\n\t"                                                                  \
    "str %[t0], %[mult]\n\t"                                                                      \
    "ldr %[t0], %[kf]\n\t"                                                                        \
    "mvn %[t3], %[t1]\n\t"                                                                        \
    "lsl %[t0], %[t0], %[t3]\n\t"                                                                 \
    "rsb %[t1], %[t1], #0\n\t"                                                                    \
    "add %[t3], %[t0], %[" a "], asr #31\n\t"                                                     \
    "lsl %[" a "], %[" a "], #1\n\t"                                                              \
    "smmlar %[" a "], %[" a "], %[t2], %[t3]\n\t"                                                 \
    "asr %[" a "], %[" a "], %[t1]\n\t"                                                           \
    "ssat %[" a "], #8, %[" a "]\n\t"                                                             \
    "add %[t3], %[t0], %[" b "], asr #31\n\t"                                                     \
    "lsl %[" b "], %[" b "], #1\n\t"                                                              \
    "smmlar %[" b "], %[" b "], %[t2], %[t3]\n\t"                                                 \
    "asr %[" b "], %[" b "], %[t1]\n\t"                                                           \
    "ssat %[" b "], #8, %[" b "]\n\t"                                                             \
    "ldr %[t0], %[out]\n\t"                                                                       \
    "ldr %[t3], %[out_c]\n\t"                                                                     \
    "strb %[" a "], [%[t0]]\n\t"                                                                  \
    "strb %[" b "], [%[t0], %[t3]]\n\t"                                                           \
    "add %[t0], %[t0], #1\n\t"                                                                    \
    "str %[t0], %[out]\n\t"
    __asm__ volatile("0:\n\t"
                     "ldr %[t0], %[bias]\n\t"
                     "ldrd %[a0], %[a1], [%[t0]], #8\n\t"
                     "str %[t0], %[bias]\n\t"
                     "mov %[b0], %[a0]\n\t"
                     "mov %[b1], %[a1]\n"
                     "1:\n\t" TINYABI_ASM_PATCH_STEP4 TINYABI_ASM_PATCH_STEP4 "ldr %[t4], %[end]\n\t"
                     "cmp %[pa], %[t4]\n\t"
                     "bne 1b\n\t"
                     "sub %[pa], %[pa], %[pb]\n\t"
                     "add %[wp], %[wp], %[n]\n\t" TINYABI_ASM_PATCH_REQUANTIZE("a0", "b0")
                         TINYABI_ASM_PATCH_REQUANTIZE("a1", "b1") "ldr %[t3], %[out_end]\n\t"
                     "cmp %[t0], %[t3]\n\t"
                     "bne 0b"
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [b0] "=&r"(b0), [b1] "=&r"(b1), [pa] "+r"(pa),
                       [wp] "+r"(wp), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3),
                       [t4] "=&r"(t4), [bias] "+m"(k.bias), [mult] "+m"(k.mult), [shift] "+m"(k.shift),
                       [out] "+m"(k.out)
                     : [n] "r"(n), [pb] "r"(patch_bytes), [out_end] "m"(k.out_end), [out_c] "m"(k.out_c),
                       [kf] "m"(k.k_factor), [end] "m"(k.end)
                     : "cc", "memory");
#undef TINYABI_ASM_PATCH_REQUANTIZE
}
#endif
#if TINYABI_ASM_2X2
#undef TINYABI_ASM_PATCH_STEP4
#endif

#endif

/* ------------------------------------------------------------------ MVE int8 blocks */

#if TINYABI_MVE
/* Sum of n int8 values, 16 per instruction. */
static inline int32_t sum_s8_mve(const int8_t *w, int32_t n)
{
    int32_t s = 0;
    int32_t i = 0;
    for (; i + 16 <= n; i += 16)
    {
        s = vaddvaq_s8(s, vldrbq_s8(w + i));
    }
    if (i < n)
    {
        s = vaddvaq_s8(s, vldrbq_z_s8(w + i, vctp8q((uint32_t)(n - i))));
    }
    return s;
}

/* Rows xa, xb times filters wa, wb (n int8 each), added to acc = {a.wa, a.wb, b.wa, b.wb}.
 * Whole vectors unpredicated; only the tail (n % 16) is predicated. */
static inline void dot_s8_2x2_mve(const int8_t *xa, const int8_t *xb, const int8_t *wa, const int8_t *wb,
                                  int32_t n, int32_t *acc)
{
    int32_t a0 = acc[0];
    int32_t a1 = acc[1];
    int32_t b0 = acc[2];
    int32_t b1 = acc[3];
#if defined(__GNUC__) && !defined(__clang__)
    /* The loop in assembly: inlined into the convolutions GCC spills its pointers and
     * accumulators inside it. "Te": the even registers VMLADAV accumulates in. */
    register int32_t count __asm__("lr") = n >> 4;
    __asm__ volatile("wls lr, lr, 2f\n"
                     "1:\n\t"
                     "vldrb.8 q0, [%[wa]], #16\n\t"
                     "vldrb.8 q1, [%[wb]], #16\n\t"
                     "vldrb.8 q2, [%[xa]], #16\n\t"
                     "vldrb.8 q3, [%[xb]], #16\n\t"
                     "vmladava.s8 %[a0], q2, q0\n\t"
                     "vmladava.s8 %[a1], q2, q1\n\t"
                     "vmladava.s8 %[b0], q3, q0\n\t"
                     "vmladava.s8 %[b1], q3, q1\n\t"
                     "le lr, 1b\n"
                     "2:"
                     : [a0] "+Te"(a0), [a1] "+Te"(a1), [b0] "+Te"(b0), [b1] "+Te"(b1), [wa] "+r"(wa),
                       [wb] "+r"(wb), [xa] "+r"(xa), [xb] "+r"(xb), [count] "+r"(count)
                     :
                     : "q0", "q1", "q2", "q3", "memory");
    if (n & 15)
    {
        /* One VPST block for the four tail loads ("Up": the predicate in VPR; predicated-off
         * lanes load as zero). */
        const mve_pred16_t p = vctp8q((uint32_t)(n & 15));
        __asm__ volatile("vpstttt\n\t"
                         "vldrbt.8 q0, [%[wa]]\n\t"
                         "vldrbt.8 q1, [%[wb]]\n\t"
                         "vldrbt.8 q2, [%[xa]]\n\t"
                         "vldrbt.8 q3, [%[xb]]\n\t"
                         "vmladava.s8 %[a0], q2, q0\n\t"
                         "vmladava.s8 %[a1], q2, q1\n\t"
                         "vmladava.s8 %[b0], q3, q0\n\t"
                         "vmladava.s8 %[b1], q3, q1"
                         : [a0] "+Te"(a0), [a1] "+Te"(a1), [b0] "+Te"(b0), [b1] "+Te"(b1)
                         : [wa] "r"(wa), [wb] "r"(wb), [xa] "r"(xa), [xb] "r"(xb), [p] "Up"(p)
                         : "q0", "q1", "q2", "q3", "memory");
    }
#else
    for (int32_t k = n >> 4; k > 0; k--)
    {
        const int8x16_t ka = vldrbq_s8(wa);
        const int8x16_t kb = vldrbq_s8(wb);
        const int8x16_t va = vldrbq_s8(xa);
        const int8x16_t vb = vldrbq_s8(xb);
        a0 = vmladavaq_s8(a0, va, ka);
        a1 = vmladavaq_s8(a1, va, kb);
        b0 = vmladavaq_s8(b0, vb, ka);
        b1 = vmladavaq_s8(b1, vb, kb);
        wa += 16;
        wb += 16;
        xa += 16;
        xb += 16;
    }
    if (n & 15)
    {
        const mve_pred16_t p = vctp8q((uint32_t)(n & 15));
        const int8x16_t ka = vldrbq_z_s8(wa, p);
        const int8x16_t kb = vldrbq_z_s8(wb, p);
        const int8x16_t va = vldrbq_z_s8(xa, p);
        const int8x16_t vb = vldrbq_z_s8(xb, p);
        a0 = vmladavaq_s8(a0, va, ka);
        a1 = vmladavaq_s8(a1, va, kb);
        b0 = vmladavaq_s8(b0, vb, ka);
        b1 = vmladavaq_s8(b1, vb, kb);
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}

/* Per-lane requantization as tinyabi_requantize_x4, with the per-channel left shifts, right
 * shifts (<= 0) and round-away masks (right >> 31) computed once per group of channels. */
static inline int32x4_t requantize_hoisted_x4(int32x4_t acc, int32x4_t mult, int32x4_t left, int32x4_t right,
                                              int32x4_t round_mask, int32_t out_offset, int32x4_t lo,
                                              int32x4_t hi)
{
    int32x4_t x = vqrdmulhq_s32(vshlq_s32(acc, left), mult);
    x = vqaddq_s32(x, vandq_s32(vshrq_n_s32(x, 31), round_mask));
    x = vaddq_n_s32(vrshlq_s32(x, right), out_offset);
    return vminq_s32(vmaxq_s32(x, lo), hi);
}
#endif

/* ------------------------------------------------------------------ general convolution */

#if !TINYABI_MVE
/* A window row that starts or ends in the padding: `before` zeros, `inside` input values
 * from src plus the input offset, zeros up to `row_len` (out of line: inlined, it costs the
 * common whole-row case registers). */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void widen_row(int16_t *dst, const int8_t *src, int32_t before, int32_t inside, int32_t row_len,
                      int32_t in_offset)
{
    for (int32_t i = 0; i < before; i++)
    {
        dst[i] = 0;
    }
    for (int32_t i = 0; i < inside; i++)
    {
        dst[before + i] = (int16_t)(src[i] + in_offset);
    }
    for (int32_t i = before + inside; i < row_len; i++)
    {
        dst[i] = 0;
    }
}

#if TINYABI_DSP
/* n (a multiple of 4) int8 values from src plus the input offset, as int16 already in the
 * order gather_patch's DSP build gives them (x0 x2 x1 x3 per group): SXTAB16 adds the
 * offset to bytes 0 and 2 (then 1 and 3) of a word. */
static void widen_paired(int16_t *dst, const int8_t *src, int32_t n, int32_t in_offset)
{
    const uint32_t offsets = tinyabi_dup16(in_offset);
    for (int32_t i = 0; i < n; i += 4)
    {
        const uint32_t x = tinyabi_read_s8x4(src + i);
        const uint32_t even = tinyabi_sxtab16(offsets, x);
        const uint32_t odd = tinyabi_sxtab16_ror8(offsets, x);
        memcpy(dst + i, &even, sizeof even);
        memcpy(dst + i + 2, &odd, sizeof odd);
    }
}
#endif

/* The receptive field of output pixel (oy, ox), channels [g * k_c, (g + 1) * k_c), as int16
 * with the input offset added (padding taps are 0). */
static void gather_patch(int16_t *dst,
                         const int8_t *in_batch,
                         const cmsis_nn_conv_params *p,
                         const cmsis_nn_dims *input_dims,
                         const cmsis_nn_dims *filter_dims,
                         int32_t oy,
                         int32_t ox,
                         int32_t g)
{
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t in_c = input_dims->c;
    const int32_t k_c = filter_dims->c;
    const int32_t in_offset = p->input_offset;
    const int32_t base_y = oy * p->stride.h - p->padding.h;
    const int32_t base_x = ox * p->stride.w - p->padding.w;
    /* Whole rows of the window are contiguous in the input when they lie inside it, the
     * filter covers every input channel and taps are adjacent. */
    const int32_t row_len = filter_dims->w * k_c;
    const int rows_contiguous =
        k_c == in_c && p->dilation.w == 1 && base_x >= 0 && base_x + filter_dims->w <= in_w;
#if TINYABI_DSP
    if (rows_contiguous && (row_len & 3) == 0)
    {
        /* Rows of whole groups of four inside the input: widened straight into the final
         * lane order (zero rows need none). */
        for (int32_t ky = 0; ky < filter_dims->h; ky++, dst += row_len)
        {
            const int32_t iy = base_y + ky * p->dilation.h;
            if (iy < 0 || iy >= in_h)
            {
                memset(dst, 0, (size_t)row_len * sizeof(int16_t));
            }
            else
            {
                widen_paired(dst, in_batch + ((size_t)iy * in_w + base_x) * in_c, row_len, in_offset);
            }
        }
        return;
    }
#endif
    /* Rows that start or end in the padding (the taps [kx0, kx1) lie inside the input). */
    const int partly_contiguous = k_c == in_c && p->dilation.w == 1 && !rows_contiguous;
    int32_t kx0 = 0;
    int32_t kx1 = 0;
    if (partly_contiguous)
    {
        tinyabi_valid_taps(base_x, 1, filter_dims->w, in_w, &kx0, &kx1);
    }
    for (int32_t ky = 0; ky < filter_dims->h; ky++)
    {
        const int32_t iy = base_y + ky * p->dilation.h;
        if (rows_contiguous)
        {
            if (iy < 0 || iy >= in_h)
            {
                memset(dst, 0, (size_t)row_len * sizeof(int16_t));
            }
            else
            {
                const int8_t *src = in_batch + ((size_t)iy * in_w + base_x) * in_c;
                for (int32_t i = 0; i < row_len; i++)
                {
                    dst[i] = (int16_t)(src[i] + in_offset);
                }
            }
            dst += row_len;
            continue;
        }
        if (partly_contiguous && iy >= 0 && iy < in_h)
        {
            widen_row(dst, in_batch + ((size_t)iy * in_w + base_x + kx0) * in_c, kx0 * k_c, (kx1 - kx0) * k_c,
                      row_len, in_offset);
            dst += row_len;
            continue;
        }
        for (int32_t kx = 0; kx < filter_dims->w; kx++)
        {
            const int32_t ix = base_x + kx * p->dilation.w;
            if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w)
            {
                memset(dst, 0, (size_t)k_c * sizeof(int16_t));
            }
            else
            {
                const int8_t *src = in_batch + ((size_t)iy * in_w + ix) * in_c + g * k_c;
                for (int32_t c = 0; c < k_c; c++)
                {
                    dst[c] = (int16_t)(src[c] + in_offset);
                }
            }
            dst += k_c;
        }
    }
#if TINYABI_DSP
    /* x0 x1 x2 x3 -> x0 x2 x1 x3, so that one word holds the lanes SXTB16 gives a filter. */
    const int32_t n = filter_dims->h * filter_dims->w * k_c;
    int16_t *col = dst - n;
    for (int32_t i = 0; i + 4 <= n; i += 4)
    {
        const int16_t t = col[i + 1];
        col[i + 1] = col[i + 2];
        col[i + 2] = t;
    }
#endif
}

#endif

#if TINYABI_MVE
/* n int8 bytes from src to dst (n <= 0: nothing), 16 per predicated load/store pair. */
static inline void copy_s8_mve(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n > 0; n -= 16)
    {
        const mve_pred16_t p = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, p), p);
        dst += 16;
        src += 16;
    }
}

/* n bytes of value at dst. */
static inline void fill_s8_mve(int8_t *dst, int8_t value, int32_t n)
{
    const int8x16_t v = vdupq_n_s8(value);
    for (; n > 0; n -= 16)
    {
        vstrbq_p_s8(dst, v, vctp8q((uint32_t)n));
        dst += 16;
    }
}

/* The receptive field of output pixel (oy, ox), channels [g * k_c, (g + 1) * k_c), as the
 * int8 input values themselves; padding taps hold the input zero point (-input_offset), so
 * that every tap contributes (x + input_offset) * w = 0 once the kernel sums add the offset. */
static void gather_patch_s8(int8_t *dst,
                            const int8_t *in_batch,
                            const cmsis_nn_conv_params *p,
                            const cmsis_nn_dims *input_dims,
                            const cmsis_nn_dims *filter_dims,
                            int32_t oy,
                            int32_t ox,
                            int32_t g)
{
    const int32_t in_h = input_dims->h;
    const int32_t in_w = input_dims->w;
    const int32_t in_c = input_dims->c;
    const int32_t k_c = filter_dims->c;
    const int8_t pad = (int8_t)(-p->input_offset);
    const int32_t base_y = oy * p->stride.h - p->padding.h;
    const int32_t base_x = ox * p->stride.w - p->padding.w;
    const int32_t row_len = filter_dims->w * k_c;
    /* The taps [kx0, kx1) of a row lie inside the input; with the filter over every input
     * channel and adjacent taps, their values are one run of the input. */
    const int contiguous = k_c == in_c && p->dilation.w == 1;
    const int inside = base_x >= 0 && base_x + (filter_dims->w - 1) * p->dilation.w < in_w;
    if (contiguous && inside)
    {
        /* The common case on its own: whole rows of the input. */
        /* The offset of the row's first value (negative above the input: no pointer is
         * formed for a row outside it). */
        ptrdiff_t offset = ((ptrdiff_t)base_y * in_w + base_x) * in_c;
        const ptrdiff_t row_step = (ptrdiff_t)p->dilation.h * in_w * in_c;
        for (int32_t ky = 0; ky < filter_dims->h; ky++, dst += row_len, offset += row_step)
        {
            const int32_t iy = base_y + ky * p->dilation.h;
            if (iy < 0 || iy >= in_h)
            {
                fill_s8_mve(dst, pad, row_len);
            }
            else
            {
                copy_s8_mve(dst, in_batch + offset, row_len);
            }
        }
        return;
    }
    int32_t kx0 = 0;
    int32_t kx1 = filter_dims->w;
    if (!inside)
    {
        tinyabi_valid_taps(base_x, p->dilation.w, filter_dims->w, in_w, &kx0, &kx1);
    }
    for (int32_t ky = 0; ky < filter_dims->h; ky++)
    {
        const int32_t iy = base_y + ky * p->dilation.h;
        if (iy < 0 || iy >= in_h)
        {
            fill_s8_mve(dst, pad, row_len);
        }
        else if (contiguous)
        {
            fill_s8_mve(dst, pad, kx0 * k_c);
            copy_s8_mve(dst + kx0 * k_c, in_batch + ((size_t)iy * in_w + base_x + kx0) * in_c, (kx1 - kx0) * k_c);
            fill_s8_mve(dst + kx1 * k_c, pad, (filter_dims->w - kx1) * k_c);
        }
        else
        {
            for (int32_t kx = 0; kx < filter_dims->w; kx++)
            {
                const int32_t ix = base_x + kx * p->dilation.w;
                if (ix < 0 || ix >= in_w)
                {
                    fill_s8_mve(dst + kx * k_c, pad, k_c);
                }
                else
                {
                    copy_s8_mve(dst + kx * k_c, in_batch + ((size_t)iy * in_w + ix) * in_c + g * k_c, k_c);
                }
            }
        }
        dst += row_len;
    }
}

/* Requantizes the 4 channels x 2 pixels of two 2 x 2 blocks (acc01: channels 0-1, acc23:
 * channels 2-3, each {a.c0, a.c1, b.c0, b.c1}) and stores pixel a's four bytes at out_a and,
 * unless out_b is NULL, pixel b's at out_b; only the lanes of `lanes`. */
static inline void store_block_4x2(const int32_t *acc01,
                                   const int32_t *acc23,
                                   int32x4_t mult,
                                   int32x4_t shift,
                                   int32_t out_offset,
                                   int32x4_t lo,
                                   int32x4_t hi,
                                   int8_t *out_a,
                                   int8_t *out_b,
                                   mve_pred16_t lanes)
{
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t left = vmaxq_s32(shift, zero);
    const int32x4_t right = vminq_s32(shift, zero);
    const int32x4_t round_mask = vshrq_n_s32(right, 31);
    const int32x4_t va = tinyabi_lanes4(acc01[0], acc01[1], acc23[0], acc23[1]);
    vstrbq_p_s32(out_a, requantize_hoisted_x4(va, mult, left, right, round_mask, out_offset, lo, hi), lanes);
    if (out_b != NULL)
    {
        const int32x4_t vb = tinyabi_lanes4(acc01[2], acc01[3], acc23[2], acc23[3]);
        vstrbq_p_s32(out_b, requantize_hoisted_x4(vb, mult, left, right, round_mask, out_offset, lo, hi), lanes);
    }
}

/* arm_convolve_s8 on MVE: the kernel sums (bias + input_offset * sum(w)) of every output
 * channel first, in the buffer; then per pair of output pixels their int8 patches and, per
 * four channels of the group, two 2 x 2 int8 dot-product blocks requantized as vectors (the
 * 1x1 kernel's inner step). */
static void convolve_mve(int32_t *sums,
                         int8_t *cols,
                         const cmsis_nn_conv_params *conv_params,
                         const cmsis_nn_per_channel_quant_params *quant_params,
                         const cmsis_nn_dims *input_dims,
                         const int8_t *input_data,
                         const cmsis_nn_dims *filter_dims,
                         const int8_t *filter_data,
                         const int32_t *bias_data,
                         const cmsis_nn_dims *output_dims,
                         int8_t *output_data)
{
    const int32_t in_c = input_dims->c;
    const int32_t k_c = filter_dims->c;
    const int32_t out_w = output_dims->w;
    const int32_t out_c = output_dims->c;
    const int32_t groups = in_c / k_c;
    const int32_t out_per_group = out_c / groups;
    const int32_t n = filter_dims->h * filter_dims->w * k_c;
    const int32_t pixels = output_dims->h * out_w;
    const int32_t out_offset = conv_params->output_offset;
    const int32x4_t lo = vdupq_n_s32(conv_params->activation.min);
    const int32x4_t hi = vdupq_n_s32(conv_params->activation.max);
    int8_t *col_a = cols;
    int8_t *col_b = cols + n;
    for (int32_t oc = 0; oc < out_c; oc++)
    {
        sums[oc] = (bias_data != NULL ? bias_data[oc] : 0) +
                   conv_params->input_offset * sum_s8_mve(filter_data + (size_t)oc * n, n);
    }
    for (int32_t batch = 0; batch < input_dims->n; batch++)
    {
        const int8_t *in_batch = input_data + (size_t)batch * input_dims->h * input_dims->w * in_c;
        int8_t *out_batch = output_data + (size_t)batch * pixels * out_c;
        for (int32_t px = 0; px < pixels; px += 2)
        {
            const int32_t pair = px + 1 < pixels;
            int8_t *out_a = out_batch + (size_t)px * out_c;
            for (int32_t g = 0; g < groups; g++)
            {
                gather_patch_s8(col_a, in_batch, conv_params, input_dims, filter_dims, px / out_w, px % out_w, g);
                if (pair)
                {
                    gather_patch_s8(col_b, in_batch, conv_params, input_dims, filter_dims, (px + 1) / out_w,
                                    (px + 1) % out_w, g);
                }
                const int8_t *xb = pair ? col_b : col_a;
                const int32_t oc_end = (g + 1) * out_per_group;
                int32_t oc = g * out_per_group;
                const int8_t *w = filter_data + (size_t)oc * n;
                for (; oc + 4 <= oc_end; oc += 4, w += 4 * n)
                {
                    int32_t acc01[4] = {sums[oc], sums[oc + 1], sums[oc], sums[oc + 1]};
                    int32_t acc23[4] = {sums[oc + 2], sums[oc + 3], sums[oc + 2], sums[oc + 3]};
                    dot_s8_2x2_mve(col_a, xb, w, w + n, n, acc01);
                    dot_s8_2x2_mve(col_a, xb, w + 2 * n, w + 3 * n, n, acc23);
                    store_block_4x2(acc01, acc23, vldrwq_s32(quant_params->multiplier + oc),
                                    vldrwq_s32(quant_params->shift + oc), out_offset, lo, hi, out_a + oc,
                                    pair ? out_a + out_c + oc : NULL, vctp32q(4));
                }
                if (oc < oc_end)
                {
                    /* The last channels of the group: the block repeats its last channel and
                     * stores only the real ones. */
                    const int32_t live = oc_end - oc;
                    const mve_pred16_t lanes = vctp32q((uint32_t)live);
                    const int32_t c1 = oc + TINYABI_MIN(1, live - 1);
                    const int32_t c2 = oc + TINYABI_MIN(2, live - 1);
                    int32_t acc01[4] = {sums[oc], sums[c1], sums[oc], sums[c1]};
                    int32_t acc23[4] = {sums[c2], sums[c2], sums[c2], sums[c2]};
                    dot_s8_2x2_mve(col_a, xb, w, filter_data + (size_t)c1 * n, n, acc01);
                    dot_s8_2x2_mve(col_a, xb, filter_data + (size_t)c2 * n, filter_data + (size_t)c2 * n, n, acc23);
                    store_block_4x2(acc01, acc23, vldrwq_z_s32(quant_params->multiplier + oc, lanes),
                                    vldrwq_z_s32(quant_params->shift + oc, lanes), out_offset, lo, hi, out_a + oc,
                                    pair ? out_a + out_c + oc : NULL, lanes);
                }
            }
        }
    }
}
#endif

/* Two int16 patches (the DSP and plain C paths) or, on MVE, the kernel sums of every output
 * channel and two int8 patches: one answer for every build, so that a size asked on the host
 * holds on any core. */
int32_t arm_convolve_s8_get_buffer_size(const cmsis_nn_dims *input_dims, const cmsis_nn_dims *filter_dims)
{
    (void)input_dims;
    const int32_t n = filter_dims->h * filter_dims->w * filter_dims->c;
    return TINYABI_MAX(2 * 2 * n, 4 * filter_dims->n + 2 * n);
}

arm_cmsis_nn_status arm_convolve_s8(const cmsis_nn_context *ctx,
                                    const cmsis_nn_conv_params *conv_params,
                                    const cmsis_nn_per_channel_quant_params *quant_params,
                                    const cmsis_nn_dims *input_dims,
                                    const int8_t *input_data,
                                    const cmsis_nn_dims *filter_dims,
                                    const int8_t *filter_data,
                                    const cmsis_nn_dims *bias_dims,
                                    const int32_t *bias_data,
                                    const cmsis_nn_dims *upscale_dims,
                                    const cmsis_nn_dims *output_dims,
                                    int8_t *output_data)
{
    (void)bias_dims;
    if (upscale_dims != NULL)
    {
        return ARM_CMSIS_NN_NO_IMPL_ERROR;
    }
    const int32_t in_c = input_dims->c;
    const int32_t k_c = filter_dims->c;
    const int32_t out_c = output_dims->c;
    if (ctx == NULL || ctx->buf == NULL || k_c <= 0 || in_c % k_c != 0)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t groups = in_c / k_c;
    if (out_c % groups != 0)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
#if TINYABI_MVE
    if (filter_dims->n != out_c)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    convolve_mve((int32_t *)ctx->buf, (int8_t *)ctx->buf + 4 * out_c, conv_params, quant_params, input_dims,
                 input_data, filter_dims, filter_data, bias_data, output_dims, output_data);
    return ARM_CMSIS_NN_SUCCESS;
#else
    const int32_t out_w = output_dims->w;
    const int32_t out_per_group = out_c / groups;
    const int32_t n = filter_dims->h * filter_dims->w * k_c;
    const int32_t pixels = output_dims->h * out_w;
    int16_t *col_a = (int16_t *)ctx->buf;
    int16_t *col_b = col_a + n;
    const int32_t out_offset = conv_params->output_offset;
    const int32_t act_min = conv_params->activation.min;
    const int32_t act_max = conv_params->activation.max;
    const int32_t *mult = quant_params->multiplier;
    const int32_t *shift = quant_params->shift;
    const int full_range = tinyabi_full_range(act_min, act_max);
    /* Whether every channel requantizes in the folded form (checked once per call). */
    int fold = full_range;
    const int32_t in_offset = conv_params->input_offset;
    const int64_t dot_bound = (int64_t)n * 128 * (128 + (in_offset < 0 ? -(int64_t)in_offset : in_offset));
    for (int32_t oc = 0; fold && oc < out_c; oc++)
    {
        fold = folds(bias_data != NULL ? bias_data[oc] : 0, dot_bound, mult[oc], shift[oc], out_offset);
    }
    const int32_t fold_k1 = 2 * out_offset + 1; /* folded_k's factor */
#if TINYABI_ASM_2X2
    const int pairs_asm = fold && bias_data != NULL && (n & 7) == 0;
#endif

    for (int32_t batch = 0; batch < input_dims->n; batch++)
    {
        const int8_t *in_batch = input_data + (size_t)batch * input_dims->h * input_dims->w * in_c;
        int8_t *out_batch = output_data + (size_t)batch * pixels * out_c;
        for (int32_t px = 0; px < pixels; px += 2)
        {
            const int32_t pair = px + 1 < pixels;
            int8_t *out_a = out_batch + (size_t)px * out_c;
            int8_t *out_b = out_a + out_c;
            for (int32_t g = 0; g < groups; g++)
            {
                gather_patch(col_a, in_batch, conv_params, input_dims, filter_dims, px / out_w, px % out_w, g);
                if (pair)
                {
                    gather_patch(col_b, in_batch, conv_params, input_dims, filter_dims, (px + 1) / out_w,
                                 (px + 1) % out_w, g);
                }
                const int32_t oc_end = (g + 1) * out_per_group;
                int32_t oc = g * out_per_group;
#if TINYABI_ASM_2X2
                if (pairs_asm && pair && oc + 2 <= oc_end)
                {
                    const int32_t pairs_end = oc + ((oc_end - oc) & ~1);
                    const struct patch_pair_state state = {
                        bias_data + oc, mult + oc, shift + oc, out_a + oc, out_a + pairs_end, out_c,
                        fold_k1,        col_a + n};
                    patch_pairs_folded(col_a, filter_data + (size_t)oc * n, n, &state);
                    oc = pairs_end;
                }
#endif
                for (; pair && oc + 2 <= oc_end; oc += 2)
                {
                    const int8_t *w0 = filter_data + (size_t)oc * n;
                    int32_t acc[4] = {0, 0, 0, 0};
                    if (bias_data != NULL)
                    {
                        acc[0] = acc[2] = bias_data[oc];
                        acc[1] = acc[3] = bias_data[oc + 1];
                    }
                    dot_patch_2x2(col_a, w0, n, acc);
                    if (fold)
                    {
                        const int32_t s0 = shift[oc];
                        const int32_t s1 = shift[oc + 1];
                        const int32_t m0 = mult[oc];
                        const int32_t m1 = mult[oc + 1];
                        const int32_t k0 = fold_k1 * ((int32_t)1 << (-s0 - 1));
                        const int32_t k1 = fold_k1 * ((int32_t)1 << (-s1 - 1));
                        out_a[oc] = requantize_folded(acc[0], k0, m0, -s0);
                        out_a[oc + 1] = requantize_folded(acc[1], k1, m1, -s1);
                        out_b[oc] = requantize_folded(acc[2], k0, m0, -s0);
                        out_b[oc + 1] = requantize_folded(acc[3], k1, m1, -s1);
                        continue;
                    }
                    if (full_range)
                    {
                        out_a[oc] = tinyabi_sat_s8(tinyabi_requantize(acc[0], mult[oc], shift[oc]) + out_offset);
                        out_a[oc + 1] =
                            tinyabi_sat_s8(tinyabi_requantize(acc[1], mult[oc + 1], shift[oc + 1]) + out_offset);
                        out_b[oc] = tinyabi_sat_s8(tinyabi_requantize(acc[2], mult[oc], shift[oc]) + out_offset);
                        out_b[oc + 1] =
                            tinyabi_sat_s8(tinyabi_requantize(acc[3], mult[oc + 1], shift[oc + 1]) + out_offset);
                        continue;
                    }
                    out_a[oc] = tinyabi_requantize_s8(acc[0], mult[oc], shift[oc], out_offset, act_min, act_max);
                    out_a[oc + 1] =
                        tinyabi_requantize_s8(acc[1], mult[oc + 1], shift[oc + 1], out_offset, act_min, act_max);
                    out_b[oc] = tinyabi_requantize_s8(acc[2], mult[oc], shift[oc], out_offset, act_min, act_max);
                    out_b[oc + 1] =
                        tinyabi_requantize_s8(acc[3], mult[oc + 1], shift[oc + 1], out_offset, act_min, act_max);
                }
                for (; oc < oc_end; oc++)
                {
                    const int8_t *w = filter_data + (size_t)oc * n;
                    const int32_t bias = bias_data != NULL ? bias_data[oc] : 0;
                    out_a[oc] = tinyabi_requantize_s8(
                        bias + dot_patch(col_a, w, n), mult[oc], shift[oc], out_offset, act_min, act_max);
                    if (pair)
                    {
                        out_b[oc] = tinyabi_requantize_s8(
                            bias + dot_patch(col_b, w, n), mult[oc], shift[oc], out_offset, act_min, act_max);
                    }
                }
            }
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
#endif
}

/* The DSP and plain C int8 blocks of the 1x1 convolution (MVE has its own above). */
#if !TINYABI_MVE
/* int8 . int8 dot product (no offsets). */
static inline int32_t dot_s8(const int8_t *x, const int8_t *w, int32_t n)
{
    int32_t acc = 0;
    int32_t i = 0;
#if TINYABI_DSP
    for (; i + 4 <= n; i += 4)
    {
        const uint32_t xv = tinyabi_read_s8x4(x + i);
        const uint32_t wv = tinyabi_read_s8x4(w + i);
        acc = tinyabi_smlad(tinyabi_sxtb16(xv), tinyabi_sxtb16(wv), acc);
        acc = tinyabi_smlad(tinyabi_sxtb16_ror8(xv), tinyabi_sxtb16_ror8(wv), acc);
    }
#endif
    for (; i < n; i++)
    {
        acc += x[i] * w[i];
    }
    return acc;
}

#if TINYABI_DSP
/* Four int8 of x and of w (x at xp, w at wp) into the 2 x 2 accumulators: the second pixel
 * and the second filter each lie `step` bytes further. */
#define TINYABI_DOT_2X2_STEP4(xp, wp, step)                                                        \
    do                                                                                             \
    {                                                                                              \
        const uint32_t k0 = tinyabi_read_s8x4(wp);                                                 \
        const uint32_t k0_02 = tinyabi_sxtb16(k0);                                                 \
        const uint32_t k0_13 = tinyabi_sxtb16_ror8(k0);                                            \
        const uint32_t va = tinyabi_read_s8x4(xp);                                                 \
        const uint32_t va_02 = tinyabi_sxtb16(va);                                                 \
        const uint32_t va_13 = tinyabi_sxtb16_ror8(va);                                            \
        const uint32_t vb = tinyabi_read_s8x4((xp) + (step));                                      \
        const uint32_t vb_02 = tinyabi_sxtb16(vb);                                                 \
        const uint32_t vb_13 = tinyabi_sxtb16_ror8(vb);                                            \
        a0 = tinyabi_smlad(k0_02, va_02, a0);                                                      \
        a0 = tinyabi_smlad(k0_13, va_13, a0);                                                      \
        b0 = tinyabi_smlad(k0_02, vb_02, b0);                                                      \
        b0 = tinyabi_smlad(k0_13, vb_13, b0);                                                      \
        const uint32_t k1 = tinyabi_read_s8x4((wp) + (step));                                      \
        const uint32_t k1_02 = tinyabi_sxtb16(k1);                                                 \
        const uint32_t k1_13 = tinyabi_sxtb16_ror8(k1);                                            \
        a1 = tinyabi_smlad(k1_02, va_02, a1);                                                      \
        a1 = tinyabi_smlad(k1_13, va_13, a1);                                                      \
        b1 = tinyabi_smlad(k1_02, vb_02, b1);                                                      \
        b1 = tinyabi_smlad(k1_13, vb_13, b1);                                                      \
    } while (0)
#endif


/* Two int8 rows (x, x + n) times two int8 filters (w, w + n), added to
 * acc = {a.w0, a.w1, b.w0, b.w1}: one pointer per operand pair keeps the DSP loop in
 * registers. */
/* Inlined when optimizing (a call per 2 x 2 block costs more than its set-up); at -O0 the
 * assembly loop's 13 registers only fit in a function of its own. */
#if defined(__GNUC__) && defined(__OPTIMIZE__)
__attribute__((always_inline))
#endif
static inline void dot_s8_2x2(const int8_t *x, const int8_t *w, int32_t n, int32_t *acc)
{
    int32_t a0 = acc[0];
    int32_t a1 = acc[1];
    int32_t b0 = acc[2];
    int32_t b1 = acc[3];
    int32_t i = 0;
#if TINYABI_DSP
    {
        const int8_t *xp = x;
        const int8_t *wp = w;
#if TINYABI_ASM_2X2
        const int8_t *end16 = x + (n & ~15);
        /* The loop below in assembly, sixteen columns per pass (the loop test costs three
         * instructions): GCC spills values inside it otherwise. */
        uint32_t t0;
        uint32_t t1;
        uint32_t t2;
        uint32_t t3;
        uint32_t t4;
        uint32_t t5;
#define TINYABI_ASM_2X2_STEP4                                                                      \
    "ldr %[t0], [%[wp], %[n]]\n\t"                                                                 \
    "ldr %[t4], [%[xp], %[n]]\n\t"                                                                 \
    "ldr %[t2], [%[xp]], #4\n\t"                                                                   \
    "sxtb16 %[t1], %[t0]\n\t"                                                                      \
    "sxtb16 %[t0], %[t0], ror #8\n\t"                                                              \
    "sxtb16 %[t3], %[t2]\n\t"                                                                      \
    "sxtb16 %[t2], %[t2], ror #8\n\t"                                                              \
    "sxtb16 %[t5], %[t4]\n\t"                                                                      \
    "sxtb16 %[t4], %[t4], ror #8\n\t"                                                              \
    "smlad %[a1], %[t1], %[t3], %[a1]\n\t"                                                         \
    "smlad %[a1], %[t0], %[t2], %[a1]\n\t"                                                         \
    "smlad %[b1], %[t1], %[t5], %[b1]\n\t"                                                         \
    "smlad %[b1], %[t0], %[t4], %[b1]\n\t"                                                         \
    "ldr %[t0], [%[wp]], #4\n\t"                                                                   \
    "sxtb16 %[t1], %[t0]\n\t"                                                                      \
    "sxtb16 %[t0], %[t0], ror #8\n\t"                                                              \
    "smlad %[a0], %[t1], %[t3], %[a0]\n\t"                                                         \
    "smlad %[a0], %[t0], %[t2], %[a0]\n\t"                                                         \
    "smlad %[b0], %[t1], %[t5], %[b0]\n\t"                                                         \
    "smlad %[b0], %[t0], %[t4], %[b0]\n\t"
#define TINYABI_ASM_2X2_OPERANDS                                                                   \
    [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [xp] "+r"(xp), [wp] "+r"(wp),      \
        [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [t4] "=&r"(t4), [t5] "=&r"(t5)
        if (xp != end16)
        {
            __asm__ volatile("1:\n\t" TINYABI_ASM_2X2_STEP4 TINYABI_ASM_2X2_STEP4 TINYABI_ASM_2X2_STEP4
                                 TINYABI_ASM_2X2_STEP4 "ldr %[t0], %[end]\n\t"
                                                       "cmp %[xp], %[t0]\n\t"
                                                       "bne 1b"
                             : TINYABI_ASM_2X2_OPERANDS
                             : [n] "r"(n), [end] "m"(end16)
                             : "cc", "memory");
        }
        if (n & 8)
        {
            __asm__ volatile(TINYABI_ASM_2X2_STEP4 TINYABI_ASM_2X2_STEP4
                             : TINYABI_ASM_2X2_OPERANDS
                             : [n] "r"(n)
                             : "memory");
        }
        if (n & 4)
        {
            __asm__ volatile(TINYABI_ASM_2X2_STEP4
                             : TINYABI_ASM_2X2_OPERANDS
                             : [n] "r"(n)
                             : "memory");
        }
#undef TINYABI_ASM_2X2_OPERANDS
#else
        const int8_t *end4 = x + (n & ~3);
        while (xp != end4)
        {
            TINYABI_DOT_2X2_STEP4(xp, wp, n);
            xp += 4;
            wp += 4;
        }
#endif
        i = n & ~3;
    }
#endif
    for (; i < n; i++)
    {
        const int32_t va = x[i];
        const int32_t vb = x[n + i];
        const int32_t k0 = w[i];
        const int32_t k1 = w[n + i];
        a0 += va * k0;
        a1 += va * k1;
        b0 += vb * k0;
        b1 += vb * k1;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}

/* The constants of one channel pair of conv1x1_pairs_folded. */
struct conv1x1_pair_consts
{
    int32_t base[2];  /* bias + input_offset * sum(w) of the two channels */
    int32_t km0[2];   /* k, multiplier of the first channel */
    int32_t km1[2];   /* of the second */
    int32_t e[2];     /* the right shifts */
    int8_t *out;      /* the pair's first output byte (advanced by the loop) */
    int32_t out_c;    /* output row stride */
    const int8_t *w_end; /* the first filter's end */
    const int8_t *x_end; /* the first pixel of the pair after the last */
};

/* Pixel pairs [x, c->x_end) of one channel pair (filters w, w + n), n a multiple of 16, the
 * activation range all of int8; outputs from c->out on. With GCC on a DSP core one assembly
 * loop: the accumulators, pointers and dot-product temporaries fill the registers, the
 * per-channel constants are loaded from c once per pixel pair. */
#if defined(__GNUC__) && defined(__OPTIMIZE__)
__attribute__((noinline))
#endif
static void conv1x1_pairs_folded(const int8_t *x, const int8_t *w, int32_t n, struct conv1x1_pair_consts *c)
{
#if TINYABI_ASM_2X2
    /* A copy on the stack: its fields are addressed from sp, with no register of their own. */
    struct conv1x1_pair_consts k = *c;
    const int8_t *xp = x;
    const int8_t *wp = w;
    int32_t a0;
    int32_t a1;
    int32_t b0;
    int32_t b1;
    uint32_t t0;
    uint32_t t1;
    uint32_t t2;
    uint32_t t3;
    uint32_t t4;
    uint32_t t5;
#define TINYABI_ASM_FOLD_REQUANTIZE(a, b, km, e)                                                   \
    "ldrd %[t0], %[t1], " km "\n\t"                                                               \
    "ldr %[t2], " e "\n\t"                                                                        \
    "add %[t3], %[t0], %[" a "], asr #31\n\t"                                                     \
    "lsl %[" a "], %[" a "], #1\n\t"                                                              \
    "smmlar %[" a "], %[" a "], %[t1], %[t3]\n\t"                                                 \
    "asr %[" a "], %[" a "], %[t2]\n\t"                                                           \
    "ssat %[" a "], #8, %[" a "]\n\t"                                                             \
    "add %[t3], %[t0], %[" b "], asr #31\n\t"                                                     \
    "lsl %[" b "], %[" b "], #1\n\t"                                                              \
    "smmlar %[" b "], %[" b "], %[t1], %[t3]\n\t"                                                 \
    "asr %[" b "], %[" b "], %[t2]\n\t"                                                           \
    "ssat %[" b "], #8, %[" b "]\n\t"
#define TINYABI_ASM_FOLD_PAIRS(body)                                                               \
    __asm__ volatile("0:\n\t"                                                                      \
                     "ldrd %[a0], %[a1], %[base]\n\t"                                              \
                     "mov %[b0], %[a0]\n\t"                                                        \
                     "mov %[b1], %[a1]\n"                                                           \
                     "1:\n\t" body "ldr %[t0], %[w_end]\n\t"                                       \
                     "cmp %[wp], %[t0]\n\t"                                                        \
                     "bne 1b\n\t"                                                                  \
                     "sub %[wp], %[wp], %[n]\n\t"                                                  \
                     "add %[xp], %[xp], %[n]\n\t" TINYABI_ASM_FOLD_REQUANTIZE(                     \
                         "a0", "b0", "%[km0]", "%[e0]") TINYABI_ASM_FOLD_REQUANTIZE("a1", "b1", "%[km1]", \
                                                                                    "%[e1]")        \
                         "ldrd %[t4], %[t5], %[out]\n\t"                                           \
                         "strb %[a0], [%[t4]]\n\t"                                                 \
                         "strb %[a1], [%[t4], #1]\n\t"                                             \
                         "add %[t4], %[t4], %[t5]\n\t"                                             \
                         "strb %[b0], [%[t4]]\n\t"                                                 \
                         "strb %[b1], [%[t4], #1]\n\t"                                             \
                         "add %[t4], %[t4], %[t5]\n\t"                                             \
                         "str %[t4], %[out]\n\t"                                                   \
                         "ldr %[t0], %[x_end]\n\t"                                                 \
                         "cmp %[xp], %[t0]\n\t"                                                    \
                         "bne 0b"                                                                   \
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [b0] "=&r"(b0), [b1] "=&r"(b1), [xp] "+r"(xp),  \
                       [wp] "+r"(wp), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), \
                       [t4] "=&r"(t4), [t5] "=&r"(t5), [out] "+m"(k.out)                           \
                     : [n] "r"(n), [base] "m"(k.base), [km0] "m"(k.km0), [km1] "m"(k.km1),          \
                       [e0] "m"(k.e[0]), [e1] "m"(k.e[1]), [w_end] "m"(k.w_end), [x_end] "m"(k.x_end) \
                     : "cc", "memory")
    /* 32 columns per pass where they divide the row (the loop test costs three instructions). */
    if ((n & 31) == 0)
    {
        TINYABI_ASM_FOLD_PAIRS(TINYABI_ASM_2X2_STEP4 TINYABI_ASM_2X2_STEP4 TINYABI_ASM_2X2_STEP4
                                   TINYABI_ASM_2X2_STEP4 TINYABI_ASM_2X2_STEP4 TINYABI_ASM_2X2_STEP4
                                       TINYABI_ASM_2X2_STEP4 TINYABI_ASM_2X2_STEP4);
    }
    else
    {
        TINYABI_ASM_FOLD_PAIRS(TINYABI_ASM_2X2_STEP4 TINYABI_ASM_2X2_STEP4 TINYABI_ASM_2X2_STEP4
                                   TINYABI_ASM_2X2_STEP4);
    }
#undef TINYABI_ASM_FOLD_PAIRS
    c->out = k.out;
#undef TINYABI_ASM_FOLD_REQUANTIZE
#else
    int8_t *out = c->out;
    for (; x != c->x_end; x += 2 * n)
    {
        int32_t acc[4] = {c->base[0], c->base[1], c->base[0], c->base[1]};
        dot_s8_2x2(x, w, n, acc);
        out[0] = requantize_folded(acc[0], c->km0[0], c->km0[1], c->e[0]);
        out[1] = requantize_folded(acc[1], c->km1[0], c->km1[1], c->e[1]);
        out[c->out_c] = requantize_folded(acc[2], c->km0[0], c->km0[1], c->e[0]);
        out[c->out_c + 1] = requantize_folded(acc[3], c->km1[0], c->km1[1], c->e[1]);
        out += 2 * c->out_c;
    }
    c->out = out;
#endif
}

#endif

#if TINYABI_ASM_2X2
#undef TINYABI_ASM_2X2_STEP4
#endif

/* ------------------------------------------------------------------ 1x1 convolution */

#if TINYABI_MVE
/* The 1x1 convolution on MVE: four output channels (the last group padded by repeating the
 * last channel and storing only the real ones) times two pixels per pass, as two 2 x 2 int8
 * dot-product blocks; the four channels of a pixel are requantized as one vector and stored
 * as four contiguous bytes. */
static void convolve_1x1_mve(const int8_t *input,
                             const int8_t *filter,
                             const int32_t *bias,
                             const int32_t *mult,
                             const int32_t *shift,
                             int32_t in_c,
                             int32_t out_c,
                             int32_t pixels,
                             int32_t in_offset,
                             int32_t out_offset,
                             int32_t act_min,
                             int32_t act_max,
                             int8_t *output)
{
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t lo = vdupq_n_s32(act_min);
    const int32x4_t hi = vdupq_n_s32(act_max);
    for (int32_t oc = 0; oc < out_c; oc += 4)
    {
        const int32_t live = TINYABI_MIN(4, out_c - oc);
        const mve_pred16_t lanes = vctp32q((uint32_t)live);
        const int8_t *w[4];
        int32_t base[4];
        for (int32_t j = 0; j < 4; j++)
        {
            const int32_t c = oc + TINYABI_MIN(j, live - 1);
            w[j] = filter + (size_t)c * in_c;
            base[j] = (bias != NULL ? bias[c] : 0) + in_offset * sum_s8_mve(w[j], in_c);
        }
        const int32x4_t m = vldrwq_z_s32(mult + oc, lanes);
        const int32x4_t s = vldrwq_z_s32(shift + oc, lanes);
        const int32x4_t left = vmaxq_s32(s, zero);
        const int32x4_t right = vminq_s32(s, zero);
        const int32x4_t round_mask = vshrq_n_s32(right, 31);
        const int8_t *x = input;
        int8_t *out = output + oc;
        int32_t p = 0;
        /* Four real channels and whole 16-column groups (the usual case) on their own: no
         * tail in the dot products, no predicate on the stores. */
        for (; live == 4 && (in_c & 15) == 0 && p + 2 <= pixels; p += 2)
        {
            int32_t acc01[4] = {base[0], base[1], base[0], base[1]};
            int32_t acc23[4] = {base[2], base[3], base[2], base[3]};
            dot_s8_2x2_mve(x, x + in_c, w[0], w[1], in_c & ~15, acc01);
            dot_s8_2x2_mve(x, x + in_c, w[2], w[3], in_c & ~15, acc23);
            const int32x4_t va = tinyabi_lanes4(acc01[0], acc01[1], acc23[0], acc23[1]);
            const int32x4_t vb = tinyabi_lanes4(acc01[2], acc01[3], acc23[2], acc23[3]);
            vstrbq_s32(out, requantize_hoisted_x4(va, m, left, right, round_mask, out_offset, lo, hi));
            vstrbq_s32(out + out_c, requantize_hoisted_x4(vb, m, left, right, round_mask, out_offset, lo, hi));
            x += 2 * in_c;
            out += 2 * out_c;
        }
        for (; p + 2 <= pixels; p += 2)
        {
            int32_t acc01[4] = {base[0], base[1], base[0], base[1]};
            int32_t acc23[4] = {base[2], base[3], base[2], base[3]};
            dot_s8_2x2_mve(x, x + in_c, w[0], w[1], in_c, acc01);
            dot_s8_2x2_mve(x, x + in_c, w[2], w[3], in_c, acc23);
            const int32x4_t va = tinyabi_lanes4(acc01[0], acc01[1], acc23[0], acc23[1]);
            const int32x4_t vb = tinyabi_lanes4(acc01[2], acc01[3], acc23[2], acc23[3]);
            vstrbq_p_s32(out, requantize_hoisted_x4(va, m, left, right, round_mask, out_offset, lo, hi), lanes);
            vstrbq_p_s32(out + out_c, requantize_hoisted_x4(vb, m, left, right, round_mask, out_offset, lo, hi),
                         lanes);
            x += 2 * in_c;
            out += 2 * out_c;
        }
        if (p < pixels)
        {
            /* The odd last pixel, computed twice and stored once. */
            int32_t acc01[4] = {base[0], base[1], base[0], base[1]};
            int32_t acc23[4] = {base[2], base[3], base[2], base[3]};
            dot_s8_2x2_mve(x, x, w[0], w[1], in_c, acc01);
            dot_s8_2x2_mve(x, x, w[2], w[3], in_c, acc23);
            const int32x4_t va = tinyabi_lanes4(acc01[0], acc01[1], acc23[0], acc23[1]);
            vstrbq_p_s32(out, requantize_hoisted_x4(va, m, left, right, round_mask, out_offset, lo, hi), lanes);
        }
    }
}
#endif

int32_t arm_convolve_1x1_s8_fast_get_buffer_size(const cmsis_nn_dims *input_dims)
{
    (void)input_dims;
    return 0;
}

arm_cmsis_nn_status arm_convolve_1x1_s8_fast(const cmsis_nn_context *ctx,
                                             const cmsis_nn_conv_params *conv_params,
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
    (void)filter_dims;
    if (conv_params->padding.w != 0 || conv_params->padding.h != 0 || conv_params->stride.w != 1 ||
        conv_params->stride.h != 1)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    const int32_t in_c = input_dims->c;
    const int32_t out_c = output_dims->c;
    const int32_t pixels = input_dims->n * input_dims->h * input_dims->w;
    const int32_t in_offset = conv_params->input_offset;
    const int32_t out_offset = conv_params->output_offset;
    const int32_t act_min = conv_params->activation.min;
    const int32_t act_max = conv_params->activation.max;
    const int32_t *mult = quant_params->multiplier;
    const int32_t *shift = quant_params->shift;
#if TINYABI_MVE
    convolve_1x1_mve(input_data, filter_data, bias_data, mult, shift, in_c, out_c, pixels, in_offset, out_offset,
                     act_min, act_max, output_data);
    return ARM_CMSIS_NN_SUCCESS;
#else
    int32_t oc = 0;
    for (; oc + 2 <= out_c; oc += 2)
    {
        const int8_t *w0 = filter_data + (size_t)oc * in_c;
        const int8_t *w1 = w0 + in_c;
        const int32_t base0 = (bias_data != NULL ? bias_data[oc] : 0) + in_offset * sum_s8(w0, in_c);
        const int32_t base1 = (bias_data != NULL ? bias_data[oc + 1] : 0) + in_offset * sum_s8(w1, in_c);
        const int32_t m0 = mult[oc];
        const int32_t m1 = mult[oc + 1];
        const int32_t s0 = shift[oc];
        const int32_t s1 = shift[oc + 1];
        const int8_t *x = input_data;
        int8_t *out = output_data + oc;
        int32_t p = 0;
        if (s0 < 0 && s1 < 0 && m0 >= 0 && m1 >= 0)
        {
            /* The common case with fewer instructions: right shifts and non-negative
             * multipliers (one multiply-accumulate each); the clamp is one SSAT when the
             * activation range is all of int8. */
            const int32_t r0 = -s0 - 1;
            const int32_t r1 = -s1 - 1;
            const int64_t k0 = tinyabi_requantize_k(s0);
            const int64_t k1 = tinyabi_requantize_k(s1);
            struct conv1x1_pair_consts c;
            if (tinyabi_full_range(act_min, act_max) && (in_c & 15) == 0 && pixels >= 2 &&
                folds(base0, (int64_t)in_c * 16384, m0, s0, out_offset) &&
                folds(base1, (int64_t)in_c * 16384, m1, s1, out_offset))
            {
                c.km0[0] = folded_k(s0, out_offset);
                c.km0[1] = m0;
                c.km1[0] = folded_k(s1, out_offset);
                c.km1[1] = m1;
                c.e[0] = -s0;
                c.e[1] = -s1;
                /* Every pixel pair in one loop, the output offset folded into the
                 * requantization. */
                c.base[0] = base0;
                c.base[1] = base1;
                c.out = out;
                c.out_c = out_c;
                c.w_end = w0 + in_c;
                c.x_end = x + (size_t)(pixels & ~1) * in_c;
                conv1x1_pairs_folded(x, w0, in_c, &c);
                p = pixels & ~1;
                x = c.x_end;
                out = c.out;
            }
            if (tinyabi_full_range(act_min, act_max))
            {
                /* Whole groups of 16 columns (the usual channel counts) on their own: the
                 * compiler drops the dot product's rest handling from the loop. */
                for (; (in_c & 15) == 0 && p + 2 <= pixels; p += 2)
                {
                    int32_t acc[4] = {base0, base1, base0, base1};
                    dot_s8_2x2(x, w0, in_c & ~15, acc);
                    out[0] = tinyabi_sat_s8(tinyabi_requantize_fused(acc[0], m0, k0, r0) + out_offset);
                    out[1] = tinyabi_sat_s8(tinyabi_requantize_fused(acc[1], m1, k1, r1) + out_offset);
                    out[out_c] = tinyabi_sat_s8(tinyabi_requantize_fused(acc[2], m0, k0, r0) + out_offset);
                    out[out_c + 1] = tinyabi_sat_s8(tinyabi_requantize_fused(acc[3], m1, k1, r1) + out_offset);
                    x += 2 * in_c;
                    out += 2 * out_c;
                }
                for (; in_c == 8 && p + 2 <= pixels; p += 2)
                {
                    int32_t acc[4] = {base0, base1, base0, base1};
                    dot_s8_2x2(x, w0, 8, acc);
                    out[0] = tinyabi_sat_s8(tinyabi_requantize_fused(acc[0], m0, k0, r0) + out_offset);
                    out[1] = tinyabi_sat_s8(tinyabi_requantize_fused(acc[1], m1, k1, r1) + out_offset);
                    out[out_c] = tinyabi_sat_s8(tinyabi_requantize_fused(acc[2], m0, k0, r0) + out_offset);
                    out[out_c + 1] = tinyabi_sat_s8(tinyabi_requantize_fused(acc[3], m1, k1, r1) + out_offset);
                    x += 16;
                    out += 2 * out_c;
                }
                for (; p + 2 <= pixels; p += 2)
                {
                    int32_t acc[4] = {base0, base1, base0, base1};
                    dot_s8_2x2(x, w0, in_c, acc);
                    out[0] = tinyabi_sat_s8(tinyabi_requantize_fused(acc[0], m0, k0, r0) + out_offset);
                    out[1] = tinyabi_sat_s8(tinyabi_requantize_fused(acc[1], m1, k1, r1) + out_offset);
                    out[out_c] = tinyabi_sat_s8(tinyabi_requantize_fused(acc[2], m0, k0, r0) + out_offset);
                    out[out_c + 1] = tinyabi_sat_s8(tinyabi_requantize_fused(acc[3], m1, k1, r1) + out_offset);
                    x += 2 * in_c;
                    out += 2 * out_c;
                }
            }
            for (; p + 2 <= pixels; p += 2)
            {
                int32_t acc[4] = {base0, base1, base0, base1};
                dot_s8_2x2(x, w0, in_c, acc);
                out[0] = clamp_s8(tinyabi_requantize_fused(acc[0], m0, k0, r0) + out_offset, act_min, act_max);
                out[1] = clamp_s8(tinyabi_requantize_fused(acc[1], m1, k1, r1) + out_offset, act_min, act_max);
                out[out_c] = clamp_s8(tinyabi_requantize_fused(acc[2], m0, k0, r0) + out_offset, act_min, act_max);
                out[out_c + 1] =
                    clamp_s8(tinyabi_requantize_fused(acc[3], m1, k1, r1) + out_offset, act_min, act_max);
                x += 2 * in_c;
                out += 2 * out_c;
            }
        }
        for (; p + 2 <= pixels; p += 2)
        {
            int32_t acc[4] = {base0, base1, base0, base1};
            dot_s8_2x2(x, w0, in_c, acc);
            out[0] = tinyabi_requantize_s8(acc[0], m0, s0, out_offset, act_min, act_max);
            out[1] = tinyabi_requantize_s8(acc[1], m1, s1, out_offset, act_min, act_max);
            out[out_c] = tinyabi_requantize_s8(acc[2], m0, s0, out_offset, act_min, act_max);
            out[out_c + 1] = tinyabi_requantize_s8(acc[3], m1, s1, out_offset, act_min, act_max);
            x += 2 * in_c;
            out += 2 * out_c;
        }
        if (p < pixels)
        {
            out[0] = tinyabi_requantize_s8(base0 + dot_s8(x, w0, in_c), m0, s0, out_offset, act_min, act_max);
            out[1] = tinyabi_requantize_s8(base1 + dot_s8(x, w1, in_c), m1, s1, out_offset, act_min, act_max);
        }
    }
    if (oc < out_c)
    {
        const int8_t *w0 = filter_data + (size_t)oc * in_c;
        const int32_t base0 = (bias_data != NULL ? bias_data[oc] : 0) + in_offset * sum_s8(w0, in_c);
        const int8_t *x = input_data;
        int8_t *out = output_data + oc;
        for (int32_t p = 0; p < pixels; p++)
        {
            *out = tinyabi_requantize_s8(base0 + dot_s8(x, w0, in_c), mult[oc], shift[oc], out_offset, act_min,
                                         act_max);
            x += in_c;
            out += out_c;
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
#endif
}

/* ------------------------------------------------------------------ wrapper */

static int use_1x1_fast(const cmsis_nn_conv_params *conv_params,
                        const cmsis_nn_dims *input_dims,
                        const cmsis_nn_dims *filter_dims)
{
    return filter_dims->c == input_dims->c && conv_params->padding.w == 0 && conv_params->padding.h == 0 && filter_dims->w == 1 &&
           filter_dims->h == 1 && conv_params->dilation.w == 1 && conv_params->dilation.h == 1 &&
           conv_params->stride.w == 1 && conv_params->stride.h == 1;
}

int32_t arm_convolve_wrapper_s8_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                                const cmsis_nn_dims *input_dims,
                                                const cmsis_nn_dims *filter_dims,
                                                const cmsis_nn_dims *output_dims)
{
    (void)output_dims;
    if (use_1x1_fast(conv_params, input_dims, filter_dims))
    {
        return arm_convolve_1x1_s8_fast_get_buffer_size(input_dims);
    }
    return arm_convolve_s8_get_buffer_size(input_dims, filter_dims);
}

arm_cmsis_nn_status arm_convolve_wrapper_s8(const cmsis_nn_context *ctx,
                                            const cmsis_nn_conv_params *conv_params,
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
    if (use_1x1_fast(conv_params, input_dims, filter_dims))
    {
        return arm_convolve_1x1_s8_fast(ctx,
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
    return arm_convolve_s8(ctx,
                           conv_params,
                           quant_params,
                           input_dims,
                           input_data,
                           filter_dims,
                           filter_data,
                           bias_dims,
                           bias_data,
                           NULL,
                           output_dims,
                           output_data);
}

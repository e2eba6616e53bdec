/*
 * tinyabi portable CMSIS-NN subset: internal fixed-point helpers.
 *
 * tinyabi's own code (not Arm's). TFLite's "double rounding" requantization:
 *   requantize(v, m, s) = rounding_divide_by_pot(srdhm(v * 2^max(s,0), m), max(-s,0))
 * where srdhm is the saturating rounding doubling high multiply (round half away from
 * zero) and rounding_divide_by_pot rounds half away from zero as well.
 *
 * SIMD: on Arm cores with the DSP extension (__ARM_FEATURE_DSP, e.g. Cortex-M4/M7/M33/M55)
 * the hot loops use the ACLE intrinsics below (two 16-bit multiply-accumulates per
 * instruction). Defining TINYABI_EMULATE_DSP on any other compiler selects the very same code
 * paths with exact C versions of those instructions (this is how the host tests cover them);
 * TINYABI_NO_DSP forces the plain C loops everywhere. On cores with the M-profile Vector
 * Extension (__ARM_FEATURE_MVE, Cortex-M55 built with a hard or softfp float ABI) the dot
 * products and depthwise taps use MVE intrinsics instead (TINYABI_NO_MVE disables them);
 * these paths are checked against the host build under QEMU.
 */
#ifndef TINYABI_NN_SUPPORT_H
#define TINYABI_NN_SUPPORT_H

#include <stdint.h>
#include <string.h>

#include "arm_nnfunctions.h"

#define TINYABI_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TINYABI_MIN(a, b) ((a) < (b) ? (a) : (b))

/* ------------------------------------------------------------------ fixed point */

/* x * 2^n in int32 with two's-complement wrap-around (as TFLite's int32 shift behaves). */
static inline int32_t tinyabi_shl_wrap(int32_t x, int32_t n)
{
    return (int32_t)((uint32_t)x << n);
}

/* Saturating rounding doubling high multiply: round(a * b / 2^31), ties away from zero.
 * floor((a*b + 2^30) / 2^31) equals gemmlowp's nudged truncating division for every sign;
 * only a == b == INT32_MIN overflows, which saturates. */
static inline int32_t tinyabi_srdhm(int32_t a, int32_t b)
{
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t high = (ab + ((int64_t)1 << 30)) >> 31;
    return high > INT32_MAX ? INT32_MAX : (int32_t)high;
}

/* x / 2^exponent rounded to nearest, ties away from zero; exponent in [0, 31]. */
static inline int32_t tinyabi_rdbpot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite's MultiplyByQuantizedMultiplier (CMSIS-NN's arm_nn_requantize, double rounding).
 * The multiplier must not be INT32_MIN (TFLite's QuantizeMultiplier never produces it), so
 * the high multiply cannot saturate and is computed without the check. */
/* tinyabi_requantize for a negative shift, with right_m1 = -shift - 1 (in [0, 30]).
 * The rounding divide by 2^e (e = right_m1 + 1), ties away from zero, in three steps:
 * z = x - (x < 0) (never overflows: with a multiplier other than INT32_MIN the high multiply
 * is above INT32_MIN), y = z >> (e - 1), result = y - (y >> 1) = ceil(y / 2). For x >= 0 this
 * is floor((x + 2^(e-1)) / 2^e); for x < 0 floor((x - 1 + 2^(e-1)) / 2^e): exactly
 * tinyabi_rdbpot(x, e). */
static inline int32_t tinyabi_requantize_right(int32_t value, int32_t multiplier, int32_t right_m1)
{
    const int64_t ab = (int64_t)value * multiplier;
    const int32_t high = (int32_t)((ab + ((int64_t)1 << 30)) >> 31);
    const int32_t y = (high + (high >> 31)) >> right_m1;
    return y - (y >> 1);
}

static inline int32_t tinyabi_requantize(int32_t value, int32_t multiplier, int32_t shift)
{
    if (shift >= 0)
    {
        const int64_t ab = (int64_t)tinyabi_shl_wrap(value, shift) * multiplier;
        return (int32_t)((ab + ((int64_t)1 << 30)) >> 31);
    }
    return tinyabi_requantize_right(value, multiplier, -shift - 1);
}

/* requantize, add the output offset, clamp to [lo, hi] and narrow to int8. */
static inline int8_t tinyabi_requantize_s8(int32_t acc, int32_t multiplier, int32_t shift,
                                           int32_t out_offset, int32_t lo, int32_t hi)
{
    int32_t v = tinyabi_requantize(acc, multiplier, shift) + out_offset;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}

/* tinyabi_requantize for a shift -e <= -1 and a multiplier >= 0 as one 64-bit
 * multiply-accumulate and a shift: both roundings folded into
 *   floor((value * multiplier + k - (value < 0 ? 2^31 : 0)) / 2^(31 + e)),
 * k = tinyabi_requantize_k(shift) = 2^(30+e) + 2^30. (The srdhm step's x - (x < 0) correction
 * of tinyabi_requantize_right follows the sign of the product, which is the value's sign
 * whenever it matters, and ceil(floor(A / B) / 2) = floor((A + B) / 2B).) right_m1 = e - 1. */
static inline int64_t tinyabi_requantize_k(int32_t shift)
{
    return ((int64_t)1 << (30 - shift)) + ((int64_t)1 << 30);
}
static inline int32_t tinyabi_requantize_fused(int32_t value, int32_t multiplier, int64_t k,
                                               int32_t right_m1)
{
    const int64_t sum = (int64_t)value * multiplier + (k - (int64_t)((uint32_t)value & 0x80000000u));
    return (int32_t)(sum >> 32) >> right_m1;
}

/* TFLite's Q31 multiplier reduced to Q15 for 64-bit accumulators (saturating at 0x7FFF). */
static inline int32_t tinyabi_reduce_multiplier(int32_t multiplier)
{
    return multiplier < 0x7FFF0000 ? (int32_t)(((int64_t)multiplier + (1 << 15)) >> 16) : 0x7FFF;
}

/* TFLite's 64-bit requantization with a reduced multiplier: one rounding (half up),
 * (acc * reduced + 2^(14 - shift)) >> (15 - shift) in wrapping int64, narrowed to int32
 * with wrap-around (C's conversion on every compiler tinyabi targets). shift <= 14. */
static inline int32_t tinyabi_requantize_s64(int64_t acc, int32_t reduced, int32_t shift)
{
    const int32_t total = 15 - shift;
    const uint64_t product = (uint64_t)acc * (uint64_t)(int64_t)reduced;
    const int64_t rounded = (int64_t)(product + ((uint64_t)1 << (total - 1)));
    return (int32_t)(uint32_t)(uint64_t)(rounded >> total);
}

/* Clamp to [lo, hi] and narrow to int16. */
static inline int16_t tinyabi_clamp_s16(int32_t v, int32_t lo, int32_t hi)
{
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int16_t)v;
}

/* Whether an activation range is the whole int8 range (then tinyabi_sat_s8 clamps). */
static inline int tinyabi_full_range(int32_t lo, int32_t hi)
{
    return lo == -128 && hi == 127;
}

/* Start and end (exclusive) of the kernel taps k in [0, size) whose input position
 * base + k * dilation lies in [0, extent). */
static inline void tinyabi_valid_taps(int32_t base, int32_t dilation, int32_t size, int32_t extent,
                                      int32_t *start, int32_t *end)
{
    int32_t s = 0;
    int32_t e = size;
    if (base < 0)
    {
        s = (-base + dilation - 1) / dilation;
    }
    if (base + (size - 1) * dilation >= extent)
    {
        e = extent - base <= 0 ? 0 : (extent - base + dilation - 1) / dilation;
    }
    if (e < s)
    {
        e = s;
    }
    *start = s;
    *end = e;
}

/* ------------------------------------------------------------------ 4 x int8 / 2 x int16 words */

#if !defined(TINYABI_NO_DSP) && defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
#include <arm_acle.h>
#define TINYABI_DSP 1
#define TINYABI_DSP_NATIVE 1
/* Sign-extend bytes 0 and 2 into two 16-bit lanes. */
static inline uint32_t tinyabi_sxtb16(uint32_t x)
{
    return (uint32_t)__sxtb16((int8x4_t)x);
}
/* Two 16-bit lanes of a plus the sign-extended bytes 0 and 2 of b. */
static inline uint32_t tinyabi_sxtab16(uint32_t a, uint32_t b)
{
    return (uint32_t)__sxtab16((int16x2_t)a, (int8x4_t)b);
}
/* acc + lo(a) * lo(b) + hi(a) * hi(b), 16-bit signed lanes. */
static inline int32_t tinyabi_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlad((int16x2_t)a, (int16x2_t)b, acc);
}
static inline int32_t tinyabi_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlabb((int32_t)a, (int32_t)b, acc);
}
static inline int32_t tinyabi_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlatt((int32_t)a, (int32_t)b, acc);
}
#elif defined(TINYABI_EMULATE_DSP)
#define TINYABI_DSP 1
static inline int32_t tinyabi_lo16(uint32_t x)
{
    return (int32_t)(int16_t)(uint16_t)(x & 0xFFFFu);
}
static inline int32_t tinyabi_hi16(uint32_t x)
{
    return (int32_t)(int16_t)(uint16_t)(x >> 16);
}
static inline uint32_t tinyabi_pack16(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}
static inline uint32_t tinyabi_sxtb16(uint32_t x)
{
    return tinyabi_pack16((int8_t)(uint8_t)(x & 0xFFu), (int8_t)(uint8_t)((x >> 16) & 0xFFu));
}
static inline uint32_t tinyabi_sxtab16(uint32_t a, uint32_t b)
{
    return tinyabi_pack16(tinyabi_lo16(a) + (int8_t)(uint8_t)(b & 0xFFu),
                          tinyabi_hi16(a) + (int8_t)(uint8_t)((b >> 16) & 0xFFu));
}
static inline int32_t tinyabi_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    const uint32_t sum = (uint32_t)acc + (uint32_t)(tinyabi_lo16(a) * tinyabi_lo16(b)) +
                         (uint32_t)(tinyabi_hi16(a) * tinyabi_hi16(b));
    return (int32_t)sum;
}
static inline int32_t tinyabi_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(tinyabi_lo16(a) * tinyabi_lo16(b)));
}
static inline int32_t tinyabi_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(tinyabi_hi16(a) * tinyabi_hi16(b)));
}
#else
#define TINYABI_DSP 0
#endif

#if !defined(TINYABI_NO_MVE) && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#define TINYABI_MVE 1
/* tinyabi_requantize_s8 on four lanes (per-lane multipliers and shifts), still as int32.
 * VQRDMULH computes floor((a*b + 2^30) / 2^31) with saturation, which is exactly srdhm;
 * VRSHL rounds half up, so negative values first move down by one (saturating) to round
 * half away from zero as rdbpot does. */
static inline int32x4_t tinyabi_requantize_x4(int32x4_t acc, int32x4_t multiplier, int32x4_t shift,
                                              int32_t out_offset, int32_t lo, int32_t hi)
{
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t right = vminq_s32(shift, zero);
    int32x4_t x = vshlq_s32(acc, vmaxq_s32(shift, zero));
    x = vqrdmulhq_s32(x, multiplier);
    x = vqaddq_s32(x, vandq_s32(vshrq_n_s32(x, 31), vshrq_n_s32(right, 31)));
    x = vaddq_n_s32(vrshlq_s32(x, right), out_offset);
    return vminq_s32(vmaxq_s32(x, vdupq_n_s32(lo)), vdupq_n_s32(hi));
}

/* The four lanes {a, b, a, b}. */
static inline int32x4_t tinyabi_pair_x2(int32_t a, int32_t b)
{
    return vsetq_lane_s32(b, vsetq_lane_s32(b, vdupq_n_s32(a), 1), 3);
}

/* Four int32 values as one vector. */
static inline int32x4_t tinyabi_lanes4(int32_t a, int32_t b, int32_t c, int32_t d)
{
    int32x4_t v = vdupq_n_s32(a);
    v = vsetq_lane_s32(b, v, 1);
    v = vsetq_lane_s32(c, v, 2);
    return vsetq_lane_s32(d, v, 3);
}
#else
#define TINYABI_MVE 0
#endif

#if TINYABI_DSP
/* Four int8 values as one little-endian word (an unaligned load on Armv7E-M). */
static inline uint32_t tinyabi_read_s8x4(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
/* Two int16 values as one word: p[0] in the low lane. */
static inline uint32_t tinyabi_read_s16x2(const int16_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
/* Rotate right by 8 bits: bytes 1 and 3 move to positions 0 and 2. */
static inline uint32_t tinyabi_ror8(uint32_t x)
{
    return (x >> 8) | (x << 24);
}
/* tinyabi_sxtb16(tinyabi_ror8(x)) and tinyabi_sxtab16(a, tinyabi_ror8(x)) in one instruction
 * (the rotation is part of the instruction; GCC does not fuse the intrinsics itself). */
static inline uint32_t tinyabi_sxtb16_ror8(uint32_t x)
{
#if defined(TINYABI_DSP_NATIVE) && defined(__GNUC__)
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
#else
    return tinyabi_sxtb16(tinyabi_ror8(x));
#endif
}
static inline uint32_t tinyabi_sxtab16_ror8(uint32_t a, uint32_t x)
{
#if defined(TINYABI_DSP_NATIVE) && defined(__GNUC__)
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
#else
    return tinyabi_sxtab16(a, tinyabi_ror8(x));
#endif
}
/* A 16-bit value in both lanes. */
static inline uint32_t tinyabi_dup16(int32_t v)
{
    return ((uint32_t)v & 0xFFFFu) | ((uint32_t)v << 16);
}
#endif

/* v clamped to [-128, 127] (one SSAT instruction on cores with the DSP extension). */
static inline int8_t tinyabi_sat_s8(int32_t v)
{
#if defined(TINYABI_DSP_NATIVE) && defined(__ARM_FEATURE_SAT)
    return (int8_t)__ssat(v, 8);
#else
    return (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
#endif
}

#endif /* TINYABI_NN_SUPPORT_H */

/*
 * tinyabi portable CMSIS-NN subset: int8 softmax, bit-exact with TFLite Micro.
 *
 * tinyabi's own implementation of the public CMSIS-NN softmax API (not Arm's code).
 * Per row: d = x - max(row). Differences d >= diff_min are scaled to Q5.26 by
 * srdhm(d * 2^shift, mult) and exponentiated with the gemmlowp-style fixed-point
 * exp on negative values (Q0.31 result). The exps, rounded to Q12.19, are summed;
 * the sum is normalized by its leading zeros and inverted with the fixed-point
 * 1 / (1 + x) (Newton-Raphson). Each output is exp * reciprocal rounded down to Q0.8
 * and offset by -128; differences below diff_min give -128.
 *
 * When a row's sum of exponentials reaches 512 (about 512 entries at the row maximum)
 * the output shift leaves TFLite's range (TFLite Micro aborts); it is capped at 31 here.
 */
#include <stddef.h>

#include "tinyabi_nn_support.h"

#define ACCUM_BITS 12
#define DIFF_INTEGER_BITS 5

/* int32 add/sub with two's-complement wrap-around (gemmlowp's raw arithmetic). */
static inline int32_t add_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t sub_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* x * 2^exponent, saturating (exponent in 1..30). */
static inline int32_t sat_shl(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
    if (x > threshold)
    {
        return INT32_MAX;
    }
    if (x < -threshold)
    {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out. */
static int32_t exp_on_interval_minus_quarter_to_0(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668;
    const int32_t one_third = 715827883;
    const int32_t x = add_wrap(a, 1 << 28);
    const int32_t x2 = tinyabi_srdhm(x, x);
    const int32_t x3 = tinyabi_srdhm(x2, x);
    const int32_t x4 = tinyabi_srdhm(x2, x2);
    const int32_t x4_over_4 = tinyabi_rdbpot(x4, 2);
    const int32_t poly = tinyabi_rdbpot(add_wrap(tinyabi_srdhm(add_wrap(x4_over_4, x3), one_third), x2), 1);
    return add_wrap(exp_minus_one_eighth, tinyabi_srdhm(exp_minus_one_eighth, add_wrap(x, poly)));
}

/* exp(a) for a <= 0 in Q5.26; Q0.31 result. */
static int32_t exp_on_negative_values_q5(int32_t a)
{
    const int32_t fractional_bits = 31 - DIFF_INTEGER_BITS;
    const int32_t one_quarter = 1 << (fractional_bits - 2);
    const int32_t a_mod_quarter_minus_quarter = sub_wrap(a & (one_quarter - 1), one_quarter);
    int32_t result = exp_on_interval_minus_quarter_to_0(sat_shl(a_mod_quarter_minus_quarter, DIFF_INTEGER_BITS));
    const int32_t remainder = sub_wrap(a_mod_quarter_minus_quarter, a);
    /* exp(-2^e) in Q0.31 for e = -2 .. 4 */
    static const int32_t factors[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    for (int32_t i = 0; i < 7; i++)
    {
        if (remainder & (1 << (fractional_bits - 2 + i)))
        {
            result = tinyabi_srdhm(result, factors[i]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out. */
static int32_t one_over_one_plus_x(int32_t a)
{
    const int32_t one_q2 = 1 << 29;
    const int32_t c48_over_17 = 1515870810;
    const int32_t minus_c32_over_17 = -1010580540;
    /* (a + 1) / 2 rounded: a >= 0 here */
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = add_wrap(c48_over_17, tinyabi_srdhm(half_denominator, minus_c32_over_17));
    for (int32_t i = 0; i < 3; i++)
    {
        const int32_t one_minus_dx = sub_wrap(one_q2, tinyabi_srdhm(half_denominator, x));
        x = add_wrap(x, sat_shl(tinyabi_srdhm(x, one_minus_dx), 2));
    }
    return sat_shl(x, 1);
}

static inline int32_t count_leading_zeros(uint32_t v)
{
    int32_t n = 0;
    if (v == 0)
    {
        return 32;
    }
    while ((v & 0x80000000u) == 0)
    {
        v <<= 1;
        n++;
    }
    return n;
}

void arm_softmax_s8(const int8_t *input,
                    const int32_t num_rows,
                    const int32_t row_size,
                    const int32_t mult,
                    const int32_t shift,
                    const int32_t diff_min,
                    int8_t *output)
{
    for (int32_t r = 0; r < num_rows; r++)
    {
        const int8_t *in = input + (size_t)r * row_size;
        int8_t *out = output + (size_t)r * row_size;
        int32_t max_value = -128;
        for (int32_t c = 0; c < row_size; c++)
        {
            max_value = TINYABI_MAX(max_value, (int32_t)in[c]);
        }
        uint32_t sum = 0;
        for (int32_t c = 0; c < row_size; c++)
        {
            const int32_t diff = in[c] - max_value;
            if (diff >= diff_min)
            {
                const int32_t scaled = tinyabi_srdhm(tinyabi_shl_wrap(diff, shift), mult);
                sum += (uint32_t)tinyabi_rdbpot(exp_on_negative_values_q5(scaled), ACCUM_BITS);
            }
        }
        const int32_t headroom = count_leading_zeros(sum);
        const int32_t bits_over_unit = ACCUM_BITS - headroom;
        const int32_t shifted_minus_one = (int32_t)((headroom < 32 ? (sum << headroom) : 0u) - 0x80000000u);
        const int32_t reciprocal = one_over_one_plus_x(shifted_minus_one);
        int32_t exponent = bits_over_unit + 31 - 8;
        exponent = exponent < 0 ? 0 : (exponent > 31 ? 31 : exponent);
        for (int32_t c = 0; c < row_size; c++)
        {
            const int32_t diff = in[c] - max_value;
            if (diff >= diff_min)
            {
                const int32_t scaled = tinyabi_srdhm(tinyabi_shl_wrap(diff, shift), mult);
                const int32_t e = exp_on_negative_values_q5(scaled);
                int32_t v = tinyabi_rdbpot(tinyabi_srdhm(reciprocal, e), exponent) - 128;
                v = v < -128 ? -128 : (v > 127 ? 127 : v);
                out[c] = (int8_t)v;
            }
            else
            {
                out[c] = -128;
            }
        }
    }
}

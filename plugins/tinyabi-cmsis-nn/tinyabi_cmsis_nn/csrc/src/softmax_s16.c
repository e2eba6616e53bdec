/*
 * tinyabi portable CMSIS-NN subset: int16 softmax.
 *
 * tinyabi's own implementation of the public CMSIS-NN s16 softmax API (not Arm's code),
 * TFLite Micro's int16 algorithm: per row, each difference to the row maximum is scaled by
 * (mult, shift) onto [-65535, 0], recentred to int16 and looked up in the exp table; the sum
 * S of those values is normalised by its leading zeros h, looked up in the 1 / (1 + x)
 * table, and each output is (e * r) / 2^(31 - h) rounded, clamped to [0, 32767]. The
 * exponentials are kept in the output row until the sum is known.
 */
#include <stddef.h>

#include "tinyabi_nn_support.h"

/* Table read with 7-bit linear interpolation, in int16 arithmetic (TFLite's lookup). */
static int16_t lut_lookup(int32_t value, const int16_t *lut)
{
    const int32_t index = 256 + (value >> 7);
    const int32_t offset = value & 0x7f;
    const int16_t base = lut[index];
    const int16_t slope = (int16_t)(lut[index + 1] - base);
    const int16_t delta = (int16_t)((slope * offset + 64) >> 7);
    return (int16_t)(base + delta);
}

static int32_t clamp16(int32_t v)
{
    return v < INT16_MIN ? INT16_MIN : (v > INT16_MAX ? INT16_MAX : v);
}

static int32_t leading_zeros(uint32_t x)
{
    int32_t n = 0;
    if (x == 0u)
    {
        return 32;
    }
    while ((x & 0x80000000u) == 0u)
    {
        x <<= 1;
        n++;
    }
    return n;
}

arm_cmsis_nn_status arm_softmax_s16(const int16_t *input,
                                    const int32_t num_rows,
                                    const int32_t row_size,
                                    const int32_t mult,
                                    const int32_t shift,
                                    const cmsis_nn_softmax_lut_s16 *softmax_params,
                                    int16_t *output)
{
    if (softmax_params == NULL || softmax_params->exp_lut == NULL || softmax_params->one_by_one_lut == NULL)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    for (int32_t row = 0; row < num_rows; row++)
    {
        const int16_t *in = input + (size_t)row * row_size;
        int16_t *out = output + (size_t)row * row_size;
        int32_t max = in[0];
        for (int32_t i = 1; i < row_size; i++)
        {
            max = TINYABI_MAX(max, (int32_t)in[i]);
        }
        int32_t sum = 0;
        for (int32_t i = 0; i < row_size; i++)
        {
            const int32_t scaled = tinyabi_requantize((int32_t)in[i] - max, mult, shift);
            const int16_t e = lut_lookup(clamp16(scaled + INT16_MAX), softmax_params->exp_lut);
            out[i] = e;
            sum += e;
        }
        const int32_t headroom = leading_zeros((uint32_t)sum);
        const int32_t shifted = (int32_t)((((int64_t)sum << (headroom - 1)) + (1 << 13)) >> 14);
        const int16_t reciprocal = lut_lookup(clamp16(shifted - 98304), softmax_params->one_by_one_lut);
        const int32_t right_shift = 31 - headroom;
        for (int32_t i = 0; i < row_size; i++)
        {
            const int32_t v = ((int32_t)out[i] * reciprocal + (1 << (right_shift - 1))) >> right_shift;
            out[i] = (int16_t)(v < 0 ? 0 : (v > INT16_MAX ? INT16_MAX : v));
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

/*
 * tinyabi portable CMSIS-NN subset: int16 elementwise add and multiply.
 *
 * tinyabi's own implementation of the public CMSIS-NN s16 elementwise API (not Arm's code):
 * TFLite's quantized ADD and MUL with every zero point 0 (the offsets are not read, as the
 * API documents). ADD brings each input to the common scale (x << left_shift, requantized),
 * adds and requantizes the sum; MUL requantizes the int32 product. Both clamp.
 */
#include "tinyabi_nn_support.h"

arm_cmsis_nn_status arm_elementwise_add_s16(const int16_t *input_1_vect,
                                            const int16_t *input_2_vect,
                                            const int32_t input_1_offset,
                                            const int32_t input_1_mult,
                                            const int32_t input_1_shift,
                                            const int32_t input_2_offset,
                                            const int32_t input_2_mult,
                                            const int32_t input_2_shift,
                                            const int32_t left_shift,
                                            int16_t *output,
                                            const int32_t out_offset,
                                            const int32_t out_mult,
                                            const int32_t out_shift,
                                            const int32_t out_activation_min,
                                            const int32_t out_activation_max,
                                            const int32_t block_size)
{
    (void)input_1_offset;
    (void)input_2_offset;
    (void)out_offset;
    for (int32_t i = 0; i < block_size; i++)
    {
        const int32_t a = tinyabi_requantize(tinyabi_shl_wrap(input_1_vect[i], left_shift), input_1_mult, input_1_shift);
        const int32_t b = tinyabi_requantize(tinyabi_shl_wrap(input_2_vect[i], left_shift), input_2_mult, input_2_shift);
        const int32_t sum = tinyabi_requantize(a + b, out_mult, out_shift);
        output[i] = tinyabi_clamp_s16(sum, out_activation_min, out_activation_max);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_elementwise_mul_s16(const int16_t *input_1_vect,
                                            const int16_t *input_2_vect,
                                            const int32_t input_1_offset,
                                            const int32_t input_2_offset,
                                            int16_t *output,
                                            const int32_t out_offset,
                                            const int32_t out_mult,
                                            const int32_t out_shift,
                                            const int32_t out_activation_min,
                                            const int32_t out_activation_max,
                                            const int32_t block_size)
{
    (void)input_1_offset;
    (void)input_2_offset;
    (void)out_offset;
    for (int32_t i = 0; i < block_size; i++)
    {
        const int32_t product = (int32_t)input_1_vect[i] * input_2_vect[i];
        const int32_t v = tinyabi_requantize(product, out_mult, out_shift);
        output[i] = tinyabi_clamp_s16(v, out_activation_min, out_activation_max);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

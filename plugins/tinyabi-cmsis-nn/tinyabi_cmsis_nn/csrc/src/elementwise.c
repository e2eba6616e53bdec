/*
 * tinyabi portable CMSIS-NN subset: int8 elementwise add and multiply.
 *
 * tinyabi's own implementation of the public CMSIS-NN elementwise API (not Arm's code).
 * add: a = requantize((x1 + off1) << left_shift, m1, s1), b likewise,
 *      out = clamp(requantize(a + b, m_out, s_out) + out_offset)   (TFLite ADD, left_shift 20)
 * mul: out = clamp(requantize((x1 + off1) * (x2 + off2), m_out, s_out) + out_offset)
 */
#include "tinyabi_nn_support.h"

arm_cmsis_nn_status arm_elementwise_add_s8(const int8_t *input_1_vect,
                                           const int8_t *input_2_vect,
                                           const int32_t input_1_offset,
                                           const int32_t input_1_mult,
                                           const int32_t input_1_shift,
                                           const int32_t input_2_offset,
                                           const int32_t input_2_mult,
                                           const int32_t input_2_shift,
                                           const int32_t left_shift,
                                           int8_t *output,
                                           const int32_t out_offset,
                                           const int32_t out_mult,
                                           const int32_t out_shift,
                                           const int32_t out_activation_min,
                                           const int32_t out_activation_max,
                                           const int32_t block_size)
{
    for (int32_t i = 0; i < block_size; i++)
    {
        const int32_t a = tinyabi_requantize(
            tinyabi_shl_wrap(input_1_vect[i] + input_1_offset, left_shift), input_1_mult, input_1_shift);
        const int32_t b = tinyabi_requantize(
            tinyabi_shl_wrap(input_2_vect[i] + input_2_offset, left_shift), input_2_mult, input_2_shift);
        output[i] = tinyabi_requantize_s8(
            a + b, out_mult, out_shift, out_offset, out_activation_min, out_activation_max);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

arm_cmsis_nn_status arm_elementwise_mul_s8(const int8_t *input_1_vect,
                                           const int8_t *input_2_vect,
                                           const int32_t input_1_offset,
                                           const int32_t input_2_offset,
                                           int8_t *output,
                                           const int32_t out_offset,
                                           const int32_t out_mult,
                                           const int32_t out_shift,
                                           const int32_t out_activation_min,
                                           const int32_t out_activation_max,
                                           const int32_t block_size)
{
    for (int32_t i = 0; i < block_size; i++)
    {
        const int32_t product = (input_1_vect[i] + input_1_offset) * (input_2_vect[i] + input_2_offset);
        output[i] = tinyabi_requantize_s8(
            product, out_mult, out_shift, out_offset, out_activation_min, out_activation_max);
    }
    return ARM_CMSIS_NN_SUCCESS;
}

/*
 * tinyabi portable CMSIS-NN subset: 16x8 fully connected layer.
 *
 * tinyabi's own implementation of the public CMSIS-NN s16 fully connected API (not Arm's
 * code): per batch row and output unit, the 64-bit sum of int16 x int8 products plus the
 * int64 bias, requantized with the Q15-reduced multiplier (TFLite Micro's reference).
 */
#include <stddef.h>

#include "tinyabi_nn_support.h"

int32_t arm_fully_connected_s16_get_buffer_size(const cmsis_nn_dims *filter_dims)
{
    (void)filter_dims;
    return 0;
}

arm_cmsis_nn_status arm_fully_connected_s16(const cmsis_nn_context *ctx,
                                            const cmsis_nn_fc_params *fc_params,
                                            const cmsis_nn_per_tensor_quant_params *quant_params,
                                            const cmsis_nn_dims *input_dims,
                                            const int16_t *input_data,
                                            const cmsis_nn_dims *filter_dims,
                                            const int8_t *filter_data,
                                            const cmsis_nn_dims *bias_dims,
                                            const int64_t *bias_data,
                                            const cmsis_nn_dims *output_dims,
                                            int16_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    const int32_t batches = input_dims->n;
    const int32_t depth = filter_dims->n;
    const int32_t units = output_dims->c;
    const int32_t lo = fc_params->activation.min;
    const int32_t hi = fc_params->activation.max;
    const int32_t reduced = tinyabi_reduce_multiplier(quant_params->multiplier);

    for (int32_t b = 0; b < batches; b++)
    {
        const int16_t *x = input_data + (size_t)b * depth;
        for (int32_t u = 0; u < units; u++)
        {
            const int8_t *w = filter_data + (size_t)u * depth;
            int64_t acc = bias_data != NULL ? bias_data[u] : 0;
            for (int32_t i = 0; i < depth; i++)
            {
                acc = (int64_t)((uint64_t)acc + (uint64_t)(int64_t)((int32_t)x[i] * w[i]));
            }
            const int32_t v = tinyabi_requantize_s64(acc, reduced, quant_params->shift);
            output_data[(size_t)b * units + u] = tinyabi_clamp_s16(v, lo, hi);
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

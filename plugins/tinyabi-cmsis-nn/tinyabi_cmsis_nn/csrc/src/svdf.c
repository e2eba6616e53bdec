/*
 * tinyabi portable CMSIS-NN subset: int8 SVDF with an int16 state.
 *
 * tinyabi's own implementation of the public CMSIS-NN API (not Arm's code). Per batch:
 * every filter's state row moves one step towards its start (the oldest value drops out),
 * the newest slot takes clamp(requantize(sum((x - zero point) * w_feature))); then each
 * filter's row is dotted with its time weights (int32 sums, wrapping as TFLite's do), the
 * rank filters of a unit are added to its bias, requantized, offset and clamped.
 */
#include <stddef.h>

#include "tinyabi_nn_support.h"

arm_cmsis_nn_status arm_svdf_state_s16_s8(const cmsis_nn_context *input_ctx,
                                          const cmsis_nn_context *output_ctx,
                                          const cmsis_nn_svdf_params *svdf_params,
                                          const cmsis_nn_per_tensor_quant_params *input_quant_params,
                                          const cmsis_nn_per_tensor_quant_params *output_quant_params,
                                          const cmsis_nn_dims *input_dims,
                                          const int8_t *input_data,
                                          const cmsis_nn_dims *state_dims,
                                          int16_t *state_data,
                                          const cmsis_nn_dims *weights_feature_dims,
                                          const int8_t *weights_feature_data,
                                          const cmsis_nn_dims *weights_time_dims,
                                          const int16_t *weights_time_data,
                                          const cmsis_nn_dims *bias_dims,
                                          const int32_t *bias_data,
                                          const cmsis_nn_dims *output_dims,
                                          int8_t *output_data)
{
    const int32_t batches = input_dims->n;
    const int32_t depth = input_dims->h;
    const int32_t filters = weights_feature_dims->n;
    const int32_t memory = weights_time_dims->h;
    const int32_t rank = svdf_params->rank;
    const int32_t units = rank > 0 ? filters / rank : 0;
    int32_t *sums;
    int32_t b, f, u, i;
    (void)state_dims;
    (void)bias_dims;
    (void)output_dims;
    if (input_ctx == NULL || output_ctx == NULL || input_ctx->buf == NULL || output_ctx->buf == NULL ||
        rank < 1 || memory < 1 || filters % rank != 0)
    {
        return ARM_CMSIS_NN_ARG_ERROR;
    }
    sums = (int32_t *)input_ctx->buf;
    for (b = 0; b < batches; b++)
    {
        const int8_t *x = input_data + (size_t)b * depth;
        int16_t *state = state_data + (size_t)b * filters * memory;
        for (f = 0; f < filters; f++)
        {
            int16_t *row = state + (size_t)f * memory;
            const int8_t *w = weights_feature_data + (size_t)f * depth;
            uint32_t acc = 0u;
            int32_t value;
            memmove(row, row + 1, (size_t)(memory - 1) * sizeof(int16_t));
            for (i = 0; i < depth; i++)
            {
                acc += (uint32_t)((x[i] - svdf_params->input_offset) * w[i]);
            }
            value = tinyabi_requantize((int32_t)acc, input_quant_params->multiplier, input_quant_params->shift);
            value = TINYABI_MAX(value, svdf_params->input_activation.min);
            value = TINYABI_MIN(value, svdf_params->input_activation.max);
            row[memory - 1] = (int16_t)value;
        }
        for (f = 0; f < filters; f++)
        {
            const int16_t *row = state + (size_t)f * memory;
            const int16_t *w = weights_time_data + (size_t)f * memory;
            uint32_t acc = 0u;
            for (i = 0; i < memory; i++)
            {
                acc += (uint32_t)(row[i] * w[i]);
            }
            sums[(size_t)b * filters + f] = (int32_t)acc;
        }
        for (u = 0; u < units; u++)
        {
            uint32_t acc = bias_data != NULL ? (uint32_t)bias_data[u] : 0u;
            int32_t value;
            for (i = 0; i < rank; i++)
            {
                acc += (uint32_t)sums[(size_t)b * filters + (size_t)u * rank + i];
            }
            value = tinyabi_requantize((int32_t)acc, output_quant_params->multiplier, output_quant_params->shift);
            value += svdf_params->output_offset;
            value = TINYABI_MAX(value, svdf_params->output_activation.min);
            value = TINYABI_MIN(value, svdf_params->output_activation.max);
            output_data[(size_t)b * units + u] = (int8_t)value;
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

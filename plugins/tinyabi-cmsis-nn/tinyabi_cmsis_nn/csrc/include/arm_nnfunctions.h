/*
 * tinyabi portable CMSIS-NN subset: public functions.
 *
 * This is tinyabi's own portable C99 implementation of a subset of the public
 * CMSIS-NN API (v7, arm_nnfunctions.h V.18). It is NOT Arm's code: the function
 * names, argument order, types and the TFLite Micro int8 arithmetic they compute
 * are reproduced so that generated code works unchanged against either this
 * library or the real CMSIS-NN. Every implementation is C99 (plus optional ACLE
 * intrinsics, see below), uses no dynamic memory, and is bit-exact with TFLite
 * Micro's int8 reference kernels (double rounding requantization).
 *
 * Conventions (as in CMSIS-NN): tensors are NHWC, filters [C_OUT, H, W, C_IN]
 * (depthwise filters [1, H, W, C_OUT]); input_offset = -input zero point,
 * output_offset = +output zero point; shifts are signed (positive = left); multipliers
 * are Q31 values as TFLite's QuantizeMultiplier gives them (never INT32_MIN).
 *
 * Scratch buffers (ctx->buf) this implementation needs, in bytes (the same on every
 * target; a larger buffer, e.g. the size the real library asks for, is always fine):
 *   arm_convolve_s8                    max(4 * n, 4 * filter_n + 2 * n), n = filter_h *
 *                                      filter_w * filter_c (two int16 patches, or on MVE
 *                                      two int8 patches and the kernel sums)
 *   arm_convolve_wrapper_s8            0 on the 1x1 fast path, else as arm_convolve_s8
 *   arm_convolve_1x1_s8_fast           0
 *   arm_depthwise_conv_wrapper_s8      4 line buffers for 3x3 filters of depth multiplier 1,
 *                                      unit dilation and unit strides (at most a few hundred
 *                                      bytes), else 0; arm_depthwise_conv_s8 and
 *                                      arm_depthwise_conv_3x3_s8 use such a buffer when given
 *                                      one and run buffer-free otherwise
 *   arm_fully_connected_s8             0 (kernel sums in ctx->buf, which the real library
 *                                      requires on cores with the vector extension, are
 *                                      accepted and not read), see below
 *   arm_avgpool_s8                     0
 *   arm_transpose_conv_s8              0
 *
 * Code paths: on Arm cores with the DSP extension (__ARM_FEATURE_DSP: Cortex-M4, M7, M33,
 * M55, ...) the inner loops use the SIMD multiply-accumulate instructions through ACLE
 * intrinsics; elsewhere they are plain C. -DTINYABI_NO_DSP forces plain C;
 * -DTINYABI_EMULATE_DSP runs the DSP code paths on any host (exact C emulation, for tests).
 * Both give identical results.
 */
#ifndef ARM_NNFUNCTIONS_H
#define ARM_NNFUNCTIONS_H

#include "arm_nn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- convolution */

/** Convolution that picks the 1x1 fast path (no padding, unit stride and dilation, 1x1
 *  filter) or the general arm_convolve_s8. */
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
                                            int8_t *output_data);

/** Scratch bytes arm_convolve_wrapper_s8 needs for these parameters. */
int32_t arm_convolve_wrapper_s8_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                                const cmsis_nn_dims *input_dims,
                                                const cmsis_nn_dims *filter_dims,
                                                const cmsis_nn_dims *output_dims);

/** General int8 convolution (any stride, padding, dilation; grouped when filter_dims->c
 *  divides input_dims->c). upscale_dims must be NULL (transposed convolution is not
 *  supported here: ARM_CMSIS_NN_NO_IMPL_ERROR). bias_data may be NULL. */
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
                                    int8_t *output_data);

/** Scratch bytes arm_convolve_s8 needs: 4 * filter_h * filter_w * filter_c (two int16 patches). */
int32_t arm_convolve_s8_get_buffer_size(const cmsis_nn_dims *input_dims, const cmsis_nn_dims *filter_dims);

/** Transposed convolution, filter [C_OUT, KH, KW, C_IN]: every input pixel scatters its
 *  filter-weighted values onto the output (rows y * stride - padding + ky); output_ctx is
 *  not used. The bias may be NULL. */
arm_cmsis_nn_status arm_transpose_conv_s8(const cmsis_nn_context *ctx,
                                          const cmsis_nn_context *output_ctx,
                                          const cmsis_nn_transpose_conv_params *transpose_conv_params,
                                          const cmsis_nn_per_channel_quant_params *quant_params,
                                          const cmsis_nn_dims *input_dims,
                                          const int8_t *input_data,
                                          const cmsis_nn_dims *filter_dims,
                                          const int8_t *filter_data,
                                          const cmsis_nn_dims *bias_dims,
                                          const int32_t *bias_data,
                                          const cmsis_nn_dims *output_dims,
                                          int8_t *output_data);

/** Scratch bytes arm_transpose_conv_s8 needs: 0 (each output pixel is gathered directly). */
int32_t arm_transpose_conv_s8_get_buffer_size(const cmsis_nn_transpose_conv_params *transpose_conv_params,
                                              const cmsis_nn_dims *input_dims,
                                              const cmsis_nn_dims *filter_dims,
                                              const cmsis_nn_dims *out_dims);

/** SVDF with an int16 state and int16 time weights. The state ([batches, filters, memory])
 *  shifts one step left, its newest column takes the clamped requantized feature products
 *  (input_quant_params), each filter's state row is dotted with its time weights, the rank
 *  filters of each unit are summed with the bias (may be NULL), requantized
 *  (output_quant_params), offset and clamped. input_ctx holds batches * filters int32 sums,
 *  output_ctx batches * units int32 sums. Dimensions read: input n (batches) and h (input
 *  size), weights_feature n (filters), weights_time h (memory). */
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
                                          int8_t *output_data);

/** Unidirectional int8 LSTM (int16 gates and cell state): per time step, each gate is
 *  activation(sat16(rq(W_x x + b_eff) + rq(W_h h + b_eff_h))); the cell becomes
 *  clamp(rq(forget * cell) + rq(input * cell_gate)) (to +-cell_clip, or int16 when 0) and the
 *  hidden state (and output) clamp8(rq(output * tanh(cell)) + output_offset). The hidden and
 *  cell states carry over from call to call when buffers->hidden_state is given. */
arm_cmsis_nn_status arm_lstm_unidirectional_s8(const int8_t *input,
                                               int8_t *output,
                                               const cmsis_nn_lstm_params *params,
                                               cmsis_nn_lstm_context *buffers);

/** Unidirectional 16x8 LSTM: as arm_lstm_unidirectional_s8 with int16 input, output and hidden
 *  state and int64 effective biases; each gate part is summed in 64 bits and requantized
 *  with the multiplier reduced to Q15 (TFLite's 64-bit requantization); the hidden state is
 *  sat16(rq(output * tanh(cell)) + output_offset). */
arm_cmsis_nn_status arm_lstm_unidirectional_s16(const int16_t *input,
                                                int16_t *output,
                                                const cmsis_nn_lstm_params *params,
                                                cmsis_nn_lstm_context *buffers);

/** 1x1 convolution; requires padding 0 and stride 1 (else ARM_CMSIS_NN_ARG_ERROR). */
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
                                             int8_t *output_data);

/** Scratch bytes arm_convolve_1x1_s8_fast needs: 0. */
int32_t arm_convolve_1x1_s8_fast_get_buffer_size(const cmsis_nn_dims *input_dims);

/* ---------------------------------------------------------------- depthwise */

/** Depthwise convolution that picks arm_depthwise_conv_3x3_s8 (ch_mult 1, batch 1, unit
 *  dilation, 3x3 filter, padding <= 1) or the general arm_depthwise_conv_s8. */
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
                                                  int8_t *output_data);

/** Scratch bytes arm_depthwise_conv_wrapper_s8 needs (line buffers of the 3x3 path, or 0). */
int32_t arm_depthwise_conv_wrapper_s8_get_buffer_size(const cmsis_nn_dw_conv_params *dw_conv_params,
                                                      const cmsis_nn_dims *input_dims,
                                                      const cmsis_nn_dims *filter_dims,
                                                      const cmsis_nn_dims *output_dims);

/** General int8 depthwise convolution (any stride, padding, dilation, depth multiplier,
 *  batch). bias_data may be NULL. */
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
                                          int8_t *output_data);

/** 3x3 depthwise convolution; requires input channels == output channels, a 3x3 filter
 *  and padding.w <= 1 (else ARM_CMSIS_NN_ARG_ERROR). */
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
                                              int8_t *output_data);

/* ---------------------------------------------------------------- fully connected */

/** Fully connected layer: filter_dims->n is the accumulation depth, output_dims->c the
 *  output depth, input_dims->n the batch count. fc_params->filter_offset must be 0;
 *  fc_params->input_offset is an input zero point negated (-127 to 128; the vector-extension
 *  code is exact for -256 to 254). The offset and the bias are applied on the fly: ctx may be
 *  NULL, and kernel sums in ctx->buf are not read. The real library on cores with the
 *  vector extension (Cortex-M55) requires the kernel sums of
 *  arm_vector_sum_s8(buf, accum_depth, output_depth, filter, input_offset, 0, bias) there
 *  (NULL is an argument error) and ignores them elsewhere, so code that always passes them
 *  and the bias works with both. */
arm_cmsis_nn_status arm_fully_connected_s8(const cmsis_nn_context *ctx,
                                           const cmsis_nn_fc_params *fc_params,
                                           const cmsis_nn_per_tensor_quant_params *quant_params,
                                           const cmsis_nn_dims *input_dims,
                                           const int8_t *input_data,
                                           const cmsis_nn_dims *filter_dims,
                                           const int8_t *filter_data,
                                           const cmsis_nn_dims *bias_dims,
                                           const int32_t *bias_data,
                                           const cmsis_nn_dims *output_dims,
                                           int8_t *output_data);

/** Scratch bytes arm_fully_connected_s8 needs: 0 (it reads no kernel sums). */
int32_t arm_fully_connected_s8_get_buffer_size(const cmsis_nn_dims *filter_dims);

/** For each of vector_rows rows of vector_cols int8 values:
 *  vector_sum_buf[r] = lhs_offset * sum_j(vector_data[r][j] + rhs_offset)
 *                      + (bias_data ? bias_data[r] : 0). */
arm_cmsis_nn_status arm_vector_sum_s8(int32_t *vector_sum_buf,
                                      const int32_t vector_cols,
                                      const int32_t vector_rows,
                                      const int8_t *vector_data,
                                      const int32_t lhs_offset,
                                      const int32_t rhs_offset,
                                      const int32_t *bias_data);

/* ---------------------------------------------------------------- pooling */

/** Average pooling (TFLite rounding: half away from zero over the valid taps). */
arm_cmsis_nn_status arm_avgpool_s8(const cmsis_nn_context *ctx,
                                   const cmsis_nn_pool_params *pool_params,
                                   const cmsis_nn_dims *input_dims,
                                   const int8_t *input_data,
                                   const cmsis_nn_dims *filter_dims,
                                   const cmsis_nn_dims *output_dims,
                                   int8_t *output_data);

/** Scratch bytes arm_avgpool_s8 needs: 0. */
int32_t arm_avgpool_s8_get_buffer_size(const int dim_dst_width, const int ch_src);

/** Max pooling over the valid taps. */
arm_cmsis_nn_status arm_max_pool_s8(const cmsis_nn_context *ctx,
                                    const cmsis_nn_pool_params *pool_params,
                                    const cmsis_nn_dims *input_dims,
                                    const int8_t *input_data,
                                    const cmsis_nn_dims *filter_dims,
                                    const cmsis_nn_dims *output_dims,
                                    int8_t *output_data);

/* ---------------------------------------------------------------- softmax */

/** int8 softmax over rows (TFLite Micro bit-exact); output scale 1/256, zero point -128.
 *  mult/shift scale the input difference (shift in [0, 31]); diff_min is the smallest
 *  difference to the row maximum that still contributes. */
void arm_softmax_s8(const int8_t *input,
                    const int32_t num_rows,
                    const int32_t row_size,
                    const int32_t mult,
                    const int32_t shift,
                    const int32_t diff_min,
                    int8_t *output);

/* ---------------------------------------------------------------- elementwise */

/** Elementwise int8 add of two same-sized vectors (TFLite quantized ADD arithmetic). */
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
                                           const int32_t block_size);

/** Elementwise int8 multiply of two same-sized vectors (TFLite quantized MUL arithmetic). */
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
                                           const int32_t block_size);

/* ---------------------------------------------------------------- 16x8 (int16 activations) */
/*
 * The s16 functions take int16 activations with zero point 0 (the offsets in the parameter
 * structs are not read), int8 filters and, for the convolutions, Q31 per-channel
 * multipliers that they reduce to Q15 as TFLite Micro does for 64-bit accumulators:
 *   reduced = m < 0x7FFF0000 ? (m + 2^15) >> 16 : 0x7FFF
 *   out = (int32)((acc * reduced + 2^(14 - shift)) >> (15 - shift))
 * An int32 bias (cmsis_nn_bias_data.is_int32_bias) selects a 32-bit accumulator
 * requantized with double rounding as for int8. Scratch needs of this implementation:
 * arm_convolve_s16 / arm_convolve_wrapper_s16: 0; arm_depthwise_conv_wrapper_s16: 0;
 * arm_fully_connected_s16: 0; arm_avgpool_s16: 0.
 */

/** s16 convolution wrapper (this implementation always runs arm_convolve_s16). */
arm_cmsis_nn_status arm_convolve_wrapper_s16(const cmsis_nn_context *ctx,
                                             const cmsis_nn_conv_params *conv_params,
                                             const cmsis_nn_per_channel_quant_params *quant_params,
                                             const cmsis_nn_dims *input_dims,
                                             const int16_t *input_data,
                                             const cmsis_nn_dims *filter_dims,
                                             const int8_t *filter_data,
                                             const cmsis_nn_dims *bias_dims,
                                             const cmsis_nn_bias_data *bias_data,
                                             const cmsis_nn_dims *output_dims,
                                             int16_t *output_data);

/** Scratch bytes arm_convolve_wrapper_s16 needs: 0. */
int32_t arm_convolve_wrapper_s16_get_buffer_size(const cmsis_nn_conv_params *conv_params,
                                                 const cmsis_nn_dims *input_dims,
                                                 const cmsis_nn_dims *filter_dims,
                                                 const cmsis_nn_dims *output_dims);

/** General s16 convolution (any stride, padding, dilation; no groups). */
arm_cmsis_nn_status arm_convolve_s16(const cmsis_nn_context *ctx,
                                     const cmsis_nn_conv_params *conv_params,
                                     const cmsis_nn_per_channel_quant_params *quant_params,
                                     const cmsis_nn_dims *input_dims,
                                     const int16_t *input_data,
                                     const cmsis_nn_dims *filter_dims,
                                     const int8_t *filter_data,
                                     const cmsis_nn_dims *bias_dims,
                                     const cmsis_nn_bias_data *bias_data,
                                     const cmsis_nn_dims *output_dims,
                                     int16_t *output_data);

/** Scratch bytes arm_convolve_s16 needs: 0. */
int32_t arm_convolve_s16_get_buffer_size(const cmsis_nn_dims *input_dims, const cmsis_nn_dims *filter_dims);

/** s16 depthwise convolution wrapper (this implementation always runs arm_depthwise_conv_s16). */
arm_cmsis_nn_status arm_depthwise_conv_wrapper_s16(const cmsis_nn_context *ctx,
                                                   const cmsis_nn_dw_conv_params *dw_conv_params,
                                                   const cmsis_nn_per_channel_quant_params *quant_params,
                                                   const cmsis_nn_dims *input_dims,
                                                   const int16_t *input_data,
                                                   const cmsis_nn_dims *filter_dims,
                                                   const int8_t *filter_data,
                                                   const cmsis_nn_dims *bias_dims,
                                                   const int64_t *bias_data,
                                                   const cmsis_nn_dims *output_dims,
                                                   int16_t *output_data);

/** Scratch bytes arm_depthwise_conv_wrapper_s16 needs: 0. */
int32_t arm_depthwise_conv_wrapper_s16_get_buffer_size(const cmsis_nn_dw_conv_params *dw_conv_params,
                                                       const cmsis_nn_dims *input_dims,
                                                       const cmsis_nn_dims *filter_dims,
                                                       const cmsis_nn_dims *output_dims);

/** General s16 depthwise convolution (any stride, padding, dilation, depth multiplier, batch);
 *  bias_data (int64) may be NULL. */
arm_cmsis_nn_status arm_depthwise_conv_s16(const cmsis_nn_context *ctx,
                                           const cmsis_nn_dw_conv_params *dw_conv_params,
                                           const cmsis_nn_per_channel_quant_params *quant_params,
                                           const cmsis_nn_dims *input_dims,
                                           const int16_t *input_data,
                                           const cmsis_nn_dims *filter_dims,
                                           const int8_t *filter_data,
                                           const cmsis_nn_dims *bias_dims,
                                           const int64_t *bias_data,
                                           const cmsis_nn_dims *output_dims,
                                           int16_t *output_data);

/** s16 fully connected layer with one (Q31) multiplier and an int64 bias (may be NULL);
 *  dimensions as for arm_fully_connected_s8. */
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
                                            int16_t *output_data);

/** Scratch bytes arm_fully_connected_s16 needs: 0. */
int32_t arm_fully_connected_s16_get_buffer_size(const cmsis_nn_dims *filter_dims);

/** s16 average pooling (TFLite rounding: half away from zero over the valid taps). */
arm_cmsis_nn_status arm_avgpool_s16(const cmsis_nn_context *ctx,
                                    const cmsis_nn_pool_params *pool_params,
                                    const cmsis_nn_dims *input_dims,
                                    const int16_t *input_data,
                                    const cmsis_nn_dims *filter_dims,
                                    const cmsis_nn_dims *output_dims,
                                    int16_t *output_data);

/** Scratch bytes arm_avgpool_s16 needs: 0. */
int32_t arm_avgpool_s16_get_buffer_size(const int dim_dst_width, const int ch_src);

/** s16 max pooling over the valid taps. */
arm_cmsis_nn_status arm_max_pool_s16(const cmsis_nn_context *ctx,
                                     const cmsis_nn_pool_params *pool_params,
                                     const cmsis_nn_dims *input_dims,
                                     const int16_t *src,
                                     const cmsis_nn_dims *filter_dims,
                                     const cmsis_nn_dims *output_dims,
                                     int16_t *dst);

/** s16 softmax over rows (TFLite Micro bit-exact): differences to the row maximum scaled by
 *  (mult, shift) onto [-65535, 0], exp and 1 / (1 + x) read from the two tables. */
arm_cmsis_nn_status arm_softmax_s16(const int16_t *input,
                                    const int32_t num_rows,
                                    const int32_t row_size,
                                    const int32_t mult,
                                    const int32_t shift,
                                    const cmsis_nn_softmax_lut_s16 *softmax_params,
                                    int16_t *output);

/** s16 elementwise add (TFLite arithmetic with zero points 0; the offsets are not read). */
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
                                            const int32_t block_size);

/** s16 elementwise multiply (TFLite arithmetic with zero points 0; the offsets are not read). */
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
                                            const int32_t block_size);

/** s16 sigmoid or tanh by table look-up (TFLite Micro's int16 LOGISTIC/TANH): the input is
 *  scaled by 3 << left_shift (left_shift >= 0) or by 3 with a rounding right shift of
 *  -left_shift, onto the table's scale of 1 / 4096 units. */
arm_cmsis_nn_status arm_nn_activation_s16(const int16_t *input,
                                          int16_t *output,
                                          const int32_t size,
                                          const int32_t left_shift,
                                          const arm_nn_activation_type type);

#ifdef __cplusplus
}
#endif

#endif /* ARM_NNFUNCTIONS_H */

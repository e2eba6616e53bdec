/*
 * Cross-check of the portable CMSIS-NN subset between builds (tinyabi test harness).
 *
 * Generates deterministic pseudo-random cases for every public function (shapes, strides,
 * paddings, dilations, depth multipliers, per-channel requantization, activation ranges,
 * offsets), runs them, and prints one line per call: "<name> <FNV-1a hash of the output>".
 * The host build (plain C loops, already checked against tinyabi's reference kernels) and the
 * Cortex-M builds under QEMU (DSP-extension code paths) must print the same lines.
 *
 * On the host it prints with stdio; with TINYABI_SEMIHOSTING it prints through Arm
 * semihosting (SYS_WRITE0) and needs no C library beyond memcpy/memset.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arm_nnfunctions.h"

#ifndef CHECK_CASES
#define CHECK_CASES 40
#endif

/* ------------------------------------------------------------------ output */

#ifdef TINYABI_SEMIHOSTING
static void put_text(const char *text)
{
    register int32_t op __asm__("r0") = 0x04; /* SYS_WRITE0 */
    register const char *arg __asm__("r1") = text;
    __asm__ volatile("bkpt 0xab" : "+r"(op) : "r"(arg) : "memory");
}
#else
#include <stdio.h>
static void put_text(const char *text)
{
    fputs(text, stdout);
}
#endif

static void put_line(const char *name, uint32_t hash)
{
    char line[64];
    size_t n = 0;
    while (name[n] != '\0' && n < 40)
    {
        line[n] = name[n];
        n++;
    }
    line[n++] = ' ';
    for (int i = 7; i >= 0; i--)
    {
        line[n++] = "0123456789abcdef"[(hash >> (4 * i)) & 0xFu];
    }
    line[n++] = '\n';
    line[n] = '\0';
    put_text(line);
}

static uint32_t fnv(const void *data, size_t size)
{
    const uint8_t *p = (const uint8_t *)data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < size; i++)
    {
        h = (h ^ p[i]) * 16777619u;
    }
    return h;
}

/* ------------------------------------------------------------------ random numbers */

static uint32_t rng_state = 12345u;

static uint32_t next_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* Uniform in [lo, hi]. */
static int32_t uniform(int32_t lo, int32_t hi)
{
    return lo + (int32_t)(next_u32() % (uint32_t)(hi - lo + 1));
}

static void fill_s8(int8_t *p, int32_t n, int32_t lo, int32_t hi)
{
    for (int32_t i = 0; i < n; i++)
    {
        p[i] = (int8_t)uniform(lo, hi);
    }
}

/* ------------------------------------------------------------------ buffers */

#define MAX_TENSOR 8192
#define MAX_CH 64

static int8_t input_a[MAX_TENSOR + 8];
static int8_t input_b[MAX_TENSOR + 8];
static int8_t weights[MAX_TENSOR + 8];
static int8_t output[MAX_TENSOR + 8];
static int32_t bias[MAX_CH];
static int32_t mult[MAX_CH];
static int32_t shift[MAX_CH];
static int32_t sums[MAX_CH];
static int32_t scratch_words[(MAX_TENSOR * 4) / 4 + 16];

/* Requantization that keeps outputs of an accumulator with `depth` products mostly in range. */
static void random_requant(int32_t channels, int32_t depth)
{
    int32_t base_shift = -6;
    while (depth > 1)
    {
        depth >>= 2;
        base_shift--;
    }
    for (int32_t c = 0; c < channels; c++)
    {
        mult[c] = (int32_t)(0x40000000u + (next_u32() & 0x3FFFFFFFu));
        shift[c] = base_shift + uniform(-2, 2);
        if (uniform(0, 15) == 0)
        {
            shift[c] = uniform(0, 3); /* left shifts: mostly saturated outputs */
        }
        bias[c] = uniform(-20000, 20000);
    }
}

static cmsis_nn_activation random_activation(void)
{
    cmsis_nn_activation act = {-128, 127};
    if (uniform(0, 2) == 0)
    {
        act.min = uniform(-128, 0);
        act.max = uniform(act.min, 127);
    }
    return act;
}

/* TFLite output size and "before" padding of one axis. */
static int32_t out_size(int32_t in, int32_t k, int32_t stride, int32_t dil, int32_t same)
{
    const int32_t extent = (k - 1) * dil + 1;
    return same ? (in + stride - 1) / stride : (in - extent + stride) / stride;
}

static int32_t pad_before(int32_t in, int32_t k, int32_t stride, int32_t dil, int32_t out)
{
    const int32_t total = (out - 1) * stride + (k - 1) * dil + 1 - in;
    return total > 0 ? total / 2 : 0;
}

typedef struct
{
    int32_t n, h, w, kh, kw, sh, sw, dh, dw, oh, ow, pt, pl;
} window_t;

static window_t random_window(int32_t max_hw, int32_t dilation)
{
    window_t g;
    for (;;)
    {
        const int32_t same = uniform(0, 1);
        g.n = uniform(1, 2);
        g.h = uniform(1, max_hw);
        g.w = uniform(1, max_hw);
        g.kh = uniform(1, 5);
        g.kw = uniform(1, 5);
        g.sh = uniform(1, 3);
        g.sw = uniform(1, 3);
        g.dh = dilation && uniform(0, 2) == 0 ? uniform(1, 3) : 1;
        g.dw = dilation && uniform(0, 2) == 0 ? uniform(1, 3) : 1;
        g.oh = out_size(g.h, g.kh, g.sh, g.dh, same);
        g.ow = out_size(g.w, g.kw, g.sw, g.dw, same);
        if (g.oh >= 1 && g.ow >= 1)
        {
            g.pt = same ? pad_before(g.h, g.kh, g.sh, g.dh, g.oh) : 0;
            g.pl = same ? pad_before(g.w, g.kw, g.sw, g.dw, g.ow) : 0;
            return g;
        }
    }
}

/* ------------------------------------------------------------------ cases */

static void conv_case(void)
{
    window_t g = random_window(10, 1);
    if (uniform(0, 3) == 0)
    {
        g.kh = g.kw = g.sh = g.sw = g.dh = g.dw = 1;
        g.oh = g.h;
        g.ow = g.w;
        g.pt = g.pl = 0;
    }
    const int32_t c = uniform(1, 12);
    const int32_t groups = (c % 2 == 0 && uniform(0, 4) == 0) ? 2 : 1;
    const int32_t kc = c / groups;
    const int32_t o = groups * uniform(1, 9);
    const int32_t in_off = uniform(-127, 128);
    const int32_t out_off = uniform(-128, 127);
    const cmsis_nn_activation act = random_activation();
    const cmsis_nn_conv_params p = {in_off, out_off, {g.sw, g.sh}, {g.pl, g.pt}, {g.dw, g.dh}, act};
    const cmsis_nn_per_channel_quant_params q = {mult, shift};
    const cmsis_nn_dims in_d = {g.n, g.h, g.w, c};
    const cmsis_nn_dims f_d = {o, g.kh, g.kw, kc};
    const cmsis_nn_dims b_d = {1, 1, 1, o};
    const cmsis_nn_dims o_d = {g.n, g.oh, g.ow, o};
    const int32_t out_bytes = g.n * g.oh * g.ow * o;
    fill_s8(input_a, g.n * g.h * g.w * c, -128, 127);
    fill_s8(weights, o * g.kh * g.kw * kc, -127, 127);
    random_requant(o, g.kh * g.kw * kc);
    const int32_t *b = uniform(0, 4) == 0 ? NULL : bias;
    cmsis_nn_context ctx = {scratch_words, arm_convolve_wrapper_s8_get_buffer_size(&p, &in_d, &f_d, &o_d)};

    memset(output, 0, (size_t)out_bytes);
    arm_cmsis_nn_status s = arm_convolve_wrapper_s8(&ctx, &p, &q, &in_d, input_a, &f_d, weights, &b_d, b, &o_d, output);
    put_line(s == ARM_CMSIS_NN_SUCCESS ? "conv_wrapper" : "conv_wrapper_error", fnv(output, (size_t)out_bytes));

    ctx.size = arm_convolve_s8_get_buffer_size(&in_d, &f_d);
    memset(output, 0, (size_t)out_bytes);
    s = arm_convolve_s8(&ctx, &p, &q, &in_d, input_a, &f_d, weights, &b_d, b, NULL, &o_d, output);
    put_line(s == ARM_CMSIS_NN_SUCCESS ? "conv_s8" : "conv_s8_error", fnv(output, (size_t)out_bytes));

    if (g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && groups == 1)
    {
        memset(output, 0, (size_t)out_bytes);
        s = arm_convolve_1x1_s8_fast(&ctx, &p, &q, &in_d, input_a, &f_d, weights, &b_d, b, &o_d, output);
        put_line(s == ARM_CMSIS_NN_SUCCESS ? "conv_1x1" : "conv_1x1_error", fnv(output, (size_t)out_bytes));
    }
}

static void depthwise_case(void)
{
    window_t g = random_window(10, 1);
    if (uniform(0, 2) == 0)
    {
        g.n = 1;
        g.kh = g.kw = 3;
        g.dh = g.dw = 1;
        g.sh = uniform(1, 2);
        g.sw = uniform(1, 2);
        g.h = uniform(3, 10);
        g.w = uniform(3, 10);
        g.oh = out_size(g.h, 3, g.sh, 1, 1);
        g.ow = out_size(g.w, 3, g.sw, 1, 1);
        g.pt = pad_before(g.h, 3, g.sh, 1, g.oh);
        g.pl = pad_before(g.w, 3, g.sw, 1, g.ow);
    }
    const int32_t c = uniform(1, 12);
    const int32_t ch_mult = uniform(0, 2) == 0 ? uniform(2, 3) : 1;
    const int32_t o = c * ch_mult;
    const int32_t in_off = uniform(-127, 128);
    const int32_t out_off = uniform(-128, 127);
    const cmsis_nn_activation act = random_activation();
    const cmsis_nn_dw_conv_params p = {in_off, out_off, ch_mult, {g.sw, g.sh}, {g.pl, g.pt}, {g.dw, g.dh}, act};
    const cmsis_nn_per_channel_quant_params q = {mult, shift};
    const cmsis_nn_dims in_d = {g.n, g.h, g.w, c};
    const cmsis_nn_dims f_d = {1, g.kh, g.kw, o};
    const cmsis_nn_dims b_d = {1, 1, 1, o};
    const cmsis_nn_dims o_d = {g.n, g.oh, g.ow, o};
    const int32_t out_bytes = g.n * g.oh * g.ow * o;
    fill_s8(input_a, g.n * g.h * g.w * c, -128, 127);
    fill_s8(weights, g.kh * g.kw * o, -127, 127);
    random_requant(o, g.kh * g.kw);
    const int32_t *b = uniform(0, 4) == 0 ? NULL : bias;
    const cmsis_nn_context ctx = {scratch_words, arm_depthwise_conv_wrapper_s8_get_buffer_size(&p, &in_d, &f_d, &o_d)};

    memset(output, 0, (size_t)out_bytes);
    arm_cmsis_nn_status s =
        arm_depthwise_conv_wrapper_s8(&ctx, &p, &q, &in_d, input_a, &f_d, weights, &b_d, b, &o_d, output);
    put_line(s == ARM_CMSIS_NN_SUCCESS ? "dw_wrapper" : "dw_wrapper_error", fnv(output, (size_t)out_bytes));
    memset(output, 0, (size_t)out_bytes);
    s = arm_depthwise_conv_s8(&ctx, &p, &q, &in_d, input_a, &f_d, weights, &b_d, b, &o_d, output);
    put_line(s == ARM_CMSIS_NN_SUCCESS ? "dw_s8" : "dw_s8_error", fnv(output, (size_t)out_bytes));
}

static void fc_case(void)
{
    const int32_t batches = uniform(1, 3);
    const int32_t depth = uniform(1, 100);
    const int32_t units = uniform(1, 40);
    const int32_t in_off = uniform(-127, 128);
    const int32_t out_off = uniform(-128, 127);
    const cmsis_nn_activation act = random_activation();
    const cmsis_nn_fc_params p = {in_off, 0, out_off, act};
    random_requant(1, depth);
    const cmsis_nn_per_tensor_quant_params q = {mult[0], shift[0]};
    const cmsis_nn_dims in_d = {batches, 1, 1, depth};
    const cmsis_nn_dims f_d = {depth, 1, 1, units};
    const cmsis_nn_dims b_d = {1, 1, 1, units};
    const cmsis_nn_dims o_d = {batches, 1, 1, units};
    fill_s8(input_a, batches * depth, -128, 127);
    fill_s8(weights, units * depth, -127, 127);
    for (int32_t u = 0; u < units; u++)
    {
        bias[u] = uniform(-20000, 20000);
    }
    const int32_t *b = uniform(0, 4) == 0 ? NULL : bias;
    cmsis_nn_context ctx = {NULL, 0};
    memset(output, 0, (size_t)(batches * units));
    arm_cmsis_nn_status s = arm_fully_connected_s8(&ctx, &p, &q, &in_d, input_a, &f_d, weights, &b_d, b, &o_d, output);
    put_line(s == ARM_CMSIS_NN_SUCCESS ? "fc" : "fc_error", fnv(output, (size_t)(batches * units)));

    arm_vector_sum_s8(sums, depth, units, weights, p.input_offset, uniform(-3, 3), b);
    put_line("vector_sum", fnv(sums, (size_t)units * sizeof(int32_t)));
    arm_vector_sum_s8(sums, depth, units, weights, p.input_offset, 0, b);
    ctx.buf = sums;
    ctx.size = units * (int32_t)sizeof(int32_t);
    memset(output, 0, (size_t)(batches * units));
    s = arm_fully_connected_s8(&ctx, &p, &q, &in_d, input_a, &f_d, weights, &b_d, b, &o_d, output);
    put_line(s == ARM_CMSIS_NN_SUCCESS ? "fc_sums" : "fc_sums_error", fnv(output, (size_t)(batches * units)));
}

static void pool_case(void)
{
    const window_t g = random_window(14, 0);
    const int32_t c = uniform(1, 20);
    const cmsis_nn_pool_params p = {{g.sw, g.sh}, {g.pl, g.pt}, random_activation()};
    const cmsis_nn_dims in_d = {g.n, g.h, g.w, c};
    const cmsis_nn_dims f_d = {1, g.kh, g.kw, 1};
    const cmsis_nn_dims o_d = {g.n, g.oh, g.ow, c};
    const int32_t out_bytes = g.n * g.oh * g.ow * c;
    fill_s8(input_a, g.n * g.h * g.w * c, -128, 127);
    const cmsis_nn_context ctx = {scratch_words, arm_avgpool_s8_get_buffer_size(g.ow, c)};
    memset(output, 0, (size_t)out_bytes);
    arm_cmsis_nn_status s = arm_avgpool_s8(&ctx, &p, &in_d, input_a, &f_d, &o_d, output);
    put_line(s == ARM_CMSIS_NN_SUCCESS ? "avgpool" : "avgpool_error", fnv(output, (size_t)out_bytes));
    memset(output, 0, (size_t)out_bytes);
    s = arm_max_pool_s8(&ctx, &p, &in_d, input_a, &f_d, &o_d, output);
    put_line(s == ARM_CMSIS_NN_SUCCESS ? "maxpool" : "maxpool_error", fnv(output, (size_t)out_bytes));
}

static void softmax_case(void)
{
    const int32_t rows = uniform(1, 4);
    const int32_t cols = uniform(1, 200);
    const int32_t shift_in = uniform(18, 26);
    const int32_t mult_in = (int32_t)(0x40000000u + (next_u32() & 0x3FFFFFFFu));
    /* diff_min as TFLite derives it: -floor(31 * 2^26 / 2^shift) */
    const int32_t diff_min = -(int32_t)(((int64_t)31 << 26) >> shift_in);
    fill_s8(input_a, rows * cols, -128, 127);
    memset(output, 0, (size_t)(rows * cols));
    arm_softmax_s8(input_a, rows, cols, mult_in, shift_in, diff_min, output);
    put_line("softmax", fnv(output, (size_t)(rows * cols)));
}

static void elementwise_case(void)
{
    const int32_t n = uniform(1, 300);
    fill_s8(input_a, n, -128, 127);
    fill_s8(input_b, n, -128, 127);
    const int32_t lo = uniform(-128, 0);
    const int32_t hi = uniform(lo, 127);
    const int32_t m1 = (int32_t)(0x40000000u + (next_u32() & 0x3FFFFFFFu));
    const int32_t m2 = (int32_t)(0x40000000u + (next_u32() & 0x3FFFFFFFu));
    const int32_t mo = (int32_t)(0x40000000u + (next_u32() & 0x3FFFFFFFu));
    /* Random arguments first: the evaluation order of call arguments is unspecified. */
    const int32_t off1 = uniform(-127, 128);
    const int32_t shift1 = uniform(-3, 0);
    const int32_t off2 = uniform(-127, 128);
    const int32_t shift2 = uniform(-3, 0);
    const int32_t out_off = uniform(-128, 127);
    const int32_t add_shift = uniform(-22, -18);
    const int32_t mul_shift = uniform(-12, -6);
    memset(output, 0, (size_t)n);
    arm_elementwise_add_s8(input_a, input_b, off1, m1, shift1, off2, m2, shift2, 20, output, out_off, mo, add_shift,
                           lo, hi, n);
    put_line("add", fnv(output, (size_t)n));
    memset(output, 0, (size_t)n);
    arm_elementwise_mul_s8(input_a, input_b, off1, off2, output, out_off, mo, mul_shift, lo, hi, n);
    put_line("mul", fnv(output, (size_t)n));
}

int main(void)
{
    for (int32_t i = 0; i < CHECK_CASES; i++)
    {
        conv_case();
        depthwise_case();
        fc_case();
        pool_case();
        softmax_case();
        elementwise_case();
    }
    put_text("done\n");
    return 0;
}

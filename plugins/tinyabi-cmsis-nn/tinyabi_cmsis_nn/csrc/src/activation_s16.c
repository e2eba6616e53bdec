/*
 * tinyabi portable CMSIS-NN subset: int16 sigmoid and tanh by table look-up.
 *
 * tinyabi's own implementation of the public CMSIS-NN arm_nn_activation_s16 (not Arm's
 * code), TFLite Micro's int16 LOGISTIC/TANH: the input is brought to the table's scale of
 * 1 / 4096 (times 3 << left_shift, or times 3 with a rounding right shift of -left_shift);
 * its magnitude indexes sigmoid(i / 24) (Q0.16, i = 0..255) with linear interpolation
 * on 9 bits (sigmoid) or 8 bits (tanh, as 2 sigmoid(2x) - 1), saturating from index 255.
 */
#include "tinyabi_nn_support.h"

/* sigmoid(i / 24) * 65536, rounded and saturated at 65535 (tinyabi.kernels.lut16). */
static const uint16_t sigmoid_table[256] = {
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149,
    40794, 41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369,
    47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169,
    53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370,
    60565, 60753, 60935, 61110, 61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302,
    62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186, 63279, 63368, 63454, 63536,
    63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786,
    64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079,
    65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234, 65246, 65258,
    65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474,
    65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498,
    65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522,
    65523, 65523, 65524, 65524, 65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528,
    65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530, 65530, 65530, 65531, 65531,
    65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65534, 65535,
};

arm_cmsis_nn_status arm_nn_activation_s16(const int16_t *input,
                                          int16_t *output,
                                          const int32_t size,
                                          const int32_t left_shift,
                                          const arm_nn_activation_type type)
{
    const int sigmoid = type == ARM_SIGMOID;
    const uint32_t fraction_bits = sigmoid ? 9u : 8u;
    const uint32_t saturated = sigmoid ? (0x7FFFu << 10) : (0xFFFFu << 8);
    const int32_t multiplier = left_shift < 0 ? 3 : 3 << left_shift;
    const int32_t right = left_shift < 0 ? -left_shift : 0;
    const int32_t rounding = right > 0 ? 1 << (right - 1) : 0;
    for (int32_t i = 0; i < size; i++)
    {
        const int32_t x = ((int32_t)input[i] * multiplier + rounding) >> right;
        const uint32_t magnitude = (uint32_t)(x < 0 ? -x : x);
        const uint32_t index = magnitude >> fraction_bits;
        uint32_t r;
        if (index >= 255u)
        {
            r = saturated;
        }
        else
        {
            const uint32_t low = sigmoid_table[index];
            const uint32_t high = sigmoid_table[index + 1u];
            const uint32_t fraction = magnitude & ((1u << fraction_bits) - 1u);
            r = (low << fraction_bits) + fraction * (high - low);
        }
        int32_t v;
        if (sigmoid)
        {
            v = (int32_t)((x >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1u) >> 10);
        }
        else
        {
            const int32_t s = (int32_t)r;
            v = (x >= 0 ? s - (1 << 23) + (1 << 7) : (1 << 23) - s + (1 << 7) - 1) >> 8;
        }
        output[i] = (int16_t)v;
    }
    return ARM_CMSIS_NN_SUCCESS;
}

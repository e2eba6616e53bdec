/*
 * Per-layer instruction counts (built with -DMODEL_PROFILE only): the generated model_run
 * calls model_profile_layer_start/end around each layer, which start and stop the SysTick
 * instruction counter (insn_counter.h). Each count excludes the counter's own alignment and
 * fixed cost, so the counts are the layers' instructions to within a few each.
 */
#include "profile.h"

#ifdef MODEL_PROFILE

#include "insn_counter.h"

uint64_t profile_layer_instructions[PROFILE_LAYERS];

void model_profile_layer_start(int layer)
{
    (void)layer;
    insn_counter_start();
}

void model_profile_layer_end(int layer)
{
    uint64_t count = insn_counter_stop();
    if (layer >= 0 && layer < MODEL_NUM_LAYERS) {
        profile_layer_instructions[layer] = count;
    }
}

#else

/* ISO C wants at least one declaration in a translation unit. */
typedef int profile_unused_t;

#endif

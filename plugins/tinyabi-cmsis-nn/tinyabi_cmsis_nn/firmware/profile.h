/*
 * Per-layer instruction counts of the generated model_run (with -DMODEL_PROFILE).
 */
#ifndef TINYABI_PROFILE_H
#define TINYABI_PROFILE_H

#include <stdint.h>

#include "model.h"

#define PROFILE_LAYERS (MODEL_NUM_LAYERS > 0 ? MODEL_NUM_LAYERS : 1)

#ifdef MODEL_PROFILE
/* Instructions each layer executed in the last model_run (index: layer). */
extern uint64_t profile_layer_instructions[PROFILE_LAYERS];
#endif

#endif

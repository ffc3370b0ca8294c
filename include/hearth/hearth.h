// hearth's public API, all of it: models (open, tokenize, embed), the generation engine and the device list.
// docs/api.md describes it with an example.
#pragma once

#include "hearth/devices.h"
#include "hearth/engine.h"
#include "hearth/error.h"
#include "hearth/model.h"

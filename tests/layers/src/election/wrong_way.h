// A fixture for the ctest test layers_refuse_wrong_way: the election layer including a header of
// the kube layer above it, which cmake/check_layers.cmake must refuse. Never compiled.
#pragma once

#include "election/clock.h"
#include "kube/lease_json.h"

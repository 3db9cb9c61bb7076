/* Built only by the layering_build_probe test, on the core layer's include
 * path: it must fail to compile, because a stream header is above core. */
#include "ockam/stream.h"

// Stub: the CoreFoundation (and libdispatch) names metal-cpp uses.
#pragma once
#include <math.h>  // INFINITY
#include <stddef.h>
#include <stdint.h>
typedef double CFTimeInterval;
typedef const void* CFTypeRef;
typedef const struct __CFString* CFStringRef;
typedef long CFIndex;
typedef struct {
  CFIndex location;
  CFIndex length;
} CFRange;
typedef struct dispatch_queue_s* dispatch_queue_t;
typedef struct dispatch_data_s* dispatch_data_t;

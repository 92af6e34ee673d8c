// Stub: IOSurfaceRef as an opaque handle.
#pragma once
typedef struct __IOSurface* IOSurfaceRef;

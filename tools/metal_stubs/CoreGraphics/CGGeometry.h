// Stub: the CoreGraphics geometry types metal-cpp's QuartzCore part uses.
#pragma once
typedef double CGFloat;
struct CGPoint {
  CGFloat x, y;
};
struct CGSize {
  CGFloat width, height;
};
struct CGRect {
  CGPoint origin;
  CGSize size;
};

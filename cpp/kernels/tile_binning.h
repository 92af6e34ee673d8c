// Which tiles a projected Gaussian reaches: its alpha >= 1/255 region
// d^T conic d <= r2 (r2 = 2 ln(255 opacity)) must reach the rectangle spanned by
// the tile's pixel centres within the footprint's pixel box (the exact
// ellipse-rectangle test). That keeps every tile with a pixel centre inside the
// ellipse, and now and then one the ellipse only touches between centres
// (harmless: those pixels get alpha below the threshold). The CPU binning and
// the GPU rasterizer both call these, so both bin every Gaussian to the same tiles.
#pragma once
#include "kernels/projection.h"

// Pixel-index box [box0, box1] x [box2, box3] of the centres (x + 0.5, y + 0.5)
// within the ellipse's bounding box, clamped to the image. False when empty.
template <typename T>
SC_FN bool sc_footprint_pixel_box(T mx, T my, T A, T B, T Cc, T r2, int width, int height,
                                  SC_THREAD int* box) {
  // half extents sqrt(r2 * cov_xx), sqrt(r2 * cov_yy) with cov = inverse(conic)
  T det = A * Cc - B * B;
  T qx = r2 * Cc / det, qy = r2 * A / det;
  T hx = sqrt(qx > T(0) ? qx : T(0)), hy = sqrt(qy > T(0) ? qy : T(0));
  // clamped in T before the conversion, so a far-off Gaussian cannot overflow int
  T x0 = ceil(mx - hx - T(0.5)), x1 = floor(mx + hx - T(0.5));
  T y0 = ceil(my - hy - T(0.5)), y1 = floor(my + hy - T(0.5));
  x0 = x0 > T(0) ? x0 : T(0);
  y0 = y0 > T(0) ? y0 : T(0);
  x1 = x1 < T(width - 1) ? x1 : T(width - 1);
  y1 = y1 < T(height - 1) ? y1 : T(height - 1);
  if (!(x0 <= x1 && y0 <= y1)) return false;
  box[0] = (int)x0;
  box[1] = (int)x1;
  box[2] = (int)y0;
  box[3] = (int)y1;
  return true;
}

// True when the footprint reaches the rectangle of pixel centres of tile (tx, ty)
// of size ts inside `box`. `limit` is r2 with a little slack (sc_tile_limit) so rounding
// never drops a pixel the compositor would draw.
template <typename T>
SC_FN T sc_tile_limit(T r2) { return r2 * T(1.0001) + T(1e-6); }

template <typename T>
SC_FN bool sc_tile_reached(T mx, T my, T A, T B, T Cc, T limit, SC_THREAD const int* box, int tx, int ty,
                           int ts) {
  int ya = ty * ts > box[2] ? ty * ts : box[2], yb = (ty + 1) * ts - 1 < box[3] ? (ty + 1) * ts - 1 : box[3];
  int xa = tx * ts > box[0] ? tx * ts : box[0], xb = (tx + 1) * ts - 1 < box[1] ? (tx + 1) * ts - 1 : box[1];
  T px0 = T(xa) + T(0.5), px1 = T(xb) + T(0.5), py0 = T(ya) + T(0.5), py1 = T(yb) + T(0.5);
  // offsets d = mean - pixel over the tile's pixel centres
  return sc_min_quadratic_on_rect(A, B, Cc, mx - px1, mx - px0, my - py1, my - py0) <= limit;
}

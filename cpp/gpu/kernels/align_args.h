// Argument struct of the global-alignment kernels (gpu/kernels/align.h): the
// fused loss-and-gradient pass of align/align.h on a GPU device. Tables built
// once per problem on the host (splat images, incidences, work items) and the
// packed pointmaps live on the device; the parameters are device tensors.
#pragma once
#include "gpu/dialect.h"

#define SC_ALIGN_IMG_ACC 13   // per image: sum gX (3), sum gX c^T (9), dL/df
#define SC_ALIGN_INC_ACC 12   // per (image, edge view): G (3), M (9, g y^T)
#define SC_ALIGN_CAM 15       // per image: R (9), T (3), f, 1 / f, focal clamped (1/0)
#define SC_ALIGN_EDGE 25      // per edge: A = s R (9), b = s t (3), R (9), s, t (3)
#define SC_ALIGN_GROUP 256    // pixels per work item (one group)

template <typename T>
struct ScAlignArgs {
  // parameters
  SC_PTR(const T) log_depth;
  SC_PTR(const T) quat;
  SC_PTR(const T) trans;
  SC_PTR(const T) log_focal;
  SC_PTR(const T) pw_quat;
  SC_PTR(const T) pw_trans;
  SC_PTR(const T) pw_log_scale;
  // the problem
  SC_PTR(const T) data;           // per (edge, view): planes y0, y1, y2, w of the image's grid
  SC_PTR(const T) image_f;        // per image: cx, cy, fmin, fmax
  SC_PTR(const sc_i64) image_i;   // per image: grid w, grid h, first pixel, first incidence, incidences, first item
  SC_PTR(const sc_i64) inc;       // per incidence: data offset, edge, slot (0: view 1, 1: view 2)
  SC_PTR(const sc_i64) item;      // per item: image, first pixel in the image's grid, pixels, partials offset
  SC_PTR(const sc_i64) edge_inc;  // per edge: its incidence's index in image i's and in image j's list
  // scratch and outputs
  SC_PTR(T) cams;        // (n, SC_ALIGN_CAM)
  SC_PTR(T) edges;       // (E, SC_ALIGN_EDGE)
  SC_PTR(T) partials;    // per item: loss, image sums, then SC_ALIGN_INC_ACC per incidence
  SC_PTR(T) image_sums;  // (n, SC_ALIGN_IMG_ACC)
  SC_PTR(T) edge_sums;   // (E, SC_ALIGN_INC_ACC)
  SC_PTR(T) loss;        // (1,)
  SC_PTR(T) g_log_depth;
  SC_PTR(T) g_quat;
  SC_PTR(T) g_trans;
  SC_PTR(T) g_log_focal;
  SC_PTR(T) g_pw_quat;
  SC_PTR(T) g_pw_trans;
  SC_PTR(T) g_pw_log_scale;
  sc_i64 n, E, items;
  int stride, offset, need_grad;
  T inv_area1, inv_area2, base_scale, focal_break, eps, quat_eps;
};

// The per-plane loops of the CPU marching cubes (mesh/marching_cubes.cpp),
// compiled once per CPU target (mesh/mc_target.cpp) and chosen at run time
// (core/cpu_target.h): point classification, the vertex and triangle counts
// of pass 1, and the vertex numbering and emission of pass 2.
// marching_cubes.cpp runs them over slabs of planes on the thread pool and
// prefix-sums the counts in between.
//
// Every copy gives the same mesh bit for bit: classification and counting are
// integer work; the vertex bodies (kernels/marching_cubes.h) write their
// multiply-adds as explicit fused multiply-adds (correctly rounded on every
// target, inline where the target has FMA, through libm's fmaf where not), and
// the copies are built with -ffp-contract=off, so nothing else fuses.
#pragma once
#include <cstdint>

#include "kernels/marching_cubes.h"

namespace sc {
namespace mesh {

// The input as the per-plane loops read it: the grid of the shared bodies
// and the arrays (mask, colors may be null).
struct McView {
  ScMcGrid g;
  const float* volume;
  const uint8_t* mask;
  const float* colors;
};

// Output arrays of pass 2 (normals, colors may be null).
struct McOut {
  float* verts;
  float* normals;
  float* colors;
  int32_t* faces;
};

// Row activity recorded by pass 1 (McPlan::rows, one byte per (plane, row)):
// the row owns crossed edges / the row of cells of the slab has triangles.
constexpr uint8_t kMcRowVertices = 1, kMcRowCells = 2;

// Point flags (one byte per extended grid point): bit 0 inside, bit 1 valid.
// Scratch buffers q, v, cs, x hold N2 + 8 bytes, cs and x zero-initialised.
struct McKernels {
  const char* target;  // SC_TARGET_NAME of the copy (tests check the dispatch)
  // Flags of plane P into fl; returns the number of non-finite values among
  // the valid (masked-in) points.
  int64_t (*plane_flags)(const McView& in, int64_t P, uint8_t* fl);
  // Number of crossed edges owned by a plane (flags fl, next: of the next
  // plane or null); marks its rows that own some (kMcRowVertices).
  int64_t (*count_vertices)(const McView& in, const uint8_t* fl, const uint8_t* next, uint8_t* rows);
  // Triangles of slab P (flags f0 of plane P, f1 of P + 1); *centres gets the
  // number of its centre vertices; marks its rows of cells with triangles.
  int64_t (*count_triangles)(const McView& in, int64_t P, const uint8_t* f0, const uint8_t* f1,
                             uint8_t* q, uint8_t* v, uint8_t* cs, int64_t* centres, uint8_t* rows);
  // Vertex numbers of the edges owned by plane P (ids[a * N1 N2 + J N2 + K],
  // only those of crossed edges written), from `base`; writes those vertices
  // to out when emit.
  void (*plane_ids)(const McView& in, int64_t P, const uint8_t* fl, const uint8_t* next, int64_t base,
                    int32_t* ids, int emit, const McOut& out, uint8_t* x, const uint8_t* rows);
  // Triangles of slab P to out.faces from triangle `first`, its centre
  // vertices from vertex centre_first; ids0 / ids1: the vertex numbers of
  // planes P and P + 1.
  void (*emit_triangles)(const McView& in, int64_t P, const uint8_t* f0, const uint8_t* f1,
                         const int32_t* ids0, const int32_t* ids1, int64_t first, int64_t centre_first,
                         uint8_t* q, uint8_t* v, uint8_t* cs, const McOut& out, const uint8_t* rows);
};

}  // namespace mesh

// The target in use (in namespace sc, as every per-target table:
// cmake/check_target_symbols.cmake).
const mesh::McKernels& mc_kernels();

}  // namespace sc

// Marching cubes over a dense float32 grid (CPU host side; kernel bodies in
// kernels/marching_cubes.h). Two passes over slabs of the grid, run by the
// thread pool: count (vertices per plane, triangles per slab), prefix sums,
// emit straight into the caller's output buffers.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/marching_cubes.h"

namespace sc {
namespace mesh {

struct McInput {
  const float* volume = nullptr;  // C order, shape dims
  int64_t dims[3] = {0, 0, 0};
  float level = 0.0f;
  float sign = 1.0f;                   // +1: inside where value > level; -1: value < level
  const uint8_t* mask = nullptr;       // optional, shape dims: a cell is meshed when all 8 corners are set
  const float* colors = nullptr;       // optional, shape dims + (channels,), interpolated per vertex
  int64_t channels = 0;
  bool pad = false;                    // treat the grid as surrounded by outside values (closed caps)
  float spacing[3] = {1.0f, 1.0f, 1.0f};
  float origin[3] = {0.0f, 0.0f, 0.0f};
};

struct McPlan {
  int64_t ext[3] = {0, 0, 0};      // dims of the (virtually padded) point grid
  std::vector<int64_t> vbase;      // first vertex of each plane (ext[0] + 1 entries): the
                                   // plane's edge vertices, then its slab's centre vertices
  std::vector<int64_t> cbase;      // first centre vertex of each slab
  std::vector<int64_t> tbase;      // first triangle of each slab (ext[0] entries, last = total)
  int64_t num_vertices = 0;
  int64_t num_triangles = 0;
  std::shared_ptr<uint8_t[]> flags;  // point flags of the extended grid (pass 1 -> pass 2)
  std::vector<uint8_t> rows;       // per (plane, row): 1 = owns crossed edges, 2 = has triangles
};

// Raises ValueError naming the argument for bad dims, level, sign, spacing,
// origin or channels (the checks mc_plan starts with; the GPU path runs them too).
void mc_check_input(const McInput& in);

// The grid as the shared kernel bodies see it (kernels/marching_cubes.h).
ScMcGrid mc_grid(const McInput& in);

// Validates the input (ValueError naming the argument) and counts. Throws
// ValueError when a value used by the mesh (inside the mask) is NaN or inf.
McPlan mc_plan(const McInput& in);

// Writes num_vertices * 3 floats to verts (world coordinates: origin + index
// * spacing), * 3 to normals (outward unit normals from the field's gradient;
// may be null), * channels to colors (may be null) and num_triangles * 3
// int32 vertex indices to faces.
void mc_emit(const McInput& in, const McPlan& plan, float* verts, float* normals, float* colors,
             int32_t* faces);

// Connected components of a triangle mesh (vertices joined by the faces'
// edges): a label in [0, count) per vertex, labels ordered by first vertex.
// Returns count.
int64_t mesh_components(const int32_t* faces, int64_t num_faces, int64_t num_vertices,
                        int32_t* labels);

}  // namespace mesh
}  // namespace sc

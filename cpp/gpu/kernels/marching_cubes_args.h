// Argument struct of the GPU marching cubes (gpu/kernels/marching_cubes.h).
#pragma once
#include "gpu/dialect.h"
#include "kernels/marching_cubes.h"

#define SC_MC_GROUP 256  // threads per group: one per extended grid point of a tile of a plane

// Status words (ScMcArgs::status): non-finite values among the valid points;
// with check_totals, the exact 64-bit vertex and triangle totals (the scans
// wrap at 2^32) as lo / hi words; the range pass's counts and extremes.
#define SC_MC_STATUS_BAD 0
#define SC_MC_STATUS_VERTS_LO 1
#define SC_MC_STATUS_VERTS_HI 2
#define SC_MC_STATUS_TRIS_LO 3
#define SC_MC_STATUS_TRIS_HI 4
#define SC_MC_STATUS_VALID 5     // mc_range: valid points
#define SC_MC_STATUS_MIN 6       // mc_range: order keys of the finite extremes
#define SC_MC_STATUS_MAX 7
#define SC_MC_STATUS_WORDS 8

// Grid points are numbered plane by plane (extended coordinates, P along axis
// 0): point (P, J, K) is site P * plane + J * N2 + K, and tile t of plane P
// holds its sites t * SC_MC_GROUP ... (tiles_per_plane tiles per plane).
struct ScMcArgs {
  ScMcGrid grid;
  SC_PTR(const float) volume;         // shape grid.n, C order
  SC_PTR(const unsigned char) mask;   // shape grid.n (when grid.has_mask)
  SC_PTR(const float) colors;         // shape grid.n + (channels,) (when grid.channels)
  SC_PTR(const sc_i32) table;         // sc_mc_table (SC_MC_TABLE_WORDS)
  SC_PTR(unsigned char) site;         // per site: crossed owned edges (bits 0-2, axis a = bit a),
                                      // centre vertex (bit 3), triangles of its cell (bits 4-7)
  SC_PTR(unsigned int) vcount;        // per plane: its tiles' edge-vertex counts, then their
                                      // centre-vertex counts; one more word (the total)
  SC_PTR(unsigned int) tcount;        // per tile: triangle count; one more word
  SC_PTR(unsigned int) vfirst;        // per site with crossed owned edges: its first vertex
  SC_PTR(unsigned int) status;        // SC_MC_STATUS_WORDS
  SC_PTR(float) verts;                // (V, 3)
  SC_PTR(float) normals;              // (V, 3) when with_normals
  SC_PTR(float) out_colors;           // (V, channels) when grid.channels
  SC_PTR(int) faces;                  // (F, 3)
  unsigned int plane;                 // N1 * N2
  unsigned int tiles_per_plane;
  unsigned int tiles;                 // N0 * tiles_per_plane
  sc_i32 with_normals;
  sc_i32 check_totals;
};

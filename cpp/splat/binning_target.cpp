// The tile binning's per-Gaussian loops for one CPU target
// (core/target_unit.h; the interface is splat/binning_kernels.h).
//
// The ellipse-tile test (sc_tile_reached, kernels/tile_binning.h) runs on
// batches of candidate (Gaussian, tile) pairs, one per tile of each
// Gaussian's tile box, gathered into arrays (structure of arrays) so that the
// test is one loop over independent lanes the compiler vectorises for the
// target's registers; the tiles that pass are then copied out in order. Most
// Gaussians of a scene reach 1 to 4 tiles, so a loop over one Gaussian's
// tiles would be too short to vectorise.
#include "core/target_unit.h"

#include "kernels/tile_binning.h"
#include "splat/binning_kernels.h"

namespace {

constexpr int kBatch = 256;  // candidate pairs tested at a time

template <typename T>
struct Batch {
  T mx[kBatch], my[kBatch], A[kBatch], B[kBatch], C[kBatch], limit[kBatch];
  int box0[kBatch], box1[kBatch], box2[kBatch], box3[kBatch], tx[kBatch], ty[kBatch];
  uint32_t tile[kBatch];
  int64_t g[kBatch];
  unsigned char hit[kBatch];
  int n = 0;
};

// Tests the batch's candidates and appends the tiles that pass to out (the
// batch holds them in Gaussian order, tiles in increasing order within one).
template <typename T>
void flush(Batch<T>& b, int ts, uint32_t* out, int64_t& used, int64_t* counts) {
  const int n = b.n;
  for (int k = 0; k < n; ++k) {  // independent lanes: the shared test, vectorised
    const int box[4] = {b.box0[k], b.box1[k], b.box2[k], b.box3[k]};
    b.hit[k] = sc_tile_reached(b.mx[k], b.my[k], b.A[k], b.B[k], b.C[k], b.limit[k], box, b.tx[k], b.ty[k], ts);
  }
  for (int k = 0; k < n; ++k)
    if (b.hit[k]) {
      out[used++] = b.tile[k];
      counts[b.g[k]]++;
    }
  b.n = 0;
}

template <typename T>
int64_t tile_lists(const T* means2d, const T* conics, const T* r2, const int32_t* radii, int64_t begin,
                   int64_t end, int64_t width, int64_t height, int64_t tile_size, int64_t tiles_x, uint32_t* out,
                   int64_t cap, int64_t* counts, int64_t* used, int64_t* need) {
  Batch<T> b;
  const int ts = (int)tile_size;
  int64_t u = 0, g = begin;
  *need = 0;
  for (; g < end; ++g) {
    counts[g] = 0;
    if (radii[2 * g] <= 0 && radii[2 * g + 1] <= 0) continue;
    const T* m = means2d + 2 * g;
    const T* c = conics + 3 * g;
    int box[4];
    if (!sc_footprint_pixel_box(m[0], m[1], c[0], c[1], c[2], r2[g], (int)width, (int)height, box)) continue;
    const int tx0 = box[0] / ts, tx1 = box[1] / ts, ty0 = box[2] / ts, ty1 = box[3] / ts;
    const int64_t most = (int64_t)(tx1 - tx0 + 1) * (ty1 - ty0 + 1);
    // every pending candidate may pass: room for them and all of this one's
    if (u + b.n + most > cap) {
      flush(b, ts, out, u, counts);
      if (u + most > cap) {
        *need = most;
        break;
      }
    }
    const T limit = sc_tile_limit(r2[g]);
    for (int ty = ty0; ty <= ty1; ++ty)
      for (int tx = tx0; tx <= tx1; ++tx) {
        const int k = b.n++;
        b.mx[k] = m[0], b.my[k] = m[1], b.A[k] = c[0], b.B[k] = c[1], b.C[k] = c[2], b.limit[k] = limit;
        b.box0[k] = box[0], b.box1[k] = box[1], b.box2[k] = box[2], b.box3[k] = box[3];
        b.tx[k] = tx, b.ty[k] = ty, b.tile[k] = (uint32_t)(ty * tiles_x + tx), b.g[k] = g;
        if (b.n == kBatch) flush(b, ts, out, u, counts);
      }
  }
  flush(b, ts, out, u, counts);
  *used = u;
  return g;
}

template <typename K>
void emit_keys(const uint32_t* tiles, const int64_t* emit_offset, const uint32_t* rank, int64_t begin, int64_t end,
               int rank_bits, K* keys, uint32_t* ids, uint32_t* gauss) {
  const int64_t base = emit_offset[begin];
  for (int64_t g = begin; g < end; ++g) {
    const K r = (K)rank[g];
    for (int64_t o = emit_offset[g]; o < emit_offset[g + 1]; ++o) {
      keys[o] = ((K)tiles[o - base] << rank_bits) | r;
      ids[o] = (uint32_t)o;
      gauss[o] = (uint32_t)g;
    }
  }
}

const sc::BinningTables kTables = {SC_TARGET_STRING, {&tile_lists<float>}, {&tile_lists<double>},
                                   {&emit_keys<uint32_t>}, {&emit_keys<uint64_t>}};

}  // namespace

namespace sc {
const BinningTables& SC_TARGET_TABLE(binning_kernels)() { return kTables; }
}  // namespace sc

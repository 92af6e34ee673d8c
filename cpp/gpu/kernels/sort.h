// The GPU radix sort: stable LSD over 8-bit digits of uint32 keys with uint32
// values, reduce-then-scan (no decoupled look-back: Apple GPUs give no
// forward-progress guarantee between groups). A pass is three launches:
//   radix_count   each group counts the digits of its tile (SC_SORT_SCATTER_TILE keys);
//   scan_u32_*    the (digit, group) counts, digit-major, are exclusive-scanned;
//   radix_scatter each group ranks its keys stably (ballots of the digit bits
//                 give, per SIMD group, the earlier lanes with the same digit;
//                 each SIMD group keeps its own digit histogram),
//                 sorts its tile by digit in shared memory, and writes it out in
//                 that order at the scanned offsets (coalesced writes).
// Tiles of 12 keys a thread: on an H100, 10M / 100M pairs took 0.859 / 6.76 ms,
// with 8 a thread 0.872 / 7.68 and with 15 0.964 / 8.41 (reading the values
// only when the tile is stored, as before, was no faster).
#pragma once
#include "gpu/kernels/sort_args.h"

// Where the thread sits: its slot in the group, the group, its SIMD lane and group.
struct ScSortThread {
  unsigned int tid, group, groups, lane, warp;
};

SC_GROUP_FN void sc_radix_count(SC_ARGS_REF(ScRadixArgs) args, ScSortThread th, SC_THREADGROUP unsigned int* hist) {
  for (unsigned int d = th.tid; d < SC_SORT_DIGITS; d += SC_SORT_GROUP) hist[d] = 0u;
  SC_BARRIER();
  const unsigned int base = th.group * SC_SORT_SCATTER_TILE;
  for (unsigned int k = 0; k < SC_SORT_SCATTER_ITEMS; ++k) {
    const unsigned int i = base + k * SC_SORT_GROUP + th.tid;
    if (i < args.n) sc_atomic_add(&hist[(args.keys_in[i] >> args.shift) & args.mask], 1u);
  }
  SC_BARRIER();
  for (unsigned int d = th.tid; d < SC_SORT_DIGITS; d += SC_SORT_GROUP)
    args.counts[d * th.groups + th.group] = hist[d];
}

// Each SIMD group ranks its own contiguous run of 32 x SC_SORT_SCATTER_ITEMS keys of the
// tile, round by round, against a histogram of its own in shared memory (SIMD
// barriers only); one group barrier later, thread d turns digit d's per-SIMD-group
// counts into offsets and the tile's digit starts are scanned. A key's slot in
// the tile is then digit start + its SIMD group's offset + its rank in the
// group: index order within each digit (stable). The slots are computed into
// registers first, so that the tile's values can then overwrite the SIMD-group
// histograms and digit starts (`scratch`: max(tile, (SIMD groups + 1) x digits)
// words), which keeps a tile of 3072 pairs within 32 KB (Apple GPUs' limit).
SC_GROUP_FN void sc_radix_scatter(SC_ARGS_REF(ScRadixArgs) args, ScSortThread th, SC_THREADGROUP unsigned int* scratch,
                                  SC_THREADGROUP unsigned int* global_off, SC_THREADGROUP unsigned int* warp_sums,
                                  SC_THREADGROUP unsigned int* tile_keys) {
  SC_THREADGROUP unsigned int* whist = scratch;
  SC_THREADGROUP unsigned int* tile_start = scratch + SC_SORT_WARPS * SC_SORT_DIGITS;
  const unsigned int warp = th.warp, lane = th.lane;
  const unsigned int tile_size = SC_SORT_SCATTER_TILE;
  SC_THREADGROUP unsigned int* hist = whist + warp * SC_SORT_DIGITS;
  for (unsigned int d = lane; d < SC_SORT_DIGITS; d += 32u) hist[d] = 0u;
  SC_SIMD_BARRIER();
  const unsigned int lanes_below = (1u << lane) - 1u;
  const unsigned int digit_bits = sc_popcount(args.mask);  // the pass's bits: fewer ballots on a short last pass
  const unsigned int base = th.group * tile_size + warp * 32u * SC_SORT_SCATTER_ITEMS;
  unsigned int my_key[SC_SORT_SCATTER_ITEMS], my_slot[SC_SORT_SCATTER_ITEMS], my_value[SC_SORT_SCATTER_ITEMS];
  // 1. Rank every key among its SIMD group's earlier keys of its digit.
  for (unsigned int k = 0; k < SC_SORT_SCATTER_ITEMS; ++k) {
    const unsigned int i = base + k * 32u + lane;
    const bool valid = i < args.n;
    const unsigned int key = valid ? args.keys_in[i] : 0u;
    my_value[k] = valid ? args.values_in[i] : 0u;
    const unsigned int digit = valid ? ((key >> args.shift) & args.mask) : SC_SORT_DIGITS;
    // Lanes of this SIMD group holding the same digit: AND of the ballots of its bits
    // (CUDA's __match_any_sync does it in one instruction, but on the H200 the sort
    // took 1.36x as long with it here and in radix_count: 10M pairs 1.00 ms, not 0.74).
    unsigned int same = sc_simd_ballot(valid);
    for (unsigned int b = 0; b < digit_bits; ++b) {
      const unsigned int bit = sc_simd_ballot(((digit >> b) & 1u) != 0u);
      same &= ((digit >> b) & 1u) ? bit : ~bit;
    }
    const unsigned int rank = sc_popcount(same & lanes_below);
    const unsigned int before = valid ? hist[digit] : 0u;
    SC_SIMD_BARRIER();  // every lane has read the count before the digit's lowest lane adds to it
    if (valid && rank == 0u) hist[digit] = before + sc_popcount(same);
    SC_SIMD_BARRIER();
    my_key[k] = key;
    my_slot[k] = before + rank;
  }
  SC_BARRIER();
  // 2. Thread d: digit d's SIMD-group counts -> offsets, and the digit's tile total;
  // then the tile's digit starts, an exclusive scan of the totals.
  const unsigned int d = th.tid;  // SC_SORT_GROUP == SC_SORT_DIGITS
  unsigned int total = 0u;
  for (unsigned int w = 0; w < SC_SORT_WARPS; ++w) {
    const unsigned int c = whist[w * SC_SORT_DIGITS + d];
    whist[w * SC_SORT_DIGITS + d] = total;
    total += c;
  }
  const unsigned int in_warp = sc_simd_prefix_exclusive_sum(total);
  if (lane == 31u) warp_sums[warp] = in_warp + total;
  SC_BARRIER();
  unsigned int before_warps = 0u;
  for (unsigned int w = 0; w < warp; ++w) before_warps += warp_sums[w];
  const unsigned int start = before_warps + in_warp;
  tile_start[d] = start;
  // digit d's global offset less its tile start: a slot of digit d goes to
  // slot + global_off[d] (read once here, not once per key)
  global_off[d] = args.counts[d * th.groups + th.group] - start;
  SC_BARRIER();
  // 3. Each key's slot, then (the histograms no longer read) keys and values in slot order.
  for (unsigned int k = 0; k < SC_SORT_SCATTER_ITEMS; ++k) {
    const unsigned int digit = (my_key[k] >> args.shift) & args.mask;
    my_slot[k] += tile_start[digit] + hist[digit];
  }
  SC_BARRIER();
  SC_THREADGROUP unsigned int* tile_values = scratch;
  for (unsigned int k = 0; k < SC_SORT_SCATTER_ITEMS; ++k) {
    if (base + k * 32u + lane >= args.n) continue;
    tile_keys[my_slot[k]] = my_key[k];
    tile_values[my_slot[k]] = my_value[k];
  }
  SC_BARRIER();
  // 4. Written out in slot order: neighbouring slots of one digit land in
  // neighbouring addresses (coalesced), at the digit's scanned global offset.
  const unsigned int tile_base = th.group * tile_size;
  const unsigned int in_tile = args.n - tile_base < tile_size ? args.n - tile_base : tile_size;
  for (unsigned int k = 0; k < SC_SORT_SCATTER_ITEMS; ++k) {
    const unsigned int slot = k * SC_SORT_GROUP + th.tid;
    if (slot >= in_tile) continue;
    const unsigned int key = tile_keys[slot];
    const unsigned int pos = global_off[(key >> args.shift) & args.mask] + slot;
    args.keys_out[pos] = key;
    args.values_out[pos] = tile_values[slot];
  }
}

#define SC_SORT_THREAD      \
  ScSortThread th;          \
  th.tid = SC_TID_X;        \
  th.group = SC_GID_X;      \
  th.groups = SC_NGROUPS_X; \
  th.lane = SC_LANE;        \
  th.warp = SC_SIMD_ID;
// radix_scatter's scratch words: the tile's values, or before them the SIMD-group histograms and digit starts
#define SC_SORT_SCRATCH                                                                   \
  (SC_SORT_SCATTER_TILE > (SC_SORT_WARPS + 1) * SC_SORT_DIGITS ? SC_SORT_SCATTER_TILE \
                                                               : (SC_SORT_WARPS + 1) * SC_SORT_DIGITS)

SC_KERNEL(radix_count, ScRadixArgs) {
  SC_SHARED(unsigned int, hist, SC_SORT_DIGITS);
  SC_SORT_THREAD
  sc_radix_count(args, th, hist);
}
SC_KERNEL(radix_scatter, ScRadixArgs) {
  SC_SHARED(unsigned int, scratch, SC_SORT_SCRATCH);
  SC_SHARED(unsigned int, global_off, SC_SORT_DIGITS);
  SC_SHARED(unsigned int, warp_sums, SC_SORT_WARPS);
  SC_SHARED(unsigned int, tile_keys, SC_SORT_SCATTER_TILE);
  SC_SORT_THREAD
  sc_radix_scatter(args, th, scratch, global_off, warp_sums, tile_keys);
}

// Exclusive scan of each tile of SC_SORT_TILE elements; the tile's total goes to sums.
SC_KERNEL(scan_u32_tiles, ScScanU32Args) {
  SC_SHARED(unsigned int, warp_sums, SC_SORT_GROUP / 32);
  const unsigned int base = SC_GID_X * SC_SORT_TILE + SC_TID_X * SC_SORT_ITEMS;
  unsigned int v[SC_SORT_ITEMS];
  unsigned int local = 0u;
  for (unsigned int k = 0; k < SC_SORT_ITEMS; ++k) {
    v[k] = base + k < args.n ? args.data[base + k] : 0u;
    local += v[k];
  }
  const unsigned int in_warp = sc_simd_prefix_exclusive_sum(local);
  if (SC_LANE == 31u) warp_sums[SC_SIMD_ID] = in_warp + local;
  SC_BARRIER();
  unsigned int before = 0u, total = 0u;
  for (unsigned int w = 0; w < SC_SORT_GROUP / 32; ++w) {
    if (w < SC_SIMD_ID) before += warp_sums[w];
    total += warp_sums[w];
  }
  unsigned int run = before + in_warp;
  for (unsigned int k = 0; k < SC_SORT_ITEMS; ++k) {
    if (base + k < args.n) args.data[base + k] = run;
    run += v[k];
  }
  if (SC_TID_X == 0) args.sums[SC_GID_X] = total;
}

// Adds each tile's scanned offset (sums, already exclusive-scanned) to its elements.
SC_KERNEL(scan_u32_add, ScScanU32Args) {
  const unsigned int i = SC_GID_X * SC_SORT_TILE + SC_TID_X;
  const unsigned int add = args.sums[SC_GID_X];
  for (unsigned int k = 0; k < SC_SORT_ITEMS; ++k)
    if (i + k * SC_SORT_GROUP < args.n) args.data[i + k * SC_SORT_GROUP] += add;
}

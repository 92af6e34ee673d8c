// The GPU radix sort: stable LSD over 8-bit digits of uint32 keys with uint32
// values, reduce-then-scan (no decoupled look-back: Apple GPUs give no
// forward-progress guarantee between groups). A pass is three launches:
//   radix_count   each group counts the digits of its tile of 1024 keys;
//   scan_u32_*    the (digit, group) counts, digit-major, are exclusive-scanned;
//   radix_scatter each group ranks its keys stably (ballots of the digit bits
//                 give, per SIMD group, the earlier lanes with the same digit)
//                 and writes them at the scanned offsets.
#pragma once
#include "gpu/kernels/sort_args.h"

SC_KERNEL(radix_count, ScRadixArgs) {
  SC_SHARED(unsigned int, hist, SC_SORT_DIGITS);
  for (unsigned int d = SC_TID_X; d < SC_SORT_DIGITS; d += SC_SORT_GROUP) hist[d] = 0u;
  SC_BARRIER();
  const unsigned int base = SC_GID_X * SC_SORT_TILE;
  for (unsigned int k = 0; k < SC_SORT_ITEMS; ++k) {
    const unsigned int i = base + k * SC_SORT_GROUP + SC_TID_X;
    if (i < args.n) sc_atomic_add(&hist[(args.keys_in[i] >> args.shift) & args.mask], 1u);
  }
  SC_BARRIER();
  for (unsigned int d = SC_TID_X; d < SC_SORT_DIGITS; d += SC_SORT_GROUP)
    args.counts[d * SC_NGROUPS_X + SC_GID_X] = hist[d];
}

SC_KERNEL(radix_scatter, ScRadixArgs) {
  SC_SHARED(unsigned int, offset, SC_SORT_DIGITS);                        // next slot per digit
  SC_SHARED(unsigned int, warp_counts, (SC_SORT_GROUP / 32) * SC_SORT_DIGITS);
  const unsigned int warp = SC_SIMD_ID, lane = SC_LANE;
  for (unsigned int d = SC_TID_X; d < SC_SORT_DIGITS; d += SC_SORT_GROUP)
    offset[d] = args.counts[d * SC_NGROUPS_X + SC_GID_X];
  const unsigned int lanes_below = (1u << lane) - 1u;
  const unsigned int base = SC_GID_X * SC_SORT_TILE;
  for (unsigned int k = 0; k < SC_SORT_ITEMS; ++k) {
    // Keys in index order: round k, then thread order.
    const unsigned int i = base + k * SC_SORT_GROUP + SC_TID_X;
    const bool valid = i < args.n;
    const unsigned int key = valid ? args.keys_in[i] : 0u;
    const unsigned int digit = valid ? ((key >> args.shift) & args.mask) : SC_SORT_DIGITS;
    // Lanes of this SIMD group holding the same digit: AND of the ballots of its bits.
    unsigned int same = sc_simd_ballot(valid);
    for (unsigned int b = 0; b < (unsigned int)SC_SORT_DIGIT_BITS; ++b) {
      const unsigned int bit = sc_simd_ballot(((digit >> b) & 1u) != 0u);
      same &= ((digit >> b) & 1u) ? bit : ~bit;
    }
    if (!valid) same = 0u;
    const unsigned int rank = sc_popcount(same & lanes_below);
    for (unsigned int d = lane; d < SC_SORT_DIGITS; d += 32u) warp_counts[warp * SC_SORT_DIGITS + d] = 0u;
    SC_BARRIER();
    // The lowest lane of each digit publishes the SIMD group's count of it.
    if (valid && rank == 0u) warp_counts[warp * SC_SORT_DIGITS + digit] = sc_popcount(same);
    SC_BARRIER();
    if (valid) {
      unsigned int before = 0u;
      for (unsigned int w = 0; w < warp; ++w) before += warp_counts[w * SC_SORT_DIGITS + digit];
      const unsigned int pos = offset[digit] + before + rank;
      args.keys_out[pos] = key;
      args.values_out[pos] = args.values_in[i];
    }
    SC_BARRIER();
    for (unsigned int d = SC_TID_X; d < SC_SORT_DIGITS; d += SC_SORT_GROUP) {
      unsigned int total = 0u;
      for (unsigned int w = 0; w < SC_SORT_GROUP / 32; ++w) total += warp_counts[w * SC_SORT_DIGITS + d];
      offset[d] += total;
    }
    SC_BARRIER();
  }
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

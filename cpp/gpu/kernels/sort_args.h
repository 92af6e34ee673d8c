// Argument structs of the GPU radix sort and scan (gpu/kernels/sort.h).
#pragma once
#include "gpu/dialect.h"

#define SC_SORT_GROUP 256
#define SC_SORT_ITEMS 8                                   // scan: elements per thread
#define SC_SORT_TILE (SC_SORT_GROUP * SC_SORT_ITEMS)      // scan: elements per group
#define SC_SORT_SCATTER_ITEMS 12                          // sort: keys per thread
#define SC_SORT_SCATTER_TILE (SC_SORT_GROUP * SC_SORT_SCATTER_ITEMS)  // sort: keys per group
#define SC_SORT_DIGIT_BITS 8
#define SC_SORT_DIGITS (1 << SC_SORT_DIGIT_BITS)            // 8-bit digits: 4 passes for 32 bits
#define SC_SORT_WARPS (SC_SORT_GROUP / 32)                  // SIMD groups per group
#if SC_SORT_GROUP != SC_SORT_DIGITS
#error "radix_scatter gives each thread of a group one digit: SC_SORT_GROUP must equal SC_SORT_DIGITS"
#endif

// One pass of the LSD radix sort over the digit at `shift`.
struct ScRadixArgs {
  SC_PTR(const unsigned int) keys_in;
  SC_PTR(const unsigned int) values_in;
  SC_PTR(unsigned int) keys_out;
  SC_PTR(unsigned int) values_out;
  SC_PTR(unsigned int) counts;   // (digits, groups), digit-major; exclusive-scanned between kernels
  unsigned int n, shift, mask;   // mask: the digit's bits that lie inside [begin_bit, end_bit)
};

// Exclusive prefix sum of n uint32 (tiles of SC_SORT_TILE), block totals in `sums`.
struct ScScanU32Args {
  SC_PTR(unsigned int) data;
  SC_PTR(unsigned int) sums;
  unsigned int n;
};

// What the bit-identity tools (target_bits.cpp, loops_bits.cpp) share: a digest
// of output arrays (FNV-1a over their bytes, compared across architectures) and
// an exact comparison of two runs' arrays.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

template <typename V>
void fnv(uint64_t& h, const V& v) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(v.data());
  for (size_t i = 0; i < v.size() * sizeof(v[0]); ++i) h = (h ^ p[i]) * 1099511628211ull;
}

template <typename T>
bool same(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || !std::memcmp(a.data(), b.data(), a.size() * sizeof(T)));
}

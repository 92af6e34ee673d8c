// Reader for the safetensors format (Hugging Face):
//
//   [8 bytes: N, little-endian uint64][N bytes: JSON header][data section]
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets":
// [begin, end]} (byte offsets relative to the start of the data section) and
// may hold "__metadata__": an object of string -> string.
//
// The file is opened and its whole header validated at construction; tensor()
// then reads that tensor's bytes (pread) into memory the tensor owns. Files
// are not memory-mapped: with a mapping, a file truncated or rewritten by
// another process after it was opened kills this one with SIGBUS at the next
// access; a read that comes back short is a ValueError instead. Cost: each
// tensor() call is one copy out of the page cache (GB/s) and what is kept is
// private memory (the float32 MASt3R file read as stored: 2.75 GB; kept as
// float16: 1.4 GB plus one float32 tensor at a time while converting).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace sc {

struct SafetensorsEntry {
  std::string name;
  std::string st_dtype;  // the dtype code in the file: "F32", "BF16", ...
  bool supported = false;  // st_dtype maps onto a splatcore DType
  DType dtype = DType::Float32;  // valid when supported
  size_t itemsize = 0;
  Shape shape;
  uint64_t begin = 0, end = 0;  // relative to the data section
  uint64_t nbytes() const { return end - begin; }
};

struct SafetensorsSource;  // the open file tensors are read from

class SafetensorsFile {
 public:
  // Limits applied to the header (hostile files must not exhaust memory).
  static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // 100 MiB
  static constexpr int kMaxDepth = 64;   // JSON nesting depth
  static constexpr int kMaxRank = 64;    // dimensions of one tensor

  // FileNotFound when the file is missing; ValueError naming the path and
  // the problem for anything that is not a valid safetensors file.
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return path_; }
  size_t size() const { return entries_.size(); }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // Names in the order of the header.
  std::vector<std::string> names() const;
  // ValueError when `name` is not in the file.
  const SafetensorsEntry& info(const std::string& name) const;
  const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }

  // The tensor's bytes, read from the file into memory it owns (writable,
  // aligned). TypeError for dtypes the format knows but splatcore has no type
  // for; ValueError naming the file when it no longer holds the bytes
  // (truncated since it was opened).
  Tensor tensor(const std::string& name) const;
  // tensor(name) converted to `dtype` (float16/bfloat16 -> float32, ...).
  Tensor tensor_as(const std::string& name, DType dtype) const;

  uint64_t file_size() const;  // when it was opened
  uint64_t data_offset() const { return data_offset_; }  // 8 + header length

 private:
  std::string path_;
  std::shared_ptr<SafetensorsSource> src_;
  uint64_t data_offset_ = 0;
  std::vector<SafetensorsEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<std::pair<std::string, std::string>> metadata_;
};

}  // namespace sc

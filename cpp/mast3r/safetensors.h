// Reader for the safetensors format (Hugging Face):
//
//   [8 bytes: N, little-endian uint64][N bytes: JSON header][data section]
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets":
// [begin, end]} (byte offsets relative to the start of the data section) and
// may hold "__metadata__": an object of string -> string.
//
// The file is memory-mapped (POSIX mmap; read into memory on Windows), the
// whole header is validated when the file is opened, and tensor() returns
// zero-copy views into the mapping: every view's Storage keeps the mapping
// alive, so tensors stay valid after the SafetensorsFile is gone.
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

struct SafetensorsMapping;  // the mapped (or read) bytes of one file

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

  // A read-only view of the tensor's bytes in the mapping (no copy). Data
  // the file does not align to the item size is copied into aligned memory.
  // TypeError for dtypes the format knows but splatcore has no type for.
  Tensor tensor(const std::string& name) const;
  // tensor(name) converted to `dtype` (float16/bfloat16 -> float32, ...);
  // the zero-copy view itself when the dtype already matches.
  Tensor tensor_as(const std::string& name, DType dtype) const;

  // Drops the file pages holding `name`'s bytes from this process's resident
  // set (madvise MADV_DONTNEED on the whole pages inside its byte range). The
  // bytes stay readable (a later access maps them again from the page cache or
  // the file); for a checkpoint converted tensor by tensor (float32 file kept
  // as float16), so that the mapping does not add the whole file to the peak
  // RSS. No-op when the file was read into memory.
  void evict(const std::string& name) const;

  uint64_t file_size() const;
  uint64_t data_offset() const { return data_offset_; }  // 8 + header length
  bool is_mapped() const;  // false when the file was read into memory

 private:
  std::string path_;
  std::shared_ptr<SafetensorsMapping> map_;
  uint64_t data_offset_ = 0;
  std::vector<SafetensorsEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<std::pair<std::string, std::string>> metadata_;
};

}  // namespace sc

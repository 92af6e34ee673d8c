#include "mast3r/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <mutex>
#include <vector>

#ifdef _WIN32
#include <sys/stat.h>
#else
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "core/errors.h"

namespace sc {

// ---------------------------------------------------------------------------
// The open file. Tensors are read from it on request into memory we own
// (pread), never memory-mapped: a mapped file that another process truncates
// or rewrites turns the next access into SIGBUS, which no check can catch. A
// read that comes back short is a ValueError naming the file instead. The
// cost is one copy per tensor read (from the page cache) and private memory
// for what is kept (see safetensors.h).
// ---------------------------------------------------------------------------
struct SafetensorsSource {
  std::string path;
  uint64_t size = 0;  // at open
#ifdef _WIN32
  std::mutex mu;  // one stream, one position
  std::ifstream in;
#else
  int fd = -1;
#endif

  SafetensorsSource() = default;
  SafetensorsSource(const SafetensorsSource&) = delete;
  SafetensorsSource& operator=(const SafetensorsSource&) = delete;
  ~SafetensorsSource() {
#ifndef _WIN32
    if (fd >= 0) ::close(fd);
#endif
  }

  // Reads n bytes at `offset` into dst; ValueError when the file no longer
  // holds them.
  void read(uint64_t offset, void* dst, uint64_t n) const;
};

namespace {

const char* kPthHint =
    "this looks like a PyTorch checkpoint (.pth/.pt: a zip archive or a pickle), not a "
    "safetensors file; use the `model.safetensors` from the Hugging Face repo "
    "`naver/MASt3R_ViTLarge_BaseDecoder_512_catmlpdpt_metric` (splatcore.mast3r.download() "
    "fetches it)";

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw ValueError("safetensors: " + path + ": " + what);
}

[[noreturn]] void short_read(const std::string& path, uint64_t offset, uint64_t want,
                             uint64_t got, uint64_t size_at_open) {
  fail(path, "read " + std::to_string(got) + " of " + std::to_string(want) + " bytes at offset " +
                 std::to_string(offset) + ": the file is shorter than the " +
                 std::to_string(size_at_open) +
                 " bytes it had when it was opened (truncated or rewritten since?)");
}

std::shared_ptr<SafetensorsSource> open_file(const std::string& path) {
  auto m = std::make_shared<SafetensorsSource>();
  m->path = path;
#ifdef _WIN32
  struct _stat64 st;
  if (_stat64(path.c_str(), &st) != 0) {
    if (errno == ENOENT) throw FileNotFound("safetensors: no such file: " + path);
    fail(path, std::string("cannot stat the file: ") + std::strerror(errno));
  }
  if ((st.st_mode & _S_IFMT) != _S_IFREG) fail(path, "not a regular file");
  m->in.open(path, std::ios::binary);
  if (!m->in) fail(path, "cannot open the file for reading");
  m->size = (uint64_t)st.st_size;
#else
  int fd;
  do {
    // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused
    // as not a regular file); reads of regular files ignore the flag.
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) throw FileNotFound("safetensors: no such file: " + path);
    fail(path, std::string("cannot open the file: ") + std::strerror(e));
  }
  m->fd = fd;  // closed by ~SafetensorsSource from here on
  struct stat st;
  if (::fstat(fd, &st) != 0) fail(path, std::string("cannot stat the file: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    fail(path, S_ISDIR(st.st_mode) ? "is a directory, not a safetensors file" : "not a regular file");
  m->size = (uint64_t)st.st_size;
#endif
  if (m->size == 0) fail(path, "empty file (a safetensors file starts with an 8-byte header length)");
  return m;
}

}  // namespace

void SafetensorsSource::read(uint64_t offset, void* dst, uint64_t n) const {
  uint64_t done = 0;
  char* out = static_cast<char*>(dst);
#ifdef _WIN32
  std::lock_guard<std::mutex> lock(const_cast<std::mutex&>(mu));
  auto& f = const_cast<std::ifstream&>(in);
  f.clear();
  f.seekg((std::streamoff)offset);
  f.read(out, (std::streamsize)n);
  done = f ? n : (uint64_t)f.gcount();
#else
  while (done < n) {
    size_t chunk = (size_t)std::min<uint64_t>(n - done, 1ull << 30);
    ssize_t r = ::pread(fd, out + done, chunk, (off_t)(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(path, std::string("read error: ") + std::strerror(errno));
    if (r == 0) break;  // end of file
    done += (uint64_t)r;
  }
#endif
  if (done != n) short_read(path, offset, n, done, size);
}

namespace {

// ---------------------------------------------------------------------------
// A small JSON reader for the header: objects, arrays, strings (with escapes)
// and non-negative integers; anything else (floats, true/false/null) is an
// error, as the format never uses it.
// ---------------------------------------------------------------------------
class JsonReader {
 public:
  JsonReader(const std::string& path, const char* begin, const char* end, int max_depth)
      : path_(path), begin_(begin), p_(begin), end_(end), max_depth_(max_depth) {}

  [[noreturn]] void error(const std::string& what) const {
    fail(path_, "bad header JSON at byte " + std::to_string((uint64_t)(p_ - begin_)) + " of " +
                    std::to_string((uint64_t)(end_ - begin_)) + ": " + what);
  }

  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool at_end() const { return p_ >= end_; }
  char peek() const { return p_ < end_ ? *p_ : '\0'; }

  void expect(char c, const char* context) {
    ws();
    if (p_ >= end_) error(std::string("header ends where '") + c + "' was expected " + context);
    if (*p_ != c) error(std::string("expected '") + c + "' " + context + ", got " + describe());
    ++p_;
  }

  // After a member: true when another member follows (','), false at the closer.
  bool next_member(char closer, const char* context) {
    ws();
    if (p_ >= end_) error(std::string("header ends inside ") + context);
    if (*p_ == ',') {
      ++p_;
      return true;
    }
    if (*p_ == closer) {
      ++p_;
      return false;
    }
    error(std::string("expected ',' or '") + closer + "' in " + context + ", got " + describe());
  }

  // True (and consumes it) when the next token is `c`.
  bool consume(char c) {
    ws();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }

  std::string string() {
    ws();
    if (p_ >= end_) error("header ends where a string was expected");
    if (*p_ != '"') error("expected a string, got " + describe());
    ++p_;
    std::string out;
    while (true) {
      if (p_ >= end_) error("unterminated string");
      unsigned char c = (unsigned char)*p_;
      if (c == '"') {
        ++p_;
        return out;
      }
      if (c < 0x20) error("control character in a string (must be escaped)");
      if (c == '\\') {
        ++p_;
        if (p_ >= end_) error("unterminated escape in a string");
        char e = *p_++;
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            uint32_t cp = hex4();
            if (cp >= 0xD800 && cp <= 0xDBFF) {  // high surrogate: a low one must follow
              if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u')
                error("unpaired UTF-16 surrogate in a \\u escape");
              p_ += 2;
              uint32_t lo = hex4();
              if (lo < 0xDC00 || lo > 0xDFFF) error("unpaired UTF-16 surrogate in a \\u escape");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
              error("unpaired UTF-16 surrogate in a \\u escape");
            }
            append_utf8(out, cp);
            break;
          }
          default:
            --p_;
            error(std::string("invalid escape '\\") + printable(e) + "' in a string");
        }
        continue;
      }
      if (c < 0x80) {
        out += (char)c;
        ++p_;
        continue;
      }
      // A multi-byte UTF-8 sequence: validate it (names reach Python as str).
      int n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
      if (n == 0 || c > 0xF4) error("invalid UTF-8 in a string");
      if (end_ - p_ < n) error("truncated UTF-8 sequence in a string");
      uint32_t cp = c & (0xFF >> (n + 1));
      for (int i = 1; i < n; ++i) {
        unsigned char cc = (unsigned char)p_[i];
        if ((cc & 0xC0) != 0x80) error("invalid UTF-8 in a string");
        cp = (cp << 6) | (cc & 0x3F);
      }
      if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
          (cp >= 0xD800 && cp <= 0xDFFF))
        error("invalid UTF-8 in a string");
      out.append(p_, (size_t)n);
      p_ += n;
    }
  }

  // A non-negative integer that fits in uint64.
  uint64_t uint(const char* what) {
    ws();
    if (p_ >= end_) error(std::string("header ends where ") + what + " was expected");
    if (*p_ == '-') error(std::string(what) + " is negative");
    if (*p_ < '0' || *p_ > '9') error(std::string("expected an integer for ") + what + ", got " + describe());
    const char* start = p_;
    uint64_t v = 0;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
      uint64_t d = (uint64_t)(*p_ - '0');
      if (v > (std::numeric_limits<uint64_t>::max() - d) / 10)
        error(std::string(what) + " does not fit in 64 bits");
      v = v * 10 + d;
      ++p_;
    }
    if (p_ - start > 1 && *start == '0') error(std::string("leading zero in ") + what);
    if (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E'))
      error(std::string("expected an integer for ") + what + ", got a floating-point number");
    return v;
  }

  // Skips any value made of objects, arrays, strings and integers (unknown
  // members of a tensor entry), bounded in depth.
  void skip(int depth) {
    if (depth > max_depth_)
      error("nesting deeper than " + std::to_string(max_depth_) + " levels");
    ws();
    if (p_ >= end_) error("header ends where a value was expected");
    char c = *p_;
    if (c == '{') {
      ++p_;
      if (consume('}')) return;
      do {
        string();
        expect(':', "after an object key");
        skip(depth + 1);
      } while (next_member('}', "an object"));
    } else if (c == '[') {
      ++p_;
      if (consume(']')) return;
      do {
        skip(depth + 1);
      } while (next_member(']', "an array"));
    } else if (c == '"') {
      string();
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      if (c == '-') ++p_;
      uint("an integer");
    } else {
      error("unsupported JSON value " + describe() +
            " (the safetensors header holds only objects, arrays, strings and integers)");
    }
  }

  std::string describe() const {
    if (p_ >= end_) return "the end of the header";
    char c = *p_;
    if (c == 't' || c == 'f' || c == 'n') return "a true/false/null literal";
    if (c == '{') return "an object";
    if (c == '[') return "an array";
    if (c == '"') return "a string";
    if (c == '-' || (c >= '0' && c <= '9')) return "a number";
    return std::string("'") + printable(c) + "'";
  }

 private:
  static std::string printable(char c) {
    unsigned char u = (unsigned char)c;
    if (u >= 0x20 && u < 0x7F) return std::string(1, c);
    static const char* hex = "0123456789abcdef";
    return std::string("\\x") + hex[u >> 4] + hex[u & 15];
  }
  uint32_t hex4() {
    if (end_ - p_ < 4) error("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char h = *p_++;
      v <<= 4;
      if (h >= '0' && h <= '9') v |= (uint32_t)(h - '0');
      else if (h >= 'a' && h <= 'f') v |= (uint32_t)(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= (uint32_t)(h - 'A' + 10);
      else error("invalid hex digit in a \\u escape");
    }
    return v;
  }
  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += (char)cp;
    } else if (cp < 0x800) {
      out += (char)(0xC0 | (cp >> 6));
      out += (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += (char)(0xE0 | (cp >> 12));
      out += (char)(0x80 | ((cp >> 6) & 0x3F));
      out += (char)(0x80 | (cp & 0x3F));
    } else {
      out += (char)(0xF0 | (cp >> 18));
      out += (char)(0x80 | ((cp >> 12) & 0x3F));
      out += (char)(0x80 | ((cp >> 6) & 0x3F));
      out += (char)(0x80 | (cp & 0x3F));
    }
  }

  const std::string& path_;
  const char* begin_;
  const char* p_;
  const char* end_;
  int max_depth_;
};

struct DTypeInfo {
  const char* code;
  size_t itemsize;
  bool supported;
  DType dtype;
};

// The dtype codes of the format. Those without a splatcore type are accepted
// in the header (sizes checked) and refused only when the tensor is read.
const DTypeInfo kDTypes[] = {
    {"F32", 4, true, DType::Float32},   {"F16", 2, true, DType::Float16},
    {"BF16", 2, true, DType::BFloat16}, {"F64", 8, true, DType::Float64},
    {"I64", 8, true, DType::Int64},     {"I32", 4, true, DType::Int32},
    {"U32", 4, true, DType::UInt32},    {"U8", 1, true, DType::UInt8},
    {"BOOL", 1, true, DType::Bool},     {"I8", 1, false, DType::UInt8},
    {"I16", 2, false, DType::UInt8},    {"U16", 2, false, DType::UInt8},
    {"U64", 8, false, DType::UInt8},    {"F8_E4M3", 1, false, DType::UInt8},
    {"F8_E5M2", 1, false, DType::UInt8}, {"F8_E8M0", 1, false, DType::UInt8},
    {"C64", 8, false, DType::UInt8},
};

const DTypeInfo* find_dtype(const std::string& code) {
  for (const auto& d : kDTypes)
    if (code == d.code) return &d;
  return nullptr;
}

std::string quote_name(const std::string& s) {
  // Names in messages: keep them short and printable.
  std::string out = "'";
  size_t n = 0;
  for (unsigned char c : s) {
    if (++n > 200) {
      out += "...";
      break;
    }
    out += (c >= 0x20 && c != 0x7F) ? (char)c : '?';
  }
  return out + "'";
}

bool looks_like_torch(const uint8_t* d, uint64_t size) {
  if (size >= 4 && d[0] == 'P' && d[1] == 'K' &&
      ((d[2] == 3 && d[3] == 4) || (d[2] == 5 && d[3] == 6) || (d[2] == 7 && d[3] == 8)))
    return true;  // zip archive (torch.save since 1.6)
  if (size >= 2 && d[0] == 0x80 && d[1] >= 1 && d[1] <= 5) return true;  // pickle protocol 2..5
  return false;
}

uint64_t read_le64(const uint8_t* d) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | d[i];
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  src_ = open_file(path);
  const uint64_t size = src_->size;
  // The first bytes (length, '{', or a PyTorch signature), then the header.
  std::vector<uint8_t> head((size_t)std::min<uint64_t>(size, 16));
  src_->read(0, head.data(), head.size());
  const uint8_t* d = head.data();

  // A plausible start: a header length that fits, then '{'. Anything else is
  // checked against the PyTorch formats first, for a helpful message.
  uint64_t n = size >= 8 ? read_le64(d) : 0;
  bool plausible = size >= 9 && n >= 2 && n <= size - 8 && d[8] == '{';
  if (!plausible && looks_like_torch(d, head.size())) fail(path, kPthHint);
  if (size < 8)
    fail(path, "file is " + std::to_string(size) +
                   " bytes, too short for the 8-byte header length (truncated?)");
  if (n > kMaxHeaderBytes && n > size - 8)
    fail(path, "header length " + std::to_string(n) + " exceeds file size " + std::to_string(size) +
                   " (not a safetensors file, or truncated)");
  if (n > kMaxHeaderBytes)
    fail(path, "header length " + std::to_string(n) + " exceeds the limit of " +
                   std::to_string(kMaxHeaderBytes) + " bytes");
  if (n > size - 8)
    fail(path, "header length " + std::to_string(n) + " exceeds file size " + std::to_string(size) +
                   " (truncated?)");
  if (n < 2) fail(path, "header length " + std::to_string(n) + " is too short for a JSON object");
  if (d[8] != '{')
    fail(path, "header does not start with '{' (not a safetensors file)");
  data_offset_ = 8 + n;
  const uint64_t data_size = size - data_offset_;
  head.resize((size_t)(8 + n));
  src_->read(0, head.data(), head.size());
  d = head.data();

  // ---- parse -----------------------------------------------------------
  JsonReader r(path, reinterpret_cast<const char*>(d + 8), reinterpret_cast<const char*>(d + 8 + n),
               kMaxDepth);
  bool have_metadata = false;
  r.expect('{', "at the start of the header");
  if (!r.consume('}')) {
    do {
      std::string key = r.string();
      r.expect(':', "after a tensor name");
      if (key == "__metadata__") {
        if (have_metadata) r.error("duplicate \"__metadata__\"");
        have_metadata = true;
        r.expect('{', "for \"__metadata__\" (an object of strings)");
        if (!r.consume('}')) {
          do {
            std::string k = r.string();
            r.expect(':', "after a metadata key");
            r.ws();
            if (r.peek() != '"')
              r.error("metadata value of " + quote_name(k) + " must be a string, got " + r.describe());
            metadata_.emplace_back(std::move(k), r.string());
          } while (r.next_member('}', "\"__metadata__\""));
        }
        continue;
      }
      if (index_.count(key)) r.error("duplicate tensor name " + quote_name(key));
      SafetensorsEntry e;
      e.name = key;
      bool has_dtype = false, has_shape = false, has_offsets = false;
      r.ws();
      if (r.peek() != '{')
        r.error("tensor " + quote_name(key) + ": expected an object, got " + r.describe());
      r.expect('{', "");
      if (!r.consume('}')) {
        do {
          std::string field = r.string();
          r.expect(':', "after a field name");
          if (field == "dtype") {
            if (has_dtype) r.error("tensor " + quote_name(key) + ": duplicate \"dtype\"");
            has_dtype = true;
            e.st_dtype = r.string();
          } else if (field == "shape") {
            if (has_shape) r.error("tensor " + quote_name(key) + ": duplicate \"shape\"");
            has_shape = true;
            r.expect('[', "for \"shape\"");
            if (!r.consume(']')) {
              do {
                if ((int)e.shape.size() >= kMaxRank)
                  r.error("tensor " + quote_name(key) + ": shape has more than " +
                          std::to_string(kMaxRank) + " dimensions");
                uint64_t v = r.uint("a shape dimension");
                if (v > (uint64_t)std::numeric_limits<int64_t>::max())
                  r.error("tensor " + quote_name(key) + ": shape dimension " + std::to_string(v) +
                          " is too large");
                e.shape.push_back((int64_t)v);
              } while (r.next_member(']', "\"shape\""));
            }
          } else if (field == "data_offsets") {
            if (has_offsets) r.error("tensor " + quote_name(key) + ": duplicate \"data_offsets\"");
            has_offsets = true;
            r.expect('[', "for \"data_offsets\"");
            e.begin = r.uint("a data offset");
            r.expect(',', "in \"data_offsets\" (expected [begin, end])");
            e.end = r.uint("a data offset");
            r.expect(']', "after \"data_offsets\" (expected [begin, end])");
          } else {
            r.skip(3);  // unknown field: tolerated, depth-limited
          }
        } while (r.next_member('}', "a tensor entry"));
      }
      if (!has_dtype) fail(path, "tensor " + quote_name(key) + " has no \"dtype\"");
      if (!has_shape) fail(path, "tensor " + quote_name(key) + " has no \"shape\"");
      if (!has_offsets) fail(path, "tensor " + quote_name(key) + " has no \"data_offsets\"");
      index_.emplace(key, entries_.size());
      entries_.push_back(std::move(e));
    } while (r.next_member('}', "the header object"));
  }
  r.ws();  // writers pad the header with spaces
  if (!r.at_end()) r.error("unexpected data after the header object");

  // ---- validate ----------------------------------------------------------
  for (auto& e : entries_) {
    const DTypeInfo* dt = find_dtype(e.st_dtype);
    if (!dt)
      fail(path, "tensor " + quote_name(e.name) + " has unknown dtype " + quote_name(e.st_dtype) +
                     " (known: F32, F16, BF16, F64, I64, I32, U32, U8, BOOL, I8, I16, U16, U64, "
                     "F8_E4M3, F8_E5M2, F8_E8M0, C64)");
    e.supported = dt->supported;
    e.dtype = dt->dtype;
    e.itemsize = dt->itemsize;
    // numel and byte size, with overflow checks (a zero dimension wins).
    bool empty = std::any_of(e.shape.begin(), e.shape.end(), [](int64_t v) { return v == 0; });
    uint64_t numel = 1;
    const uint64_t lim = (uint64_t)std::numeric_limits<int64_t>::max();
    if (!empty) {
      for (int64_t v : e.shape) {
        if ((uint64_t)v > lim / numel)
          fail(path, "tensor " + quote_name(e.name) + ": shape " + shape_str(e.shape) +
                         " has too many elements (overflows 64 bits)");
        numel *= (uint64_t)v;
      }
    } else {
      numel = 0;
    }
    if (numel > lim / e.itemsize)
      fail(path, "tensor " + quote_name(e.name) + ": shape " + shape_str(e.shape) +
                     " is too large (byte size overflows 64 bits)");
    uint64_t nbytes = numel * e.itemsize;
    if (e.end < e.begin)
      fail(path, "tensor " + quote_name(e.name) + ": data_offsets [" + std::to_string(e.begin) + ", " +
                     std::to_string(e.end) + "] end before begin");
    if (e.end > data_size)
      fail(path, "tensor " + quote_name(e.name) + ": data_offsets [" + std::to_string(e.begin) + ", " +
                     std::to_string(e.end) + "] exceed the data section of " +
                     std::to_string(data_size) + " bytes (truncated?)");
    if (e.end - e.begin != nbytes)
      fail(path, "tensor " + quote_name(e.name) + ": data_offsets [" + std::to_string(e.begin) + ", " +
                     std::to_string(e.end) + "] hold " + std::to_string(e.end - e.begin) +
                     " bytes, but " + e.st_dtype + " " + shape_str(e.shape) + " needs " +
                     std::to_string(nbytes));
  }
  // No two tensors may share bytes.
  std::vector<const SafetensorsEntry*> order;
  order.reserve(entries_.size());
  for (const auto& e : entries_)
    if (e.end > e.begin) order.push_back(&e);
  std::sort(order.begin(), order.end(),
            [](const SafetensorsEntry* a, const SafetensorsEntry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < order.size(); ++i)
    if (order[i]->begin < order[i - 1]->end)
      fail(path, "tensors " + quote_name(order[i - 1]->name) + " and " + quote_name(order[i]->name) +
                     " overlap in the data section");
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(e.name);
  return out;
}

const SafetensorsEntry& SafetensorsFile::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end())
    throw ValueError("safetensors: " + path_ + ": no tensor named " + quote_name(name));
  return entries_[it->second];
}

uint64_t SafetensorsFile::file_size() const { return src_->size; }

Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry& e = info(name);
  if (!e.supported)
    throw TypeError("safetensors: " + path_ + ": tensor " + quote_name(name) + " has dtype " +
                    e.st_dtype +
                    ", which splatcore does not support (supported: F32, F16, BF16, F64, I64, "
                    "I32, U32, U8, BOOL)");
  const size_t nbytes = (size_t)e.nbytes();
  std::shared_ptr<Storage> s = Storage::allocate(nbytes);  // aligned, ours
  if (nbytes) src_->read(data_offset_ + e.begin, s->data, e.nbytes());
  if (e.dtype == DType::Bool) {  // bool storage holds 0/1: normalise odd bytes
    uint8_t* q = static_cast<uint8_t*>(s->data);
    for (size_t k = 0; k < nbytes; ++k) q[k] = q[k] != 0;
  }
  return Tensor::from_storage(std::move(s), e.shape, contiguous_strides(e.shape), 0, e.dtype);
}

Tensor SafetensorsFile::tensor_as(const std::string& name, DType dtype) const {
  Tensor t = tensor(name);
  if (t.dtype() == dtype) return t;
  return t.to(dtype);
}

}  // namespace sc

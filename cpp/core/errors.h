// Typed errors; the bindings map them to ValueError, TypeError, IndexError, ...
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace sc {

struct ValueError : std::invalid_argument { using std::invalid_argument::invalid_argument; };
struct TypeError : std::invalid_argument { using std::invalid_argument::invalid_argument; };
struct IndexError : std::out_of_range { using std::out_of_range::out_of_range; };
struct FileNotFound : std::runtime_error { using std::runtime_error::runtime_error; };

inline std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream o;
  o << "(";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  if (s.size() == 1) o << ",";
  o << ")";
  return o.str();
}

}  // namespace sc

#define SC_CHECK(cond, ErrType, msg) \
  do {                               \
    if (!(cond)) throw ::sc::ErrType(msg); \
  } while (0)

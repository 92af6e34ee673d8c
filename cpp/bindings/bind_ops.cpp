// Free functions of splatcore._core: creation, elementwise, reductions, grad mode.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <atomic>

#include "autograd/grad_mode.h"
#include "bindings/bindings.h"
#include "core/thread_pool.h"
#include "ops/ops.h"

namespace sc {

static std::vector<int64_t> axes_of(nb::handle h) { return h.is_none() ? std::vector<int64_t>{} : int_list(h, "axis"); }
static Tensor T(nb::handle h, const char* name = "x") { return to_tensor(h, nullptr, name); }

void bind_ops(nb::module_& m) {
  // ---- creation
  m.def("from_numpy", [](nb::handle a, nb::handle device) {
    Tensor t;
    if (!try_import_array(a, t))
      throw TypeError("from_numpy: expected an array with the buffer protocol or __dlpack__, got " +
                      nb::cast<std::string>(nb::repr(a.type())));
    return device.is_none() ? t : t.to_device(device_arg(device));
  }, nb::arg("array"), nb::arg("device") = nb::none(),
     "Wrap a NumPy array (or any DLPack / buffer object) without copying; with device=, a copy there.");
  m.def("from_dlpack", [](nb::handle a) {
    Tensor t;
    if (!try_import_array(a, t))
      throw TypeError("from_dlpack: expected an object with __dlpack__, got " +
                      nb::cast<std::string>(nb::repr(a.type())));
    return t;
  }, nb::arg("x"));
  // Factories make their tensor on `device`, or on the default device (splatcore.set_default_device).
  m.def("empty", [](nb::handle shape, nb::handle dt, nb::handle dev) {
          return Tensor::empty(int_list(shape, "shape"), dtype_arg(dt), device_arg(dev));
        }, nb::arg("shape"), nb::arg("dtype") = "float32", nb::arg("device") = nb::none());
  m.def("zeros", [](nb::handle shape, nb::handle dt, nb::handle dev) {
          return Tensor::zeros(int_list(shape, "shape"), dtype_arg(dt), device_arg(dev));
        }, nb::arg("shape"), nb::arg("dtype") = "float32", nb::arg("device") = nb::none());
  m.def("ones", [](nb::handle shape, nb::handle dt, nb::handle dev) {
          return Tensor::ones(int_list(shape, "shape"), dtype_arg(dt), device_arg(dev));
        }, nb::arg("shape"), nb::arg("dtype") = "float32", nb::arg("device") = nb::none());
  m.def("full", [](nb::handle shape, double v, nb::handle dt, nb::handle dev) {
          return Tensor::full(int_list(shape, "shape"), v, dtype_arg(dt), device_arg(dev));
        }, nb::arg("shape"), nb::arg("fill_value"), nb::arg("dtype") = "float32", nb::arg("device") = nb::none());
  // arange, rand and randn draw on the CPU and upload: a seed gives the same
  // numbers on every device.
  m.def("arange", [](double start, std::optional<double> stop, double step, nb::handle dt, nb::handle dev) {
          Tensor t = stop ? arange(start, *stop, step, dtype_arg(dt)) : arange(0, start, step, dtype_arg(dt));
          return t.to_device(device_arg(dev));
        }, nb::arg("start"), nb::arg("stop") = nb::none(), nb::arg("step") = 1.0, nb::arg("dtype") = "float32",
        nb::arg("device") = nb::none());
  m.def("rand", [](nb::handle shape, uint64_t seed, nb::handle dt, nb::handle dev) {
          return rand(int_list(shape, "shape"), seed, dtype_arg(dt)).to_device(device_arg(dev));
        }, nb::arg("shape"), nb::arg("seed") = 0, nb::arg("dtype") = "float32", nb::arg("device") = nb::none());
  m.def("randn", [](nb::handle shape, uint64_t seed, nb::handle dt, nb::handle dev) {
          return randn(int_list(shape, "shape"), seed, dtype_arg(dt)).to_device(device_arg(dev));
        }, nb::arg("shape"), nb::arg("seed") = 0, nb::arg("dtype") = "float32", nb::arg("device") = nb::none());

  // ---- elementwise
#define SC_UNARY(name) m.def(#name, [](nb::handle x) { return name(T(x)); }, nb::arg("x"));
  SC_UNARY(neg) SC_UNARY(exp) SC_UNARY(log) SC_UNARY(sqrt) SC_UNARY(rsqrt) SC_UNARY(sigmoid)
  SC_UNARY(tanh) SC_UNARY(gelu) SC_UNARY(relu) SC_UNARY(abs) SC_UNARY(sin) SC_UNARY(cos)
  SC_UNARY(square) SC_UNARY(sign) SC_UNARY(logical_not)
#undef SC_UNARY
  auto pair = [](nb::handle a, nb::handle b) {
    if (nb::isinstance<Tensor>(a)) {
      Tensor ta = T(a, "x1");
      return std::make_pair(ta, to_tensor(b, &ta, "x2"));
    }
    Tensor tb = T(b, "x2");
    return std::make_pair(to_tensor(a, &tb, "x1"), tb);
  };
#define SC_BINARY(name, expr)                                 \
  m.def(#name, [pair](nb::handle a, nb::handle b) {          \
    auto [x, y] = pair(a, b);                                 \
    return expr;                                              \
  }, nb::arg("x1"), nb::arg("x2"));
  SC_BINARY(add, add(x, y)) SC_BINARY(subtract, sub(x, y)) SC_BINARY(multiply, mul(x, y))
  SC_BINARY(divide, div(x, y)) SC_BINARY(power, pow(x, y)) SC_BINARY(maximum, maximum(x, y))
  SC_BINARY(minimum, minimum(x, y)) SC_BINARY(equal, compare(CompareOp::Eq, x, y))
  SC_BINARY(not_equal, compare(CompareOp::Ne, x, y)) SC_BINARY(less, compare(CompareOp::Lt, x, y))
  SC_BINARY(less_equal, compare(CompareOp::Le, x, y)) SC_BINARY(greater, compare(CompareOp::Gt, x, y))
  SC_BINARY(greater_equal, compare(CompareOp::Ge, x, y)) SC_BINARY(logical_and, logical_and(x, y))
  SC_BINARY(logical_or, logical_or(x, y))
#undef SC_BINARY
  m.def("where", [](nb::handle c, nb::handle a, nb::handle b) {
    Tensor cond = T(c, "condition");
    Tensor ta, tb;
    if (nb::isinstance<Tensor>(a)) { ta = T(a, "x"); tb = to_tensor(b, &ta, "y"); }
    else if (nb::isinstance<Tensor>(b)) { tb = T(b, "y"); ta = to_tensor(a, &tb, "x"); }
    else { ta = T(a, "x"); tb = T(b, "y"); }
    return where(cond, ta, tb);
  }, nb::arg("condition"), nb::arg("x"), nb::arg("y"));
  m.def("clamp", [](nb::handle x, std::optional<double> lo, std::optional<double> hi) {
    return clamp(T(x), lo, hi);
  }, nb::arg("x"), nb::arg("min") = nb::none(), nb::arg("max") = nb::none());

  // ---- reductions
#define SC_REDUCE(name)                                                                  \
  m.def(#name, [](nb::handle x, nb::handle axis, bool keepdims) {                        \
    return name(T(x), axes_of(axis), keepdims);                                          \
  }, nb::arg("x"), nb::arg("axis") = nb::none(), nb::arg("keepdims") = false);
  SC_REDUCE(sum) SC_REDUCE(mean) SC_REDUCE(max) SC_REDUCE(min) SC_REDUCE(norm)
#undef SC_REDUCE
  m.def("argmax", [](nb::handle x, std::optional<int64_t> axis, bool keepdims) { return argmax(T(x), axis, keepdims); },
        nb::arg("x"), nb::arg("axis") = nb::none(), nb::arg("keepdims") = false);
  m.def("argmin", [](nb::handle x, std::optional<int64_t> axis, bool keepdims) { return argmin(T(x), axis, keepdims); },
        nb::arg("x"), nb::arg("axis") = nb::none(), nb::arg("keepdims") = false);
  m.def("softmax", [](nb::handle x, int64_t axis) { return softmax(T(x), axis); }, nb::arg("x"), nb::arg("axis") = -1);
  m.def("log_softmax", [](nb::handle x, int64_t axis) { return log_softmax(T(x), axis); }, nb::arg("x"), nb::arg("axis") = -1);

  // ---- grad mode and threads
  m.def("is_grad_enabled", &grad_enabled);
  m.def("set_grad_enabled", &set_grad_enabled, nb::arg("enabled"));
  // Test hook for the thread pool: runs parallel_for over [0, n) and checks
  // that every index is visited exactly once; throws ValueError from the chunk
  // holding `throw_at`; `nested` runs a parallel_for inside every chunk.
  m.def("_parallel_probe", [](int64_t n, int64_t grain, int64_t throw_at, bool nested) {
    if (n < 0 || n > (int64_t(1) << 28)) throw ValueError("_parallel_probe: n out of range");
    std::vector<std::atomic<uint8_t>> visits(n);
    std::atomic<int64_t> chunks{0};
    {
      nb::gil_scoped_release nogil;
      parallel_for(n, grain, [&](int64_t b, int64_t e) {
        chunks.fetch_add(1);
        auto body = [&](int64_t bb, int64_t ee) {
          for (int64_t i = bb; i < ee; ++i) {
            if (i == throw_at)
              throw ValueError("_parallel_probe: failure at index " + std::to_string(i));
            visits[i].fetch_add(1);
          }
        };
        if (nested) parallel_for(e - b, 1, [&](int64_t x, int64_t y) { body(b + x, b + y); });
        else body(b, e);
      });
    }
    for (int64_t i = 0; i < n; ++i)
      if (visits[i].load() != 1)
        throw ValueError("_parallel_probe: index " + std::to_string(i) + " visited " +
                         std::to_string((int)visits[i].load()) + " times");
    return chunks.load();
  }, nb::arg("n"), nb::arg("grain") = 1, nb::arg("throw_at") = -1, nb::arg("nested") = false);
  m.def("num_threads", &num_threads);
  m.def("set_num_threads", &set_num_threads, nb::arg("n"),
        "Threads of the CPU pool (<= 0: all cores, or SPLATCORE_NUM_THREADS).");
}

}  // namespace sc

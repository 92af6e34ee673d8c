// matmul and the convolution family. (blas_name / set_blas_library_path are
// bound in bind_info.cpp.)
#include <nanobind/stl/string.h>

#include "bindings/bindings.h"
#include "ops/ops.h"

namespace sc {

namespace {

// An int or a pair of ints -> (h, w).
std::pair<int64_t, int64_t> pair_arg(nb::handle h, const char* fn, const char* argname) {
  std::vector<int64_t> v = int_list(h, argname);
  if (v.size() == 1) return {v[0], v[0]};
  if (v.size() == 2) return {v[0], v[1]};
  throw ValueError(std::string(fn) + ": " + argname + " must be an int or a pair of ints, got " +
                   std::to_string(v.size()) + " values");
}

Tensor optional_tensor(nb::handle h, const char* argname) {
  return h.is_none() ? Tensor() : to_tensor(h, nullptr, argname);
}

}  // namespace

void bind_linalg(nb::module_& m) {
  m.def("matmul", [](nb::handle a, nb::handle b) {
    Tensor ta, tb;
    if (nb::isinstance<Tensor>(a) || !nb::isinstance<Tensor>(b)) {
      ta = to_tensor(a, nullptr, "x1");
      tb = to_tensor(b, &ta, "x2");
    } else {
      tb = to_tensor(b, nullptr, "x2");
      ta = to_tensor(a, &tb, "x1");
    }
    return matmul(ta, tb);
  }, nb::arg("x1"), nb::arg("x2"),
  "Matrix product with NumPy semantics (1-D promotion, batch broadcasting); float types only.");

  m.def("conv2d", [](nb::handle x, nb::handle w, nb::handle bias, nb::handle stride,
                     nb::handle padding, nb::handle dilation, int64_t groups) {
    auto s = pair_arg(stride, "conv2d", "stride");
    auto p = pair_arg(padding, "conv2d", "padding");
    auto d = pair_arg(dilation, "conv2d", "dilation");
    return conv2d(to_tensor(x, nullptr, "x"), to_tensor(w, nullptr, "weight"),
                  optional_tensor(bias, "bias"), s.first, s.second, p.first, p.second, d.first,
                  d.second, groups);
  }, nb::arg("x"), nb::arg("weight"), nb::arg("bias") = nb::none(), nb::arg("stride") = 1,
  nb::arg("padding") = 0, nb::arg("dilation") = 1, nb::arg("groups") = 1,
  "2-D convolution (cross-correlation) as torch.nn.functional.conv2d: x (N, C, H, W), "
  "weight (O, C/groups, kh, kw), bias (O,).");

  m.def("conv_transpose2d", [](nb::handle x, nb::handle w, nb::handle bias, nb::handle stride,
                               nb::handle padding, nb::handle output_padding) {
    auto s = pair_arg(stride, "conv_transpose2d", "stride");
    auto p = pair_arg(padding, "conv_transpose2d", "padding");
    auto op = pair_arg(output_padding, "conv_transpose2d", "output_padding");
    return conv_transpose2d(to_tensor(x, nullptr, "x"), to_tensor(w, nullptr, "weight"),
                            optional_tensor(bias, "bias"), s.first, s.second, p.first, p.second,
                            op.first, op.second);
  }, nb::arg("x"), nb::arg("weight"), nb::arg("bias") = nb::none(), nb::arg("stride") = 1,
  nb::arg("padding") = 0, nb::arg("output_padding") = 0,
  "Transposed 2-D convolution as torch.nn.functional.conv_transpose2d: x (N, C_in, H, W), "
  "weight (C_in, C_out, kh, kw), bias (C_out,).");

  m.def("upsample_bilinear", [](nb::handle x, nb::handle size, bool align_corners) {
    auto sz = pair_arg(size, "upsample_bilinear", "size");
    return upsample_bilinear(to_tensor(x, nullptr, "x"), sz.first, sz.second, align_corners);
  }, nb::arg("x"), nb::arg("size"), nb::arg("align_corners") = false,
  "Bilinear resize of x (N, C, H, W) to size (h, w) as torch's interpolate(mode='bilinear').");

  m.def("pixel_shuffle", [](nb::handle x, int64_t r) {
    return pixel_shuffle(to_tensor(x, nullptr, "x"), r);
  }, nb::arg("x"), nb::arg("upscale_factor"),
  "(*, C*r*r, H, W) -> (*, C, H*r, W*r) as torch.nn.functional.pixel_shuffle.");
}

}  // namespace sc

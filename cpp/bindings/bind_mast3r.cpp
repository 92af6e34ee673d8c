// The MASt3R model (splatcore._core._Mast3rModel) and the inference layers it is
// built from (_nn_*: for tests and benchmarks). Names start with an underscore:
// the public API is splatcore.mast3r.Model (python/splatcore/mast3r/model.py).
#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "autograd/grad_mode.h"
#include "bindings/bindings.h"
#include "mast3r/model.h"
#include "nn/nn.h"
#include "ops/ops.h"

namespace sc {

namespace {

nn::AttentionImpl impl_arg(const std::string& s) {
  if (s == "auto") return nn::AttentionImpl::Auto;
  if (s == "loops") return nn::AttentionImpl::Loops;
  if (s == "gemm") return nn::AttentionImpl::Gemm;
  throw ValueError("attention: impl must be 'auto', 'loops' or 'gemm', got '" + s + "'");
}

nn::Activation act_arg(const std::string& s) {
  if (s == "none" || s.empty()) return nn::Activation::None;
  if (s == "gelu") return nn::Activation::Gelu;
  throw ValueError("linear: activation must be 'none' or 'gelu', got '" + s + "'");
}

Tensor opt_tensor(nb::handle h, const char* name) {
  return h.is_none() ? Tensor() : to_tensor(h, nullptr, name);
}

}  // namespace

// ("mode", vmin, vmax) from a sequence, or a bare mode name with the default bounds.
mast3r::RegMode reg_mode_arg(nb::handle h, const mast3r::RegMode& dflt, const char* name) {
  mast3r::RegMode r = dflt;
  if (h.is_none()) return r;
  if (nb::isinstance<nb::str>(h)) {
    r.mode = nb::cast<std::string>(h);
    return r;
  }
  if (!nb::isinstance<nb::sequence>(h) || nb::len(h) != 3)
    throw ValueError(std::string("mast3r: ") + name + " must be (mode, vmin, vmax), got " +
                     nb::cast<std::string>(nb::repr(h)));
  nb::sequence s = nb::borrow<nb::sequence>(h);
  r.mode = nb::cast<std::string>(s[0]);
  r.vmin = nb::cast<double>(s[1]);
  r.vmax = nb::cast<double>(s[2]);
  return r;
}

nb::dict view_dict(const mast3r::ViewOutput& v, bool second) {
  nb::dict d;
  // NumPy arrays, or the Tensors themselves where they stayed on a GPU device
  auto out = [](const Tensor& t) -> nb::object { return t.device().is_gpu() ? nb::cast(t) : to_numpy(t); };
  d[second ? "pts3d_in_other_view" : "pts3d"] = out(v.pts3d);
  d["conf"] = out(v.conf);
  d["desc"] = out(v.desc);
  d["desc_conf"] = out(v.desc_conf);
  if (v.enc.defined()) d["enc"] = out(v.enc);
  if (v.dec_last.defined()) d["dec_last"] = out(v.dec_last);
  return d;
}

std::map<std::string, Tensor> weight_map(nb::dict weights) {
  std::map<std::string, Tensor> w;
  for (auto item : weights) {
    if (!nb::isinstance<nb::str>(item.first))
      throw TypeError("mast3r: weight names must be str, got " +
                      nb::cast<std::string>(nb::repr(item.first)));
    std::string name = nb::cast<std::string>(item.first);
    w[name] = to_tensor(item.second, nullptr, name.c_str());
  }
  return w;
}

// (batch * h * w, 2) positions: the h x w grid once per item.
Tensor batch_positions(int64_t batch, int64_t h, int64_t w) {
  Tensor g = nn::grid_positions(h, w);
  std::vector<Tensor> all((size_t)batch, g);
  return batch == 1 ? g : concat(all, 0);
}

Tensor tokens_arg(nb::handle x, const char* name, int64_t rows, int64_t dim) {
  Tensor t = to_tensor(x, nullptr, name);
  if (t.ndim() != 2 || t.shape()[0] != rows || t.shape()[1] != dim)
    throw ValueError(std::string("mast3r: ") + name + " must have shape (" + std::to_string(rows) +
                     ", " + std::to_string(dim) + "), got " + shape_str(t.shape()));
  return t.to(DType::Float32).clone();  // updated in place
}

// Single transformer blocks, for benchmarks and tests.
void bind_blocks(nb::module_& m) {
  using mast3r::DecoderBlock;
  using mast3r::EncoderBlock;
  nb::class_<EncoderBlock>(m, "_Mast3rEncoderBlock", "One encoder block (enc_blocks.i).")
      .def("__init__",
           [](EncoderBlock* self, nb::dict weights, const std::string& prefix, int64_t dim,
              int64_t heads) {
             nn::Params p(weight_map(weights));
             nb::gil_scoped_release nogil;
             new (self) EncoderBlock(p, prefix, dim, heads, 1e-6f);
           },
           nb::arg("weights"), nb::arg("prefix"), nb::arg("dim"), nb::arg("heads"))
      .def("forward",
           [](const EncoderBlock& b, nb::handle x, int64_t batch, int64_t h, int64_t w,
              double rope_base) {
             Tensor t = tokens_arg(x, "x", batch * h * w, b.norm1.dim);
             Tensor pos = batch_positions(batch, h, w);
             {
               nb::gil_scoped_release nogil;
               nn::RopeTable rope = nn::make_rope_table(b.attn.dim / b.attn.heads, std::max(h, w),
                                                        (float)rope_base);
               b.forward(t.data<float>(), batch, h * w, pos.data<int64_t>(), rope);
             }
             return t;
           },
           nb::arg("x"), nb::arg("batch"), nb::arg("h"), nb::arg("w"), nb::arg("rope_base") = 100.0,
           "x (batch*h*w, dim) tokens of `batch` images of h x w patches -> the block's output.");
  nb::class_<DecoderBlock>(m, "_Mast3rDecoderBlock", "One decoder block (dec_blocks.i).")
      .def("__init__",
           [](DecoderBlock* self, nb::dict weights, const std::string& prefix, int64_t dim,
              int64_t heads) {
             nn::Params p(weight_map(weights));
             nb::gil_scoped_release nogil;
             new (self) DecoderBlock(p, prefix, dim, heads, 1e-6f);
           },
           nb::arg("weights"), nb::arg("prefix"), nb::arg("dim"), nb::arg("heads"))
      .def("forward",
           [](const DecoderBlock& b, nb::handle x, nb::handle y, int64_t h, int64_t w,
              double rope_base) {
             Tensor t = tokens_arg(x, "x", h * w, b.norm1.dim);
             Tensor ty = tokens_arg(y, "y", h * w, b.norm1.dim);
             Tensor pos = nn::grid_positions(h, w);
             {
               nb::gil_scoped_release nogil;
               nn::RopeTable rope = nn::make_rope_table(b.attn.dim / b.attn.heads, std::max(h, w),
                                                        (float)rope_base);
               b.forward(t.data<float>(), h * w, pos.data<int64_t>(), ty.data<float>(), h * w,
                         pos.data<int64_t>(), rope);
             }
             return t;
           },
           nb::arg("x"), nb::arg("y"), nb::arg("h"), nb::arg("w"), nb::arg("rope_base") = 100.0,
           "x, y (h*w, dim): view tokens and the other view's tokens -> the block's output for x.");
}

void bind_mast3r_model(nb::module_& m) {
  using mast3r::Mast3rModel;
  bind_blocks(m);
  nb::class_<Mast3rModel>(m, "_Mast3rModel",
                          "MASt3R (AsymmetricMASt3R) inference on the CPU; use splatcore.mast3r.Model.")
      .def("__init__",
           [](Mast3rModel* self, nb::dict weights, int64_t enc_num_heads, int64_t dec_num_heads,
              double rope_base, nb::handle depth_mode, nb::handle conf_mode,
              nb::handle desc_conf_mode, const std::string& desc_mode, int64_t desc_dim,
              bool two_confs, nb::handle weight_dtype, bool strict, bool check_only) {
             std::map<std::string, Tensor> w = weight_map(weights);
             mast3r::Mast3rConfig c;
             c.weight_dtype = weight_dtype.is_none() ? DType::Float32 : dtype_arg(weight_dtype);
             c.strict = strict;
             c.check_only = check_only;
             c.enc_num_heads = enc_num_heads;
             c.dec_num_heads = dec_num_heads;
             c.rope_base = rope_base;
             c.depth_mode = reg_mode_arg(depth_mode, c.depth_mode, "depth_mode");
             c.conf_mode = reg_mode_arg(conf_mode, c.conf_mode, "conf_mode");
             c.desc_conf_mode = reg_mode_arg(desc_conf_mode, c.desc_conf_mode, "desc_conf_mode");
             c.desc_mode = desc_mode;
             c.desc_dim = desc_dim;
             c.two_confs = two_confs;
             nb::gil_scoped_release nogil;
             new (self) Mast3rModel(w, c);
           },
           nb::arg("weights"), nb::arg("enc_num_heads") = 0, nb::arg("dec_num_heads") = 0,
           nb::arg("rope_base") = 100.0, nb::arg("depth_mode") = nb::none(),
           nb::arg("conf_mode") = nb::none(), nb::arg("desc_conf_mode") = nb::none(),
           nb::arg("desc_mode") = "norm", nb::arg("desc_dim") = 0, nb::arg("two_confs") = true,
           nb::arg("weight_dtype") = nb::none(), nb::arg("strict") = true,
           nb::arg("check_only") = false)
      .def("forward",
           [](const Mast3rModel& self, nb::handle img1, nb::handle img2, bool intermediates, nb::handle device,
              bool keep_on_device) {
             Tensor t1 = to_tensor(img1, nullptr, "img1"), t2 = to_tensor(img2, nullptr, "img2");
             const Device dev = device.is_none() ? Device{} : device_arg(device);
             mast3r::PairOutput r;
             {
               nb::gil_scoped_release nogil;
               r = self.forward(t1, t2, intermediates, dev, keep_on_device);  // the CPU's when dev is not a GPU
             }
             nb::dict timings;
             for (const auto& t : r.timings_ms) timings[t.first.c_str()] = t.second;
             return nb::make_tuple(view_dict(r.view1, false), view_dict(r.view2, true), timings);
           },
           nb::arg("img1"), nb::arg("img2"), nb::arg("intermediates") = false, nb::arg("device") = nb::none(),
           nb::arg("keep_on_device") = false,
           "(H, W, 3) float images in [-1, 1] -> (view1 dict, view2 dict) of NumPy arrays, "
           "and a dict of stage wall times in ms. device: None / 'cpu', or a GPU device the "
           "network runs on (weights uploaded on its first use and kept there); keep_on_device: "
           "the outputs stay there as Tensors (queued, not waited for).")
      .def("encode",
           [](const Mast3rModel& self, std::vector<nb::handle> images, nb::handle device) {
             std::vector<Tensor> t;
             for (size_t i = 0; i < images.size(); ++i) {
               const std::string name = "images[" + std::to_string(i) + "]";
               t.push_back(to_tensor(images[i], nullptr, name.c_str()));
             }
             const Device dev = device.is_none() ? Device{} : device_arg(device);
             nb::gil_scoped_release nogil;
             return self.encode(t, dev);
           },
           nb::arg("images"), nb::arg("device") = nb::none(),
           "Images of one size, (H, W, 3) float in [-1, 1] -> encoder outputs (B * h * w, enc_dim).")
      .def("decode",
           [](const Mast3rModel& self, nb::handle enc1, int64_t h1, int64_t w1, nb::handle enc2,
              int64_t h2, int64_t w2, bool intermediates) {
             Tensor e1 = to_tensor(enc1, nullptr, "enc1"), e2 = to_tensor(enc2, nullptr, "enc2");
             mast3r::PairOutput r;
             {
               nb::gil_scoped_release nogil;
               r = self.decode(e1, h1, w1, e2, h2, w2, intermediates);
             }
             nb::dict timings;
             for (const auto& t : r.timings_ms) timings[t.first.c_str()] = t.second;
             return nb::make_tuple(view_dict(r.view1, false), view_dict(r.view2, true), timings);
           },
           nb::arg("enc1"), nb::arg("h1"), nb::arg("w1"), nb::arg("enc2"), nb::arg("h2"),
           nb::arg("w2"), nb::arg("intermediates") = false,
           "Decoders + heads of one pair from encoder outputs (h*w, enc_dim) on h x w patch grids.")
      .def("decode_batch",
           [](const Mast3rModel& self, nb::list enc1, int64_t h1, int64_t w1, nb::list enc2, int64_t h2,
              int64_t w2, bool intermediates, bool keep_on_device) {
             std::vector<Tensor> e1, e2;
             for (size_t i = 0; i < enc1.size(); ++i)
               e1.push_back(to_tensor(enc1[i], nullptr, ("enc1[" + std::to_string(i) + "]").c_str()));
             for (size_t i = 0; i < enc2.size(); ++i)
               e2.push_back(to_tensor(enc2[i], nullptr, ("enc2[" + std::to_string(i) + "]").c_str()));
             std::vector<mast3r::PairOutput> rs;
             {
               nb::gil_scoped_release nogil;
               rs = self.decode_batch(e1, h1, w1, e2, h2, w2, intermediates, keep_on_device);
             }
             nb::list out;
             for (const auto& r : rs) out.append(nb::make_tuple(view_dict(r.view1, false), view_dict(r.view2, true)));
             nb::dict timings;
             if (!rs.empty())
               for (const auto& t : rs[0].timings_ms) timings[t.first.c_str()] = t.second;
             return nb::make_tuple(out, timings);
           },
           nb::arg("enc1"), nb::arg("h1"), nb::arg("w1"), nb::arg("enc2"), nb::arg("h2"), nb::arg("w2"),
           nb::arg("intermediates") = false, nb::arg("keep_on_device") = false,
           "decode of several pairs of one shape: lists of encoder outputs (pair b: enc1[b], enc2[b]); on a "
           "GPU device their decoders run together. Returns ([(view1, view2), ...], timings).")
      .def_prop_ro("resident_devices", [](const Mast3rModel& self) {
        std::vector<std::string> r;
        for (const Device& d : self.resident_devices()) r.push_back(d.str());
        return r;
      }, "GPU devices holding a resident copy of the weights (uploaded on first use).")
      .def_prop_ro("unused_weights", &Mast3rModel::unused_weights)
      .def_prop_ro("weight_dtype", [](const Mast3rModel& self) {
        return std::string(dtype_name(self.config().weight_dtype));
      })
      .def_prop_ro("patch_size", &Mast3rModel::patch_size)
      .def_prop_ro("enc_embed_dim", &Mast3rModel::enc_embed_dim)
      .def_prop_ro("dec_embed_dim", &Mast3rModel::dec_embed_dim)
      .def_prop_ro("enc_depth", &Mast3rModel::enc_depth)
      .def_prop_ro("dec_depth", &Mast3rModel::dec_depth)
      .def_prop_ro("enc_num_heads", &Mast3rModel::enc_num_heads)
      .def_prop_ro("dec_num_heads", &Mast3rModel::dec_num_heads)
      .def_prop_ro("desc_dim", &Mast3rModel::desc_dim)
      .def_prop_ro("hooks", &Mast3rModel::hooks);
}

void bind_mast3r(nb::module_& m) {
  m.def("_nn_linear", [](nb::handle x, nb::handle w, nb::handle b, const std::string& act) {
    Tensor tx = to_tensor(x, nullptr, "x"), tw = to_tensor(w, nullptr, "weight"),
           tb = opt_tensor(b, "bias");
    nb::gil_scoped_release nogil;
    return nn::linear(tx, tw, tb, act_arg(act));
  }, nb::arg("x"), nb::arg("weight"), nb::arg("bias") = nb::none(), nb::arg("activation") = "none",
  "act(x @ weight.T + bias), float32; x (N, in), weight (out, in).");

  m.def("_nn_layer_norm", [](nb::handle x, nb::handle w, nb::handle b, double eps) {
    Tensor tx = to_tensor(x, nullptr, "x"), tw = to_tensor(w, nullptr, "weight"),
           tb = to_tensor(b, nullptr, "bias");
    nb::gil_scoped_release nogil;
    return nn::layer_norm(tx, tw, tb, eps);
  }, nb::arg("x"), nb::arg("weight"), nb::arg("bias"), nb::arg("eps") = 1e-6,
  "LayerNorm over the last axis of x (N, C), float32.");

  m.def("_nn_rope2d", [](nb::handle x, nb::handle pos, int64_t heads, double base) {
    Tensor tx = to_tensor(x, nullptr, "x"), tp = to_tensor(pos, nullptr, "pos");
    nb::gil_scoped_release nogil;
    return nn::rope2d(tx, tp, heads, base);
  }, nb::arg("x"), nb::arg("pos"), nb::arg("heads"), nb::arg("base") = 100.0,
  "CroCo's 2-D RoPE on x (N, heads * head_dim) at positions pos (N, 2) = (y, x).");

  m.def("_nn_attention", [](nb::handle q, nb::handle k, nb::handle v, int64_t heads, int64_t batch,
                            const std::string& impl) {
    Tensor tq = to_tensor(q, nullptr, "q"), tk = to_tensor(k, nullptr, "k"),
           tv = to_tensor(v, nullptr, "v");
    nn::AttentionImpl im = impl_arg(impl);
    nb::gil_scoped_release nogil;
    return nn::attention(tq, tk, tv, heads, batch, im);
  }, nb::arg("q"), nb::arg("k"), nb::arg("v"), nb::arg("heads"), nb::arg("batch") = 1,
  nb::arg("impl") = "auto",
  "Fused multi-head softmax(q k^T / sqrt(d)) v; q (batch*Nq, C), k, v (batch*Nk, C).");

  m.def("_nn_conv2d", [](nb::handle x, nb::handle w, nb::handle b, int64_t stride, int64_t pad,
                         bool relu_in, bool relu_out, nb::handle residual, nb::handle w2,
                         nb::handle b2) {
    Tensor tx = to_tensor(x, nullptr, "x"), tw = to_tensor(w, nullptr, "weight"),
           tb = opt_tensor(b, "bias"), tr = opt_tensor(residual, "residual"),
           tw2 = opt_tensor(w2, "w2"), tb2 = opt_tensor(b2, "b2");
    nb::gil_scoped_release nogil;
    return nn::conv2d(tx, tw, tb, stride, pad, relu_in, relu_out, tr, tw2, tb2);
  }, nb::arg("x"), nb::arg("weight"), nb::arg("bias") = nb::none(), nb::arg("stride") = 1,
  nb::arg("pad") = 0, nb::arg("relu_in") = false, nb::arg("relu_out") = false,
  nb::arg("residual") = nb::none(), nb::arg("w2") = nb::none(), nb::arg("b2") = nb::none(),
  "Inference conv of one (C, H, W) image: act_out(conv(act_in(x)) + b + residual), then an "
  "optional pointwise conv w2 (O2, O) + b2.");

  m.def("_nn_conv_transpose2d_k_eq_s", [](nb::handle x, nb::handle w, nb::handle b) {
    Tensor tx = to_tensor(x, nullptr, "x"), tw = to_tensor(w, nullptr, "weight"),
           tb = opt_tensor(b, "bias");
    nb::gil_scoped_release nogil;
    return nn::conv_transpose2d_k_eq_s(tx, tw, tb);
  }, nb::arg("x"), nb::arg("weight"), nb::arg("bias") = nb::none(),
  "Transposed conv with kernel == stride, no padding; x (C, H, W), weight (C, O, s, s).");

  m.def("_nn_upsample2x_bilinear", [](nb::handle x) {
    Tensor tx = to_tensor(x, nullptr, "x");
    nb::gil_scoped_release nogil;
    return nn::upsample2x_bilinear(tx);
  }, nb::arg("x"), "Bilinear x2 upsampling, align_corners=True; x (C, H, W) -> (C, 2H, 2W).");

  m.def("_nn_convert_weight", [](nb::handle x, nb::handle dtype) {
    Tensor tx = to_tensor(x, nullptr, "x");
    DType dt = dtype_arg(dtype);
    nb::gil_scoped_release nogil;
    return nn::convert_weight(tx, dt);
  }, nb::arg("x"), nb::arg("dtype"),
  "x as a contiguous float32 / float16 / bfloat16 tensor (round to nearest even).");

  m.def("_nn_profile", [](bool enable) {
    nb::dict d;
    for (const auto& kv : nn::profile_take())
      d[kv.first.c_str()] = nb::make_tuple(kv.second.first, kv.second.second);
    nn::profile_enable(enable);
    return d;
  }, nb::arg("enable"),
  "Switch the per-layer-kind timers of cpp/nn on or off; returns {kind: (ms, calls)} "
  "accumulated since the previous call (benchmarks).");

  m.def("_nn_grid_positions", &nn::grid_positions, nb::arg("h"), nb::arg("w"),
        "(y, x) of each cell of an h x w grid, row-major: (h*w, 2) int64.");

  bind_mast3r_model(m);
}

}  // namespace sc

// splatcore._core._optim: optimizers, parameter groups and learning-rate
// schedules. python/splatcore/optim.py is the public face (splatcore.optim).
#include <sstream>

#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings/bindings.h"
#include "optim/optimizer.h"

namespace sc {

static std::vector<std::string> group_keys(OptimKind k) {
  if (k == OptimKind::SGD)
    return {"params", "name", "lr", "momentum", "dampening", "nesterov", "weight_decay"};
  return {"params", "name", "lr", "betas", "eps", "weight_decay"};
}

static bool has_key(const ParamGroup& g, const std::string& key) {
  for (auto& k : group_keys(g.kind))
    if (k == key) return true;
  return false;
}

static std::string keys_str(const ParamGroup& g) {
  std::string s;
  for (auto& k : group_keys(g.kind)) s += (s.empty() ? "'" : ", '") + k + "'";
  return "[" + s + "]";
}

// Sets one hyper-parameter after validating the group as it would become.
template <typename F>
static void set_hyper(ParamGroup& g, F assign) {
  ParamGroup c;
  c.kind = g.kind;
  c.lr = g.lr, c.beta1 = g.beta1, c.beta2 = g.beta2, c.eps = g.eps;
  c.weight_decay = g.weight_decay, c.momentum = g.momentum, c.dampening = g.dampening;
  c.nesterov = g.nesterov;
  assign(c);
  check_group_hyper(c.kind, c);
  assign(g);
}

static std::pair<double, double> betas_arg(nb::handle h) {
  nb::tuple t;
  if (nb::isinstance<nb::tuple>(h) || nb::isinstance<nb::list>(h)) t = nb::tuple(h);
  if (!t.is_valid() || t.size() != 2)
    throw ValueError("betas: expected a pair of floats (beta1, beta2), got " +
                     nb::cast<std::string>(nb::repr(h)));
  return {nb::cast<double>(t[0]), nb::cast<double>(t[1])};
}

static Tensor tensor_arg(nb::handle h, const char* what) {
  if (!nb::isinstance<Tensor>(h))
    throw TypeError(std::string(what) + ": expected a splatcore Tensor, got " +
                    nb::cast<std::string>(nb::repr(h.type())));
  return nb::cast<Tensor>(h);
}

static Tensor opt_tensor(nb::handle h, const char* what) {
  return h.is_none() ? Tensor() : to_tensor(h, nullptr, what);
}

static std::shared_ptr<ParamGroup> group_arg(const Optimizer& o, nb::handle h) {
  if (nb::isinstance<nb::str>(h)) return o.group(nb::cast<std::string>(h));
  if (nb::isinstance<nb::int_>(h)) return o.group(nb::cast<int64_t>(h));
  if (nb::isinstance<ParamGroup>(h)) return nb::cast<std::shared_ptr<ParamGroup>>(h);
  throw TypeError("group: expected a group name (str), index (int) or ParamGroup, got " +
                  nb::cast<std::string>(nb::repr(h.type())));
}

static nb::object state_dict_of(const ParamState& s) {
  nb::dict d;
  d["step"] = s.step;
  auto put = [&](const char* k, const Tensor& t) {
    d[k] = t.defined() ? nb::cast(t.clone()) : nb::none();
  };
  put("exp_avg", s.exp_avg);
  put("exp_avg_sq", s.exp_avg_sq);
  put("momentum_buffer", s.momentum_buffer);
  return d;
}

void bind_optim(nb::module_& root) {
  nb::module_ m = root.def_submodule("_optim", "Optimizers and learning-rate schedules (C++).");

  nb::class_<ParamGroup>(m, "ParamGroup",
                         "A parameter group: tensors plus hyper-parameters. Attributes and "
                         "dict-style keys (group['lr']) are both accepted.")
      .def_prop_ro("kind", [](const ParamGroup& g) { return std::string(optim_kind_name(g.kind)); })
      .def_prop_ro("name", [](const ParamGroup& g) { return g.name; })
      .def_prop_ro("params", [](const ParamGroup& g) { return g.params; },
                   "The group's tensors (a new list; use replace_param to swap one).")
      .def_prop_rw("lr", [](const ParamGroup& g) { return g.lr; },
                   [](ParamGroup& g, double v) { check_lr(v); g.lr = v; })
      .def_prop_rw("betas", [](const ParamGroup& g) { return std::make_pair(g.beta1, g.beta2); },
                   [](ParamGroup& g, nb::handle h) {
                     auto b = betas_arg(h);
                     set_hyper(g, [&](ParamGroup& x) { x.beta1 = b.first; x.beta2 = b.second; });
                   })
      .def_prop_rw("eps", [](const ParamGroup& g) { return g.eps; },
                   [](ParamGroup& g, double v) { set_hyper(g, [&](ParamGroup& x) { x.eps = v; }); })
      .def_prop_rw("weight_decay", [](const ParamGroup& g) { return g.weight_decay; },
                   [](ParamGroup& g, double v) {
                     set_hyper(g, [&](ParamGroup& x) { x.weight_decay = v; });
                   })
      .def_prop_rw("momentum", [](const ParamGroup& g) { return g.momentum; },
                   [](ParamGroup& g, double v) { set_hyper(g, [&](ParamGroup& x) { x.momentum = v; }); })
      .def_prop_rw("dampening", [](const ParamGroup& g) { return g.dampening; },
                   [](ParamGroup& g, double v) { set_hyper(g, [&](ParamGroup& x) { x.dampening = v; }); })
      .def_prop_rw("nesterov", [](const ParamGroup& g) { return g.nesterov; },
                   [](ParamGroup& g, bool v) { set_hyper(g, [&](ParamGroup& x) { x.nesterov = v; }); })
      .def("keys", [](const ParamGroup& g) { return group_keys(g.kind); })
      .def("__contains__", [](const ParamGroup& g, const std::string& k) { return has_key(g, k); })
      .def("__getitem__", [](nb::handle self, const std::string& k) {
        const ParamGroup& g = nb::cast<const ParamGroup&>(self);
        if (!has_key(g, k))
          throw nb::key_error(("'" + k + "': a " + optim_kind_name(g.kind) +
                               " parameter group has the keys " + keys_str(g)).c_str());
        return nb::getattr(self, k.c_str());
      })
      .def("__setitem__", [](nb::handle self, const std::string& k, nb::handle v) {
        const ParamGroup& g = nb::cast<const ParamGroup&>(self);
        if (!has_key(g, k))
          throw nb::key_error(("'" + k + "': a " + optim_kind_name(g.kind) +
                               " parameter group has the keys " + keys_str(g)).c_str());
        if (k == "params" || k == "name")
          throw ValueError("'" + k + "' of a parameter group is read-only; use replace_param, "
                           "prune_rows or append_rows to change a group's tensors");
        nb::setattr(self, k.c_str(), v);
      })
      .def("__repr__", [](const ParamGroup& g) {
        std::ostringstream o;
        o << "ParamGroup(" << optim_kind_name(g.kind) << ", name='" << g.name << "', "
          << g.params.size() << " params, lr=" << g.lr << ")";
        return o.str();
      });

  nb::class_<Optimizer>(m, "Optimizer")
      .def("__init__", [](Optimizer* self, const std::string& kind) {
        new (self) Optimizer(optim_kind_from_name(kind));
      }, nb::arg("kind"))
      .def_prop_ro("kind", [](const Optimizer& o) { return std::string(o.name()); })
      .def("add_param_group", [](Optimizer& o, nb::handle params, const std::string& name, double lr,
                                 nb::handle betas, double eps, double weight_decay, double momentum,
                                 double dampening, bool nesterov) {
        ParamGroup g;
        g.name = name;
        if (nb::isinstance<Tensor>(params))
          throw TypeError("params: expected a list of Tensors, got a single Tensor; wrap it in a list");
        if (!nb::isinstance<nb::list>(params) && !nb::isinstance<nb::tuple>(params))
          throw TypeError("params: expected a list of Tensors, got " +
                          nb::cast<std::string>(nb::repr(params.type())));
        size_t i = 0;
        for (nb::handle h : params) {
          std::string what = "params[" + std::to_string(i++) + "]";
          g.params.push_back(tensor_arg(h, what.c_str()));
        }
        g.lr = lr;
        auto b = betas_arg(betas);
        g.beta1 = b.first, g.beta2 = b.second;
        g.eps = eps, g.weight_decay = weight_decay;
        g.momentum = momentum, g.dampening = dampening, g.nesterov = nesterov;
        return o.add_param_group(std::move(g));
      }, nb::arg("params"), nb::arg("name") = "", nb::arg("lr") = 1e-3,
         nb::arg("betas") = nb::make_tuple(0.9, 0.999), nb::arg("eps") = 1e-8,
         nb::arg("weight_decay") = 0.0, nb::arg("momentum") = 0.0, nb::arg("dampening") = 0.0,
         nb::arg("nesterov") = false)
      .def_prop_ro("param_groups", [](const Optimizer& o) { return o.groups(); })
      .def("group", [](const Optimizer& o, nb::handle h) { return group_arg(o, h); }, nb::arg("group"))
      .def("step", &Optimizer::step)
      .def("zero_grad", &Optimizer::zero_grad)
      .def("replace_param", [](Optimizer& o, nb::handle old, nb::handle neu, nb::handle rows) {
        o.replace_param(tensor_arg(old, "old"), tensor_arg(neu, "new"),
                        to_tensor(rows, nullptr, "source_rows"));
      }, nb::arg("old"), nb::arg("new"), nb::arg("source_rows"))
      .def("prune_rows", [](Optimizer& o, nb::handle p, nb::handle neu, nb::handle mask) {
        o.prune_rows(tensor_arg(p, "param"), tensor_arg(neu, "new_param"),
                     to_tensor(mask, nullptr, "keep_mask"));
      }, nb::arg("param"), nb::arg("new_param"), nb::arg("keep_mask"))
      .def("append_rows", [](Optimizer& o, nb::handle p, nb::handle neu) {
        o.append_rows(tensor_arg(p, "param"), tensor_arg(neu, "new_param"));
      }, nb::arg("param"), nb::arg("new_param"))
      .def("get_state", [](const Optimizer& o, int64_t gi, int64_t pi) {
        return state_dict_of(o.state(gi, pi));
      }, nb::arg("group_index"), nb::arg("index"),
         "Copies of the state of one parameter: {'step', 'exp_avg', 'exp_avg_sq', "
         "'momentum_buffer'} (Tensors or None).")
      .def("set_state", [](Optimizer& o, int64_t gi, int64_t pi, int64_t step, nb::handle m,
                           nb::handle v, nb::handle buf) {
        o.set_state(gi, pi, step, opt_tensor(m, "exp_avg"), opt_tensor(v, "exp_avg_sq"),
                    opt_tensor(buf, "momentum_buffer"));
      }, nb::arg("group_index"), nb::arg("index"), nb::arg("step"), nb::arg("exp_avg").none(),
         nb::arg("exp_avg_sq").none(), nb::arg("momentum_buffer").none());

  m.def("exponential_decay", &exponential_decay, nb::arg("step"), nb::arg("lr_init"),
        nb::arg("lr_final"), nb::arg("max_steps"), nb::arg("lr_delay_steps") = 0,
        nb::arg("lr_delay_mult") = 1.0,
        "The 3DGS position schedule (Kerbl et al. 2023): log-linear from lr_init to "
        "lr_final over max_steps, times a sine warm-up from lr_delay_mult over lr_delay_steps.");
  m.def("cosine", &cosine, nb::arg("step"), nb::arg("lr_max"), nb::arg("lr_min"),
        nb::arg("max_steps"), nb::arg("warmup_steps") = 0,
        "Linear warm-up 0 -> lr_max over warmup_steps, then half a cosine down to lr_min at "
        "max_steps.");

  nb::class_<LRSchedule>(m, "LRSchedule")
      .def("step", [](LRSchedule& s, nb::handle step) {
        return step.is_none() ? s.step() : s.step_to(nb::cast<int64_t>(step));
      }, nb::arg("step") = nb::none(),
         "Advance one step (or jump to `step`), set the group's lr and return it.")
      .def("value", &LRSchedule::value, nb::arg("step"))
      .def_prop_ro("last_step", &LRSchedule::last_step)
      .def_prop_ro("lr", &LRSchedule::lr);
  nb::class_<ExponentialDecaySchedule, LRSchedule>(m, "ExponentialDecaySchedule")
      .def(nb::init<std::shared_ptr<ParamGroup>, double, double, int64_t, int64_t, double, int64_t>(),
           nb::arg("group"), nb::arg("lr_init"), nb::arg("lr_final"), nb::arg("max_steps"),
           nb::arg("lr_delay_steps") = 0, nb::arg("lr_delay_mult") = 1.0, nb::arg("last_step") = 0);
  nb::class_<CosineSchedule, LRSchedule>(m, "CosineSchedule")
      .def(nb::init<std::shared_ptr<ParamGroup>, double, double, int64_t, int64_t, int64_t>(),
           nb::arg("group"), nb::arg("lr_max"), nb::arg("lr_min"), nb::arg("max_steps"),
           nb::arg("warmup_steps") = 0, nb::arg("last_step") = 0);
}

}  // namespace sc

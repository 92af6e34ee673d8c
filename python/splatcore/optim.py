"""splatcore.optim: Adam, AdamW and SGD over parameter groups, learning-rate
schedules, and the row surgery 3DGS densification needs.

The updates run in C++ (one fused pass per tensor, see cpp/optim/); this module
only sorts out arguments and converts checkpoints to NumPy.

    opt = Adam([{"params": [means], "lr": 1.6e-4, "name": "means"},
                {"params": [sh0], "lr": 2.5e-3, "name": "sh0"}])
    sched = ExponentialDecaySchedule(opt, "means", 1.6e-4, 1.6e-6, max_steps=30_000)
    for it in range(30_000):
        loss = ...; loss.backward()
        opt.step(); opt.zero_grad(); sched.step()
"""
import numpy as np

from . import _core

_O = _core._optim

ParamGroup = _O.ParamGroup
exponential_decay = _O.exponential_decay
cosine = _O.cosine

__all__ = [
    "Optimizer", "Adam", "AdamW", "SGD", "ParamGroup",
    "exponential_decay", "cosine", "ExponentialDecaySchedule", "CosineSchedule",
]

_STATE_KEYS = ("exp_avg", "exp_avg_sq", "momentum_buffer")


class Optimizer:
    """Base of the optimizers: parameter groups over a C++ optimizer.

    `params` is a list of Tensors (one group) or a list of dicts
    ``{"params": [...], "name": ..., "lr": ..., <hyper-parameters>}``; keys left
    out take the optimizer's defaults."""

    _kind = None
    _hyper = ()  # hyper-parameter names of this optimizer (besides lr)

    def __init__(self, params, defaults):
        self._core = _O.Optimizer(self._kind)
        self.defaults = dict(defaults)
        if isinstance(params, _core.Tensor) or isinstance(params, dict):
            raise TypeError(f"params: expected a list of Tensors or of group dicts, got a single "
                            f"{type(params).__name__}; wrap it in a list")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"params: expected a list of Tensors or of group dicts, got "
                            f"{type(params).__name__}") from None
        if not params:
            raise ValueError("params: expected a non-empty list of Tensors or of group dicts, "
                             "got an empty list")
        n_dicts = sum(isinstance(p, dict) for p in params)
        if n_dicts == 0:
            params = [{"params": params}]
        elif n_dicts != len(params):
            raise TypeError("params: expected either all Tensors or all group dicts, got a mix")
        for g in params:
            self.add_param_group(g)

    def add_param_group(self, group):
        """Add a group dict ``{"params": [...], "name": ..., "lr": ..., ...}``."""
        if not isinstance(group, dict):
            raise TypeError(f"group: expected a dict, got {type(group).__name__}")
        allowed = ("params", "name", "lr") + self._hyper
        unknown = sorted(set(group) - set(allowed))
        if unknown:
            raise ValueError(f"group: unknown keys {unknown} for {self._kind}; "
                             f"expected some of {list(allowed)}")
        if "params" not in group:
            raise ValueError("group: the 'params' key (a list of Tensors) is required")
        params = group["params"]
        if isinstance(params, _core.Tensor):
            params = [params]
        kwargs = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}}
        name = kwargs.pop("name", "") or ""
        if not isinstance(name, str):
            raise TypeError(f"name: expected a str, got {type(name).__name__}")
        return self._core.add_param_group(list(params), name=name, **kwargs)

    # ---- groups ------------------------------------------------------------
    @property
    def param_groups(self):
        """The groups (ParamGroup objects: g.lr or g['lr'] can be read and set)."""
        return list(self._core.param_groups)

    def group(self, key):
        """A group by name (str) or index (int)."""
        return self._core.group(key)

    # ---- stepping ----------------------------------------------------------
    def step(self):
        """Update every parameter that has a gradient (one fused pass per tensor)."""
        self._core.step()

    def zero_grad(self):
        """Set every parameter's gradient to None."""
        self._core.zero_grad()

    # ---- row surgery (densification) ---------------------------------------
    def replace_param(self, old, new, source_rows):
        """`new` (M rows) replaces `old` (N rows) in its group; new row r inherits the
        optimizer state of old row source_rows[r] (int64, length M), or zeros where -1.
        The per-parameter step count is kept."""
        self._core.replace_param(old, new, source_rows)

    def prune_rows(self, param, new_param, keep_mask):
        """`new_param` holds the rows of `param` where keep_mask (bool, length N) is true."""
        self._core.prune_rows(param, new_param, keep_mask)

    def append_rows(self, param, new_param):
        """`new_param` = rows of `param` followed by new rows, which get zero state."""
        self._core.append_rows(param, new_param)

    # ---- checkpoints -------------------------------------------------------
    def state_dict(self):
        """Hyper-parameters and per-parameter state as plain Python / NumPy:
        ``{"type", "param_groups": [{..., "params": [indices]}], "state": {index:
        {"step", <arrays>}}}``. Parameters themselves are not included."""
        groups, state = [], {}
        index = 0
        for gi, g in enumerate(self._core.param_groups):
            entry = {k: g[k] for k in g.keys() if k != "params"}
            entry["params"] = list(range(index, index + len(g.params)))
            groups.append(entry)
            for pi in range(len(g.params)):
                s = self._core.get_state(gi, pi)
                if s["step"] > 0 or any(s[k] is not None for k in _STATE_KEYS):
                    st = {"step": int(s["step"])}
                    for k in _STATE_KEYS:
                        if s[k] is not None:
                            st[k] = np.array(s[k].numpy(), copy=True)
                    state[index + pi] = st
            index += len(g.params)
        return {"type": self._kind, "param_groups": groups, "state": state}

    def load_state_dict(self, state_dict):
        """Restore what state_dict() returned. The optimizer must hold the same groups
        with parameters of the same shapes (restore the parameters first)."""
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict:
            raise TypeError("state_dict: expected a dict from Optimizer.state_dict()")
        kind = state_dict.get("type")
        if kind != self._kind:
            raise ValueError(f"state_dict: saved from a {kind} optimizer, cannot load into {self._kind}")
        groups = self._core.param_groups
        saved = state_dict["param_groups"]
        if len(saved) != len(groups):
            raise ValueError(f"state_dict: has {len(saved)} parameter groups, this optimizer has "
                             f"{len(groups)}")
        state = state_dict.get("state", {})
        # Check everything before changing anything.
        plan = []
        for gi, (sg, g) in enumerate(zip(saved, groups)):
            if sg.get("name", "") != g.name:
                raise ValueError(f"state_dict: group {gi} is named {sg.get('name')!r}, this "
                                 f"optimizer's is {g.name!r}")
            if len(sg["params"]) != len(g.params):
                raise ValueError(f"state_dict: group {gi} ({g.name!r}) has {len(sg['params'])} "
                                 f"parameters, this optimizer's has {len(g.params)}")
            for pi, (idx, p) in enumerate(zip(sg["params"], g.params)):
                st = state.get(idx, state.get(str(idx)))
                if st is not None:
                    for k in _STATE_KEYS:
                        if k in st and tuple(np.shape(st[k])) != tuple(p.shape):
                            raise ValueError(
                                f"state_dict: {k} of parameter {pi} of group {gi} ({g.name!r}) has "
                                f"shape {tuple(np.shape(st[k]))}, the parameter has shape "
                                f"{tuple(p.shape)}")
                plan.append((gi, pi, st))
        for sg, g in zip(saved, groups):
            for k in g.keys():
                if k not in ("params", "name") and k in sg:
                    g[k] = tuple(sg[k]) if k == "betas" else sg[k]
        for gi, pi, st in plan:
            if st is None:
                self._core.set_state(gi, pi, 0, None, None, None)
            else:
                arrays = [None if st.get(k) is None else np.ascontiguousarray(st[k])
                          for k in _STATE_KEYS]
                self._core.set_state(gi, pi, int(st.get("step", 0)), *arrays)

    def __repr__(self):
        lines = [f"{self._kind}("]
        for g in self._core.param_groups:
            hyper = ", ".join(f"{k}={g[k]!r}" for k in g.keys() if k not in ("params",))
            lines.append(f"  [{len(g.params)} params] {hyper}")
        return "\n".join(lines) + "\n)"


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, Alg. 1) with torch.optim.Adam semantics; weight_decay
    is an L2 penalty added to the gradient."""

    _kind = "Adam"
    _hyper = ("betas", "eps", "weight_decay")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay))


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019): decoupled weight decay p -= lr*wd*p before
    the Adam update, as torch.optim.AdamW."""

    _kind = "AdamW"

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class SGD(Optimizer):
    """SGD with momentum, dampening, Nesterov momentum and L2 weight decay
    (torch.optim.SGD semantics)."""

    _kind = "SGD"
    _hyper = ("momentum", "dampening", "nesterov", "weight_decay")

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      nesterov=bool(nesterov), weight_decay=weight_decay))


# ---- schedules ------------------------------------------------------------------

def _group_of(optimizer, group):
    if isinstance(optimizer, Optimizer):
        return optimizer.group(group)
    raise TypeError(f"optimizer: expected a splatcore.optim optimizer, got {type(optimizer).__name__}")


class _Schedule:
    def step(self, step=None):
        """Advance one step (or jump to `step`), set the group's lr, return it."""
        return self._core.step(step)

    def value(self, step):
        """The schedule's lr at `step` (does not touch the group)."""
        return self._core.value(step)

    @property
    def last_step(self):
        return self._core.last_step

    @property
    def lr(self):
        return self._core.lr


class ExponentialDecaySchedule(_Schedule):
    """Sets `group`'s lr to exponential_decay(step, ...) at construction (step
    `last_step`) and on each step(). `group` is a name, an index or a ParamGroup."""

    def __init__(self, optimizer, group, lr_init, lr_final, max_steps, lr_delay_steps=0,
                 lr_delay_mult=1.0, last_step=0):
        self._core = _O.ExponentialDecaySchedule(_group_of(optimizer, group), lr_init, lr_final,
                                                 max_steps, lr_delay_steps, lr_delay_mult,
                                                 last_step)


class CosineSchedule(_Schedule):
    """Sets `group`'s lr to cosine(step, ...) at construction (step `last_step`)
    and on each step()."""

    def __init__(self, optimizer, group, lr_max, lr_min, max_steps, warmup_steps=0, last_step=0):
        self._core = _O.CosineSchedule(_group_of(optimizer, group), lr_max, lr_min, max_steps,
                                       warmup_steps, last_step)

"""splatcore.optim against NumPy float64 transcriptions of each update rule."""
import pickle

import numpy as np
import pytest

import splatcore as sc
from helpers import rel_err
from splatcore import optim

TOL = {"float64": 1e-12, "float32": 1e-5}


# ---- NumPy float64 references -----------------------------------------------------

def ref_adam(p, g, st, lr, betas=(0.9, 0.999), eps=1e-8, wd=0.0, decoupled=False):
    """One Adam / AdamW step (Kingma & Ba 2015 Alg. 1; torch.optim.Adam / AdamW
    forms). `st` holds step, m, v and is updated; returns the new parameter."""
    p = np.asarray(p, np.float64)
    g = np.asarray(g, np.float64)
    b1, b2 = betas
    if decoupled:
        p = p * (1 - lr * wd)  # Loshchilov & Hutter 2019
    elif wd:
        g = g + wd * p
    st["step"] += 1
    t = st["step"]
    st["m"] = b1 * st["m"] + (1 - b1) * g
    st["v"] = b2 * st["v"] + (1 - b2) * g * g
    m_hat = st["m"] / (1 - b1 ** t)
    v_hat = st["v"] / (1 - b2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


def ref_sgd(p, g, st, lr, momentum=0.0, dampening=0.0, nesterov=False, wd=0.0):
    """One torch.optim.SGD step; st["buf"] is None before the first step."""
    p = np.asarray(p, np.float64)
    g = np.asarray(g, np.float64)
    if wd:
        g = g + wd * p
    if momentum:
        if st["buf"] is None:
            st["buf"] = g.copy()
        else:
            st["buf"] = momentum * st["buf"] + (1 - dampening) * g
        g = g + momentum * st["buf"] if nesterov else st["buf"]
    return p - lr * g


def ref_expon(step, lr_init, lr_final, max_steps, lr_delay_steps=0, lr_delay_mult=1.0):
    """The 3DGS expon_lr schedule, transcribed from its description."""
    if step < 0 or (lr_init == 0.0 and lr_final == 0.0):
        return 0.0
    if lr_delay_steps > 0:
        delay = lr_delay_mult + (1 - lr_delay_mult) * np.sin(
            0.5 * np.pi * np.clip(step / lr_delay_steps, 0, 1))
    else:
        delay = 1.0
    t = np.clip(step / max_steps, 0, 1)
    return delay * np.exp(np.log(lr_init) * (1 - t) + np.log(lr_final) * t)


def ref_cosine(step, lr_max, lr_min, max_steps, warmup_steps=0):
    step = max(step, 0)
    if step < warmup_steps:
        return lr_max * step / warmup_steps
    if step >= max_steps:
        return lr_min
    prog = (step - warmup_steps) / (max_steps - warmup_steps)
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + np.cos(np.pi * prog))


def make_param(arr, dtype):
    return sc.tensor(np.array(arr, dtype=dtype), requires_grad=True)


def adam_state(opt, gi, pi):
    s = opt._core.get_state(gi, pi)
    return s["step"], s["exp_avg"].numpy(), s["exp_avg_sq"].numpy()


SHAPES = [(7, 3), (5,), (4, 2, 3)]


# ---- Adam / AdamW -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind,wd", [("Adam", 0.0), ("Adam", 0.1), ("AdamW", 0.0), ("AdamW", 0.05)])
def test_adam_matches_reference(dtype, kind, wd):
    rng = np.random.default_rng([len(dtype), len(kind), int(wd * 100)])
    betas, eps = (0.8, 0.99), 1e-6
    lrs = [3e-2, 7e-3]
    init = [rng.standard_normal(s) for s in SHAPES]
    params = [make_param(a, dtype) for a in init]
    cls = optim.Adam if kind == "Adam" else optim.AdamW
    opt = cls([{"params": params[:2], "lr": lrs[0], "name": "a"},
               {"params": params[2:], "lr": lrs[1], "name": "b"}],
              betas=betas, eps=eps, weight_decay=wd)
    ref = [np.array(p.numpy(), np.float64) for p in params]
    st = [{"step": 0, "m": np.zeros(s), "v": np.zeros(s)} for s in SHAPES]
    group_of = [0, 0, 1]
    for it in range(6):
        for k, p in enumerate(params):
            if k == 1 and it in (2, 3):
                p.grad = None  # no gradient: skipped, step count not advanced
                continue
            g = rng.standard_normal(SHAPES[k]).astype(dtype)
            p.grad = sc.tensor(g)
            ref[k] = ref_adam(ref[k], g, st[k], lrs[group_of[k]], betas, eps, wd,
                              decoupled=kind == "AdamW")
        opt.step()
        for k, p in enumerate(params):
            assert p.dtype == dtype
            assert rel_err(p.numpy(), ref[k]) < TOL[dtype], (it, k)
    for k in range(3):
        step, m, v = adam_state(opt, group_of[k], k if k < 2 else 0)
        assert step == st[k]["step"] == (4 if k == 1 else 6)
        assert rel_err(m, st[k]["m"]) < TOL[dtype]
        assert rel_err(v, st[k]["v"]) < TOL[dtype]
    # the updates themselves (not only the parameters) match in float64
    if dtype == "float64":
        for k in range(3):
            assert rel_err(params[k].numpy() - init[k], ref[k] - init[k]) < 1e-10


@pytest.mark.parametrize("kind", ["AdamW", "SGD"])
def test_large_tensor_split_across_threads(kind):
    # more elements than one parallel_for chunk (2**14): every chunk is updated
    rng = np.random.default_rng(4)
    n = 50_001
    p = make_param(rng.standard_normal(n), "float32")
    opt = (optim.AdamW([p], lr=0.01, weight_decay=0.1) if kind == "AdamW"
           else optim.SGD([p], lr=0.01, momentum=0.9, weight_decay=0.1))
    ref = p.numpy().astype(np.float64)
    st = {"step": 0, "m": np.zeros(n), "v": np.zeros(n), "buf": None}
    for _ in range(3):
        g = rng.standard_normal(n).astype(np.float32)
        p.grad = sc.tensor(g)
        opt.step()
        ref = (ref_adam(ref, g, st, 0.01, wd=0.1, decoupled=True) if kind == "AdamW"
               else ref_sgd(ref, g, st, 0.01, momentum=0.9, wd=0.1))
    assert rel_err(p.numpy(), ref) < 1e-5
    assert np.max(np.abs(p.numpy() - ref)) < 1e-5


def test_adam_defaults_and_lr_change_mid_run():
    rng = np.random.default_rng(1)
    p = make_param(rng.standard_normal((6, 2)), "float64")
    opt = optim.Adam([p])
    g0 = opt.param_groups[0]
    assert g0["lr"] == 1e-3 and g0["betas"] == (0.9, 0.999) and g0["eps"] == 1e-8
    assert g0["weight_decay"] == 0.0
    assert optim.AdamW([make_param(np.ones(2), "float64")]).param_groups[0]["weight_decay"] == 1e-2
    ref = p.numpy().copy()
    st = {"step": 0, "m": np.zeros((6, 2)), "v": np.zeros((6, 2))}
    for it, lr in enumerate([1e-3, 5e-2, 5e-2, 2e-4, 0.0]):
        if it % 2:
            opt.param_groups[0]["lr"] = lr
        else:
            opt.group(0).lr = lr
        g = rng.standard_normal((6, 2))
        p.grad = sc.tensor(g)
        opt.step()
        ref = ref_adam(ref, g, st, lr)
        assert rel_err(p.numpy(), ref) < 1e-12
    assert opt.param_groups[0].lr == 0.0


# ---- SGD ---------------------------------------------------------------------------

SGD_CASES = [
    dict(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0),
    dict(momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0),
    dict(momentum=0.9, dampening=0.3, nesterov=False, weight_decay=0.01),
    dict(momentum=0.8, dampening=0.0, nesterov=True, weight_decay=0.0),
    dict(momentum=0.7, dampening=0.0, nesterov=True, weight_decay=0.05),
    dict(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.2),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", SGD_CASES, ids=[str(i) for i in range(len(SGD_CASES))])
def test_sgd_matches_reference(dtype, case):
    rng = np.random.default_rng(7)
    lrs = [0.1, 0.02]
    params = [make_param(rng.standard_normal(s), dtype) for s in SHAPES]
    opt = optim.SGD([{"params": params[:1], "lr": lrs[0]}, {"params": params[1:], "lr": lrs[1]}],
                    lr=0.5, **case)
    ref = [np.array(p.numpy(), np.float64) for p in params]
    st = [{"buf": None} for _ in SHAPES]
    for it in range(6):
        for k, p in enumerate(params):
            if k == 2 and it == 1:
                p.grad = None
                continue
            g = rng.standard_normal(SHAPES[k]).astype(dtype)
            p.grad = sc.tensor(g)
            ref[k] = ref_sgd(ref[k], g, st[k], lrs[min(k, 1)], case["momentum"],
                             case["dampening"], case["nesterov"], case["weight_decay"])
        opt.step()
        for k, p in enumerate(params):
            assert rel_err(p.numpy(), ref[k]) < TOL[dtype], (it, k)
    s = opt._core.get_state(1, 0)
    if case["momentum"]:
        assert rel_err(s["momentum_buffer"].numpy(), st[1]["buf"]) < TOL[dtype]
    else:
        assert s["momentum_buffer"] is None


# ---- gradients: views, dtypes, zero_grad ------------------------------------------

def test_noncontiguous_and_other_dtype_grads():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((5, 4))
    p1 = make_param(a, "float32")
    p2 = make_param(a, "float32")
    o1, o2 = optim.Adam([p1], lr=0.01), optim.Adam([p2], lr=0.01)
    for _ in range(3):
        g = rng.standard_normal((4, 5))  # float64, transposed below
        view = sc.tensor(g).transpose(0, 1)
        assert not view.is_contiguous()
        p1.grad = view
        p2.grad = sc.tensor(np.ascontiguousarray(g.T).astype(np.float32))
        o1.step()
        o2.step()
        # a float64 gradient is rounded to float32 first: identical results
        np.testing.assert_array_equal(p1.numpy(), p2.numpy())


def test_zero_grad_sets_none_and_step_skips():
    p = make_param(np.ones(3), "float64")
    q = make_param(np.ones(3), "float64")
    opt = optim.SGD([p, q], lr=0.1)
    p.grad = sc.tensor(np.ones(3))
    q.grad = sc.tensor(np.ones(3))
    opt.zero_grad()
    assert p.grad is None and q.grad is None
    opt.step()
    np.testing.assert_array_equal(p.numpy(), np.ones(3))


def test_autograd_gradients_and_minimisation():
    rng = np.random.default_rng(5)
    target = rng.standard_normal((8, 3))
    w = rng.uniform(0.5, 3.0, (8, 3))
    x = make_param(np.zeros((8, 3)), "float64")
    opt = optim.Adam([x], lr=0.05)
    t, wt = sc.tensor(target), sc.tensor(w)
    losses = []
    for _ in range(600):
        opt.zero_grad()
        loss = (((x - t) * (x - t)) * wt).sum()
        loss.backward()
        losses.append(float(loss))
        opt.step()
    assert losses[-1] < 1e-6 * losses[0]
    assert np.max(np.abs(x.numpy() - target)) < 1e-3


# ---- row surgery -----------------------------------------------------------------

def _run_adam(params, opt, refs, states, rng, steps, lr):
    for _ in range(steps):
        for k, p in enumerate(params):
            g = rng.standard_normal(p.shape)
            p.grad = sc.tensor(g)
            refs[k] = ref_adam(refs[k], g, states[k], lr)
        opt.step()
    return refs


def test_prune_rows_keeps_moments_of_survivors():
    rng = np.random.default_rng(11)
    lr = 0.02
    p = make_param(rng.standard_normal((10, 3)), "float64")
    other = make_param(rng.standard_normal(4), "float64")
    opt = optim.Adam([{"params": [p], "lr": lr, "name": "means"},
                      {"params": [other], "lr": lr, "name": "x"}])
    refs = [p.numpy().copy(), other.numpy().copy()]
    sts = [{"step": 0, "m": np.zeros((10, 3)), "v": np.zeros((10, 3))},
           {"step": 0, "m": np.zeros(4), "v": np.zeros(4)}]
    _run_adam([p, other], opt, refs, sts, rng, 3, lr)
    keep = rng.random(10) < 0.6
    keep[0] = True
    _, m_before, v_before = (np.array(a) for a in adam_state(opt, 0, 0))
    new = make_param(p.numpy()[keep], "float64")
    opt.prune_rows(p, new, keep)
    assert opt.group("means")["params"][0] is not None
    assert opt.param_groups[0].params[0].data_ptr == new.data_ptr
    refs[0] = refs[0][keep]
    sts[0] = {"step": 3, "m": sts[0]["m"][keep], "v": sts[0]["v"][keep]}
    step, m, v = adam_state(opt, 0, 0)
    assert step == 3 and m.shape == (keep.sum(), 3)
    np.testing.assert_array_equal(m, m_before[keep])  # moved exactly
    np.testing.assert_array_equal(v, v_before[keep])
    _run_adam([new, other], opt, refs, sts, rng, 3, lr)
    assert rel_err(new.numpy(), refs[0]) < 1e-12
    assert rel_err(other.numpy(), refs[1]) < 1e-12


def test_append_rows_gives_zero_state_to_new_rows():
    rng = np.random.default_rng(12)
    lr = 0.03
    p = make_param(rng.standard_normal((6, 2, 3)), "float32")
    opt = optim.Adam([p], lr=lr)
    refs = [p.numpy().astype(np.float64)]
    sts = [{"step": 0, "m": np.zeros((6, 2, 3)), "v": np.zeros((6, 2, 3))}]
    _run_adam([p], opt, refs, sts, rng, 2, lr)
    extra = rng.standard_normal((4, 2, 3)).astype(np.float32)
    new = make_param(np.concatenate([p.numpy(), extra]), "float32")
    opt.append_rows(p, new)
    refs[0] = np.concatenate([refs[0], extra.astype(np.float64)])
    z = np.zeros((4, 2, 3))
    sts[0] = {"step": 2, "m": np.concatenate([sts[0]["m"], z]),
              "v": np.concatenate([sts[0]["v"], z])}
    _, m, v = adam_state(opt, 0, 0)
    assert np.all(m[6:] == 0) and np.all(v[6:] == 0)
    _run_adam([new], opt, refs, sts, rng, 3, lr)
    assert rel_err(new.numpy(), refs[0]) < 1e-5


def test_replace_param_clone_split_and_fresh_rows():
    rng = np.random.default_rng(13)
    lr = 0.01
    p = make_param(rng.standard_normal((5, 4)), "float64")
    opt = optim.AdamW([p], lr=lr, weight_decay=0.0)
    refs = [p.numpy().copy()]
    sts = [{"step": 0, "m": np.zeros((5, 4)), "v": np.zeros((5, 4))}]
    _run_adam([p], opt, refs, sts, rng, 4, lr)
    src = np.array([4, 0, 0, -1, 2, 2, -1], dtype=np.int64)  # reorder, clone twice, fresh
    new_vals = rng.standard_normal((7, 4))
    new = make_param(new_vals, "float64")
    _, m_before, v_before = (np.array(a) for a in adam_state(opt, 0, 0))
    opt.replace_param(p, new, sc.tensor(src))
    rows = np.where(src[:, None] >= 0, 1.0, 0.0)
    sts[0] = {"step": 4, "m": sts[0]["m"][src] * rows, "v": sts[0]["v"][src] * rows}
    refs[0] = new_vals.copy()
    _, m, v = adam_state(opt, 0, 0)
    np.testing.assert_array_equal(m, m_before[src] * rows)
    np.testing.assert_array_equal(v, v_before[src] * rows)
    _run_adam([new], opt, refs, sts, rng, 3, lr)
    assert rel_err(new.numpy(), refs[0]) < 1e-12
    # the old tensor is no longer a parameter
    with pytest.raises(ValueError, match="not a parameter"):
        opt.append_rows(p, make_param(np.zeros((6, 4)), "float64"))


def test_prune_to_zero_rows_then_append():
    p = make_param(np.ones((3, 2)), "float64")
    opt = optim.Adam([p], lr=0.1)
    p.grad = sc.tensor(np.ones((3, 2)))
    opt.step()
    empty = make_param(np.zeros((0, 2)), "float64")
    opt.prune_rows(p, empty, np.zeros(3, bool))
    empty.grad = sc.tensor(np.zeros((0, 2)))
    opt.step()  # nothing to update, nothing breaks
    grown = make_param(np.ones((2, 2)), "float64")
    opt.append_rows(empty, grown)
    g = np.random.default_rng(2).standard_normal((2, 2))
    grown.grad = sc.tensor(g)
    opt.step()
    # fresh rows: zero moments, the parameter's step count carried on (1 -> 2)
    st = {"step": 1, "m": np.zeros((2, 2)), "v": np.zeros((2, 2))}
    assert rel_err(grown.numpy(), ref_adam(np.ones((2, 2)), g, st, 0.1)) < 1e-12


def test_sgd_momentum_buffer_follows_rows():
    rng = np.random.default_rng(14)
    p = make_param(rng.standard_normal((4, 2)), "float64")
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    st = {"buf": None}
    ref = p.numpy().copy()
    for _ in range(2):
        g = rng.standard_normal((4, 2))
        p.grad = sc.tensor(g)
        ref = ref_sgd(ref, g, st, 0.1, 0.9)
        opt.step()
    keep = np.array([True, False, True, True])
    new = make_param(p.numpy()[keep], "float64")
    opt.prune_rows(p, new, sc.tensor(keep))
    st["buf"], ref = st["buf"][keep], ref[keep]
    for _ in range(2):
        g = rng.standard_normal((3, 2))
        new.grad = sc.tensor(g)
        ref = ref_sgd(ref, g, st, 0.1, 0.9)
        opt.step()
    assert rel_err(new.numpy(), ref) < 1e-12


def test_row_surgery_errors():
    p = make_param(np.zeros((4, 3)), "float64")
    opt = optim.Adam([p])
    stranger = make_param(np.zeros((4, 3)), "float64")
    with pytest.raises(ValueError, match="not a parameter"):
        opt.replace_param(stranger, make_param(np.zeros((4, 3)), "float64"), np.arange(4))
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(4, 2\)"):
        opt.replace_param(p, make_param(np.zeros((4, 2)), "float64"), np.arange(4))
    with pytest.raises(IndexError, match=r"source_rows\[2\] = 4"):
        opt.replace_param(p, make_param(np.zeros((3, 3)), "float64"), np.array([0, 1, 4]))
    with pytest.raises(IndexError, match="-2"):
        opt.replace_param(p, make_param(np.zeros((1, 3)), "float64"), np.array([-2]))
    with pytest.raises(ValueError, match=r"source_rows.*\(3,\).*\(2,\)"):
        opt.replace_param(p, make_param(np.zeros((3, 3)), "float64"), np.array([0, 1]))
    with pytest.raises(TypeError, match="source_rows"):
        opt.replace_param(p, make_param(np.zeros((2, 3)), "float64"), np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="float64"):
        opt.replace_param(p, make_param(np.zeros((2, 3)), "float32"), np.array([0, 1]))
    with pytest.raises(ValueError, match="keep_mask.*\\(4,\\).*\\(3,\\)"):
        opt.prune_rows(p, make_param(np.zeros((2, 3)), "float64"), np.array([True, False, True]))
    with pytest.raises(TypeError, match="keep_mask"):
        opt.prune_rows(p, make_param(np.zeros((2, 3)), "float64"), np.array([1, 0, 1, 0]))
    with pytest.raises(ValueError, match="new_param: expected 2 rows"):
        opt.prune_rows(p, make_param(np.zeros((3, 3)), "float64"),
                       np.array([True, False, True, False]))
    with pytest.raises(ValueError, match="at least 4 rows"):
        opt.append_rows(p, make_param(np.zeros((3, 3)), "float64"))
    with pytest.raises(ValueError, match="requires_grad"):
        opt.append_rows(p, sc.tensor(np.zeros((5, 3))))
    # nothing changed by the failed calls
    assert opt.param_groups[0].params[0].data_ptr == p.data_ptr


# ---- checkpoints -------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["Adam", "AdamW", "SGD"])
def test_state_dict_round_trip_resumes_exactly(kind):
    rng = np.random.default_rng(21)
    shapes = [(6, 3), (6,)]

    def build(arrays):
        ps = [make_param(a, "float32") for a in arrays]
        groups = [{"params": [ps[0]], "lr": 0.01, "name": "means"},
                  {"params": [ps[1]], "lr": 0.05, "name": "opacity"}]
        if kind == "SGD":
            return ps, optim.SGD(groups, lr=0.1, momentum=0.9, nesterov=True)
        return ps, getattr(optim, kind)(groups, betas=(0.85, 0.995))

    params, opt = build([rng.standard_normal(s) for s in shapes])
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(6)]
    for it in range(3):
        for p, g in zip(params, grads[it]):
            p.grad = sc.tensor(g)
        opt.step()
    opt.param_groups[1]["lr"] = 0.02
    sd = pickle.loads(pickle.dumps(opt.state_dict()))
    saved = [p.numpy().copy() for p in params]
    for it in range(3, 6):
        for p, g in zip(params, grads[it]):
            p.grad = sc.tensor(g)
        opt.step()
    expected = [p.numpy().copy() for p in params]

    params2, opt2 = build(saved)
    assert opt2.param_groups[1]["lr"] == 0.05
    opt2.load_state_dict(sd)
    assert opt2.param_groups[1]["lr"] == 0.02
    for it in range(3, 6):
        for p, g in zip(params2, grads[it]):
            p.grad = sc.tensor(g)
        opt2.step()
    for a, b in zip(params2, expected):
        np.testing.assert_array_equal(a.numpy(), b)
    assert sd["state"][0]["step"] == 3


def test_load_state_dict_errors():
    p = make_param(np.zeros((4, 3)), "float32")
    opt = optim.Adam([{"params": [p], "name": "means"}])
    p.grad = sc.tensor(np.ones((4, 3), np.float32))
    opt.step()
    sd = opt.state_dict()
    q = make_param(np.zeros((5, 3)), "float32")
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(5, 3\)"):
        optim.Adam([{"params": [q], "name": "means"}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="SGD"):
        optim.SGD([make_param(np.zeros((4, 3)), "float32")], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="has 1 parameters.*has 2"):
        optim.Adam([{"params": [make_param(np.zeros((4, 3)), "float32"),
                                make_param(np.zeros(2), "float32")], "name": "means"}]
                   ).load_state_dict(sd)


# ---- schedules ---------------------------------------------------------------------

def test_exponential_decay_matches_3dgs():
    for args in [(1.6e-4, 1.6e-6, 30000, 0, 1.0), (1.6e-4 * 3.7, 1.6e-6 * 3.7, 30000, 0, 0.01),
                 (1e-2, 1e-3, 1000, 100, 0.01), (5e-3, 5e-3, 10, 20, 0.5)]:
        for step in [-5, 0, 1, 7, 50, 99, 100, 101, 500, 999, 1000, 1001, 15000, 29999, 30000, 40000]:
            got = optim.exponential_decay(step, *args)
            ref = ref_expon(step, *args)
            assert abs(got - ref) <= 1e-13 * abs(ref) + 1e-300, (args, step, got, ref)
    assert optim.exponential_decay(5, 0.0, 0.0, 10) == 0.0
    assert optim.exponential_decay(-1, 1e-3, 1e-4, 10) == 0.0
    assert optim.exponential_decay(0, 1e-3, 1e-4, 10) == pytest.approx(1e-3, rel=1e-14)
    assert optim.exponential_decay(10, 1e-3, 1e-4, 10) == pytest.approx(1e-4, rel=1e-14)


def test_cosine_matches_reference():
    for args in [(1e-2, 1e-4, 100, 0), (1e-2, 0.0, 100, 10), (3e-3, 1e-3, 50, 50)]:
        for step in [-3, 0, 1, 5, 9, 10, 11, 49, 50, 51, 99, 100, 150]:
            got = optim.cosine(step, *args)
            assert got == pytest.approx(ref_cosine(step, *args), rel=1e-14, abs=1e-300), (args, step)
    assert optim.cosine(0, 1.0, 0.0, 10) == 1.0
    assert optim.cosine(5, 1.0, 0.0, 10) == pytest.approx(0.5)


def test_schedule_objects_set_group_lr():
    means = make_param(np.zeros((3, 3)), "float64")
    sh = make_param(np.zeros((3, 3)), "float64")
    opt = optim.Adam([{"params": [means], "lr": 1.0, "name": "means"},
                      {"params": [sh], "lr": 2.5e-3, "name": "sh0"}])
    args = (1.6e-4, 1.6e-6, 100, 10, 0.01)
    s = optim.ExponentialDecaySchedule(opt, "means", *args)
    assert opt.group("means").lr == pytest.approx(ref_expon(0, *args), rel=1e-14)
    for step in range(1, 120):
        lr = s.step()
        assert lr == opt.param_groups[0]["lr"]
        assert lr == pytest.approx(ref_expon(step, *args), rel=1e-14)
    assert s.last_step == 119
    assert s.step(50) == pytest.approx(ref_expon(50, *args), rel=1e-14)
    assert opt.param_groups[1]["lr"] == 2.5e-3  # other group untouched
    c = optim.CosineSchedule(opt, 1, 1e-2, 1e-4, 20, warmup_steps=5, last_step=3)
    assert opt.param_groups[1]["lr"] == pytest.approx(ref_cosine(3, 1e-2, 1e-4, 20, 5))
    for step in range(4, 25):
        assert c.step() == pytest.approx(ref_cosine(step, 1e-2, 1e-4, 20, 5), rel=1e-14)
    with pytest.raises(ValueError, match="no parameter group named 'rotation'"):
        optim.ExponentialDecaySchedule(opt, "rotation", *args)
    with pytest.raises(IndexError, match="group index 5"):
        optim.CosineSchedule(opt, 5, 1e-2, 1e-4, 20)


def test_schedule_errors():
    with pytest.raises(ValueError, match="max_steps.*0"):
        optim.exponential_decay(1, 1e-3, 1e-4, 0)
    with pytest.raises(ValueError, match="lr_init.*-0.001"):
        optim.exponential_decay(1, -1e-3, 1e-4, 10)
    with pytest.raises(ValueError, match="lr_final=0"):
        optim.exponential_decay(1, 1e-3, 0.0, 10)
    with pytest.raises(ValueError, match="lr_delay_steps.*-1"):
        optim.exponential_decay(1, 1e-3, 1e-4, 10, -1)
    with pytest.raises(ValueError, match="warmup_steps.*11"):
        optim.cosine(1, 1e-3, 1e-4, 10, 11)
    with pytest.raises(ValueError, match="lr_min.*-1"):
        optim.cosine(1, 1e-3, -1.0, 10)


# ---- argument validation -----------------------------------------------------------

def test_hyper_parameter_errors():
    p = lambda: make_param(np.zeros(3), "float32")  # noqa: E731
    with pytest.raises(ValueError, match="lr.*-0.1"):
        optim.Adam([p()], lr=-0.1)
    with pytest.raises(ValueError, match=r"betas\[0\].*\[0, 1\).*1"):
        optim.Adam([p()], betas=(1.0, 0.999))
    with pytest.raises(ValueError, match=r"betas\[1\].*-0.5"):
        optim.AdamW([p()], betas=(0.9, -0.5))
    with pytest.raises(ValueError, match="betas: expected a pair"):
        optim.Adam([p()], betas=(0.9,))
    with pytest.raises(ValueError, match="eps.*> 0.*0"):
        optim.Adam([p()], eps=0.0)
    with pytest.raises(ValueError, match="weight_decay.*-1"):
        optim.AdamW([p()], weight_decay=-1.0)
    with pytest.raises(ValueError, match="momentum.*-0.9"):
        optim.SGD([p()], lr=0.1, momentum=-0.9)
    with pytest.raises(ValueError, match="nesterov.*momentum=0"):
        optim.SGD([p()], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="dampening.*1.5"):
        optim.SGD([p()], lr=0.1, momentum=0.9, dampening=1.5)
    with pytest.raises(ValueError, match="lr.*-1"):
        optim.SGD([p()], lr=0.1).param_groups[0]["lr"] = -1.0
    opt = optim.Adam([{"params": [p()], "name": "means", "lr": 0.1}])
    with pytest.raises(ValueError, match="eps.*-1"):
        opt.group("means").eps = -1.0
    assert opt.group("means").eps == 1e-8
    with pytest.raises(KeyError, match="momentum"):
        opt.param_groups[0]["momentum"]
    with pytest.raises(ValueError, match="unknown keys.*momentum"):
        optim.Adam([{"params": [p()], "momentum": 0.9}])


def test_param_errors():
    with pytest.raises(ValueError, match="requires_grad"):
        optim.Adam([sc.tensor(np.zeros(3))])
    with pytest.raises(TypeError, match="float32 or float64.*int64"):
        optim.Adam([sc.tensor(np.zeros(3, np.int64))])
    t = sc.tensor(np.zeros((3, 4))).transpose(0, 1)
    t.requires_grad = True
    with pytest.raises(ValueError, match="contiguous"):
        optim.Adam([t])
    x = make_param(np.zeros(3), "float64")
    with pytest.raises(ValueError, match="leaf"):
        optim.Adam([x * 2.0])
    with pytest.raises(ValueError, match="twice"):
        optim.Adam([x, x])
    with pytest.raises(ValueError, match="already a parameter"):
        optim.Adam([{"params": [x]}, {"params": [x]}])
    with pytest.raises(ValueError, match="already exists"):
        optim.Adam([{"params": [x], "name": "a"}, {"params": [make_param(np.zeros(1), "float64")],
                                                   "name": "a"}])
    with pytest.raises(TypeError, match=r"params\[1\].*Tensor"):
        optim.Adam([x, np.zeros(3)])
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(TypeError, match="single"):
        optim.Adam(x)
    opt = optim.Adam([x])
    x.grad = sc.tensor(np.zeros(4))
    with pytest.raises(ValueError, match=r"gradient.*\(4,\).*\(3,\)"):
        opt.step()

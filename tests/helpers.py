"""Shared test utilities: relative errors and central finite differences."""
import numpy as np

import splatcore as sc


def rel_err(out, ref):
    """||out - ref|| / ||ref|| (ref all zeros: absolute norm)."""
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert out.shape == ref.shape, f"shape {out.shape} != reference shape {ref.shape}"
    den = np.linalg.norm(ref)
    num = np.linalg.norm(out - ref)
    return num / den if den > 0 else num


def check_grad(fn, inputs, eps=1e-6, tol=1e-4, seed=0):
    """Compare autograd gradients of sum(fn(*inputs) * w) with central finite
    differences in float64. `inputs` are NumPy float64 arrays; fn takes
    splatcore Tensors and returns a Tensor. Returns the worst relative error."""
    rng = np.random.default_rng(seed)
    tensors = [sc.tensor(np.array(x, dtype=np.float64), requires_grad=True) for x in inputs]
    out = fn(*tensors)
    w = rng.standard_normal(out.shape)
    (out * sc.tensor(w)).sum().backward()

    def loss(arrays):
        with sc.no_grad():
            o = fn(*[sc.tensor(a) for a in arrays])
        return float(np.sum(o.numpy() * w))

    worst = 0.0
    for k, x in enumerate(inputs):
        x = np.array(x, dtype=np.float64)
        num = np.zeros_like(x)
        flat = num.reshape(-1)
        for i in range(x.size):
            xp = x.copy().reshape(-1)
            xm = x.copy().reshape(-1)
            xp[i] += eps
            xm[i] -= eps
            args_p = [a if j != k else xp.reshape(x.shape) for j, a in enumerate(inputs)]
            args_m = [a if j != k else xm.reshape(x.shape) for j, a in enumerate(inputs)]
            flat[i] = (loss(args_p) - loss(args_m)) / (2 * eps)
        grad = tensors[k].grad
        assert grad is not None, f"input {k} received no gradient"
        err = rel_err(grad.numpy(), num)
        assert err < tol, f"input {k}: gradient relative error {err:.3e} >= {tol:.0e}"
        worst = max(worst, err)
    return worst

"""Zero-copy exchange of CUDA tensors with PyTorch through DLPack and
__cuda_array_interface__ (runs where a CUDA device and torch exist, e.g. the
H200; skips elsewhere with the reason)."""
import numpy as np
import pytest

import splatcore as sc

torch = pytest.importorskip("torch", reason="torch is the DLPack peer of this test")
pytestmark = pytest.mark.skipif(sc.device_count("cuda") == 0 or not torch.cuda.is_available(),
                                reason="needs a CUDA device")


def test_to_torch_shares_memory():
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    t = sc.tensor(x, device="cuda")
    tt = torch.from_dlpack(t)
    assert tt.device.type == "cuda"
    assert tt.data_ptr() == t.data_ptr
    np.testing.assert_array_equal(tt.cpu().numpy(), x)


def test_from_torch_shares_memory_and_orders_work():
    tt = torch.arange(12, dtype=torch.float32, device="cuda").reshape(3, 4)
    t = sc.from_dlpack(tt)
    assert t.device == "cuda:0" and t.data_ptr == tt.data_ptr()
    tt.mul_(2)  # torch's work, then ours: the same memory, ordered by the streams
    np.testing.assert_array_equal((t + 1.0).numpy(), np.arange(12, dtype=np.float32).reshape(3, 4) * 2 + 1)


def test_cuda_array_interface():
    t = sc.tensor(np.arange(6, dtype=np.float32), device="cuda")
    cai = t.__cuda_array_interface__
    assert cai["shape"] == (6,) and cai["typestr"] == "<f4" and cai["data"][0] == t.data_ptr
    assert torch.as_tensor(t, device="cuda").cpu().tolist() == list(range(6))

"""The safetensors reader (splatcore._core.SafetensorsFile) and splatcore.mast3r.weights.

Files are written here by a small independent writer and checked against a small
independent NumPy reader; hostile files must raise ValueError, never crash.
"""
import gc
import json
import os
import pickle
import re
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import splatcore as sc
from splatcore import mast3r

GOLDEN = Path("/work/shared/golden/mast3r")
needs_golden = pytest.mark.skipif(not (GOLDEN / "weights.safetensors").is_file(),
                                  reason="golden MASt3R files not available")
HF_HINT = "naver/MASt3R_ViTLarge_BaseDecoder_512_catmlpdpt_metric"

# ---------------------------------------------------------------------------
# an independent writer and reader of the format
# ---------------------------------------------------------------------------
NP_OF = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "F64": "<f8", "I64": "<i8", "I32": "<i4",
         "U32": "<u4", "U8": "u1", "BOOL": "u1", "I8": "i1"}


def st_bytes(tensors, metadata=None, align=8):
    """tensors: {name: (dtype_code, ndarray)} (BF16 as uint16 bit patterns)."""
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (code, arr) in tensors.items():
        raw = np.ascontiguousarray(arr).astype(NP_OF[code], copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    if align:
        h += b" " * (-(8 + len(h)) % align)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def raw_file(header, data=b""):
    """A file from a header given as text/bytes/dict, used as is."""
    if isinstance(header, dict):
        header = json.dumps(header)
    if isinstance(header, str):
        header = header.encode()
    return struct.pack("<Q", len(header)) + header + data


def np_read(path):
    """{name: ndarray} parsed with json + np.frombuffer (BF16 as uint16 bits)."""
    b = Path(path).read_bytes()
    n = int.from_bytes(b[:8], "little")
    header = json.loads(b[8:8 + n])
    data = b[8 + n:]
    out = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        lo, hi = v["data_offsets"]
        out[name] = np.frombuffer(data[lo:hi], dtype=NP_OF[v["dtype"]]).reshape(v["shape"])
    return out


def bf16_bits_to_f32(bits):
    return (np.asarray(bits, dtype=np.uint32) << 16).view(np.float32)


def write(tmp_path, data, name="t.safetensors"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def open_err(path, err=ValueError):
    with pytest.raises(err) as e:
        sc._core.SafetensorsFile(path)
    return str(e.value)


# ---------------------------------------------------------------------------
# the golden checkpoint
# ---------------------------------------------------------------------------
@needs_golden
def test_golden_tensors_equal_numpy_reader():
    path = GOLDEN / "weights.safetensors"
    ref = np_read(path)
    f = sc._core.SafetensorsFile(path)
    assert len(f) == len(ref) == 661
    assert sorted(f.names()) == sorted(ref)
    for name, arr in ref.items():
        t = f.tensor(name)
        assert t.dtype == "float32" and tuple(t.shape) == arr.shape
        np.testing.assert_array_equal(t.numpy(), arr, err_msg=name)
        assert f.info(name)["shape"] == arr.shape
    meta = f.metadata()
    assert meta["downstream_head1.dpt.scratch.layer_rn.0.weight"] == \
        "downstream_head1.dpt.scratch.layer1_rn.weight"


def _pattern(name):
    return re.sub(r"\.\d+(?=\.)", ".N", name)


@needs_golden
def test_golden_names_follow_manifest_patterns():
    manifest = json.loads((GOLDEN / "full_checkpoint_manifest.json").read_text())
    man = {_pattern(n) for n in manifest["tensors"]}
    w = mast3r.load_weights(GOLDEN / "weights.safetensors")
    got = {_pattern(n) for n in w}
    assert got == man  # tied aliases included, every pattern present, nothing else
    assert len(w) == 661 + 8
    for head in ("downstream_head1", "downstream_head2"):
        for i in range(4):
            a = w[f"{head}.dpt.scratch.layer{i + 1}_rn.weight"]
            b = w[f"{head}.dpt.scratch.layer_rn.{i}.weight"]
            assert a.data_ptr == b.data_ptr  # the same tensor, not a copy


@needs_golden
def test_check_weights_golden_against_config_and_manifest():
    cfg = json.loads((GOLDEN / "config.json").read_text())
    w = mast3r.load_weights(GOLDEN / "weights.safetensors")
    rep = mast3r.check_weights(w, cfg)
    assert rep.ok, str(rep)
    assert rep.checked == 669
    assert mast3r.check_weights(GOLDEN / "weights.safetensors", GOLDEN / "config.json").ok
    f = sc._core.SafetensorsFile(GOLDEN / "weights.safetensors")
    assert mast3r.check_weights(f, cfg["config"]).ok
    # the small model is not the full one: 10 vs 12 decoder blocks, other widths
    full = mast3r.check_weights(w, GOLDEN / "full_checkpoint_manifest.json")
    assert not full.ok and full.mismatched and full.missing and not full.unexpected
    assert any(n.startswith("dec_blocks.11.") for n in full.missing)
    with pytest.raises(ValueError, match="wrong shape"):
        mast3r.check_weights(w, None, strict=True)


@needs_golden
def test_expected_shapes_reproduce_full_manifest():
    manifest = json.loads((GOLDEN / "full_checkpoint_manifest.json").read_text())
    want = {n: tuple(v["shape"]) for n, v in manifest["tensors"].items()}
    assert mast3r.expected_shapes(manifest["config"]) == want
    assert mast3r.expected_shapes(mast3r.FULL_CONFIG) == want
    # a file with exactly the manifest's shapes passes the default check
    fake = {n: type("T", (), {"shape": s})() for n, s in want.items()}
    assert mast3r.check_weights(fake).ok
    assert mast3r.check_weights(fake, manifest).ok


def test_check_weights_reports_problems():
    cfg = dict(mast3r.FULL_CONFIG, enc_depth=1, dec_depth=2, enc_embed_dim=8, dec_embed_dim=4)
    exp = mast3r.expected_shapes(cfg, dpt={"feature_dim": 8, "last_dim": 4, "layer_dims": [2, 3, 4, 5]})
    shape = type("T", (), {})

    def t(s):
        o = shape()
        o.shape = s
        return o

    w = {n: t(s) for n, s in exp.items() if ".layer_rn." not in n}  # one name of each tied pair
    assert mast3r.check_weights(w, cfg).ok
    del w["enc_norm.bias"]
    w["extra.weight"] = t((1,))
    w["enc_blocks.0.mlp.fc1.weight"] = t((31, 8))
    rep = mast3r.check_weights(w, cfg)
    assert rep.missing == ["enc_norm.bias"]
    assert rep.unexpected == ["extra.weight"]
    assert rep.mismatched == [("enc_blocks.0.mlp.fc1.weight", (32, 8), (31, 8))]
    assert "enc_norm.bias" in str(rep) and not rep
    with pytest.raises(ValueError, match="enc_norm.bias"):
        mast3r.check_weights(w, cfg, strict=True)
    with pytest.raises(ValueError, match="neither a manifest"):
        mast3r.check_weights(w, {"foo": 1})


# ---------------------------------------------------------------------------
# round trips, zero copy
# ---------------------------------------------------------------------------
def test_roundtrip_dtypes(tmp_path, rng):
    f32 = rng.standard_normal((3, 5)).astype(np.float32)
    f16 = rng.standard_normal((4, 2, 3)).astype(np.float16)
    bf_vals = rng.standard_normal(7).astype(np.float32)
    bf_bits = (bf_vals.view(np.uint32) >> 16).astype(np.uint16)  # truncated to bfloat16
    tensors = {
        "f32": ("F32", f32), "f16": ("F16", f16), "bf16": ("BF16", bf_bits),
        "f64": ("F64", rng.standard_normal(3)), "i64": ("I64", np.arange(-3, 3, dtype=np.int64)),
        "i32": ("I32", np.array([[1, -2], [3, 2**31 - 1]], dtype=np.int32)),
        "u8": ("U8", np.arange(250, 256, dtype=np.uint8)),
        "b": ("BOOL", np.array([True, False, True])),
        "scalar": ("F32", np.array(2.5, dtype=np.float32)),
        "empty": ("F32", np.zeros((0, 4), dtype=np.float32)),
    }
    p = write(tmp_path, st_bytes(tensors, metadata={"format": "pt", "é": "ünï"}))
    f = sc._core.SafetensorsFile(str(p))
    assert f.names() == list(tensors)
    assert len(f) == len(tensors) and "f16" in f and "nope" not in f and 3 not in f
    assert list(f) == list(tensors)
    assert f.metadata() == {"format": "pt", "é": "ünï"}
    assert f.info("bf16") == {"dtype": "bfloat16", "safetensors_dtype": "BF16", "shape": (7,),
                              "data_offsets": f.info("bf16")["data_offsets"], "nbytes": 14}
    for name, (code, arr) in tensors.items():
        t = f.tensor(name)
        assert tuple(t.shape) == arr.shape, name
        if code == "BF16":
            assert t.dtype == "bfloat16"
            got = f.tensor(name, "float32").numpy()
            np.testing.assert_array_equal(got, bf16_bits_to_f32(bf_bits))
            np.testing.assert_array_equal(got.view(np.uint32) & 0xFFFF, 0)
            np.testing.assert_allclose(got, bf_vals, rtol=1e-2)
        else:
            np.testing.assert_array_equal(t.numpy(), arr, err_msg=name)
    np.testing.assert_array_equal(f.tensor("f16", "float32").numpy(), f16.astype(np.float32))
    np.testing.assert_array_equal(f["f32"].numpy(), f32)
    with pytest.raises(KeyError, match="nope"):
        f.tensor("nope")
    with pytest.raises(KeyError):
        f.info("nope")
    with pytest.raises(KeyError):
        f["nope"]


def test_tensors_own_their_memory(tmp_path):
    # Tensors are read into memory they own (no memory map, issue 12): each read
    # is its own writable copy, and it outlives the file object.
    a = np.arange(1000, dtype=np.float32)
    b = np.arange(64, dtype=np.float32) * -1
    p = write(tmp_path, st_bytes({"a": ("F32", a), "b": ("F32", b)}))
    f = sc._core.SafetensorsFile(p)
    ta, tb, ta2 = f.tensor("a"), f.tensor("b"), f.tensor("a")
    assert ta2.data_ptr != ta.data_ptr and ta.data_ptr % 64 == 0
    if sys.platform.startswith("linux"):  # ... and none of it is a mapping of the file
        assert not [ln for ln in Path("/proc/self/maps").read_text().splitlines()
                    if ln.endswith(str(p))]
    ta2[0] = 5.0  # a copy: the other reads do not see it
    assert float(ta2[0]) == 5.0 and float(ta[0]) == 0.0
    del f, ta2
    gc.collect()
    np.testing.assert_array_equal(ta.numpy(), a)
    np.testing.assert_array_equal(tb.numpy(), b)


def test_converted_and_misaligned_tensors_are_copies(tmp_path):
    v = np.arange(6, dtype=np.float32)
    h = {"x": {"dtype": "F32", "shape": [6], "data_offsets": [1, 25]}}
    p = write(tmp_path, raw_file(h, b"\0" + v.tobytes()))  # data 1 byte off alignment
    t = sc._core.SafetensorsFile(p).tensor("x")
    assert t.data_ptr % 4 == 0
    np.testing.assert_array_equal(t.numpy(), v)
    p = write(tmp_path, st_bytes({"h": ("F16", v.astype(np.float16))}), "h.safetensors")
    w = mast3r.load_weights(p, dtype="float32")
    assert w["h"].dtype == "float32"
    np.testing.assert_array_equal(w["h"].numpy(), v)
    w["h"][0] = 7.0  # a converted copy is writable


def test_bool_bytes_are_normalised(tmp_path):
    h = {"b": {"dtype": "BOOL", "shape": [3], "data_offsets": [0, 3]}}
    p = write(tmp_path, raw_file(h, bytes([0, 1, 7])))
    np.testing.assert_array_equal(sc._core.SafetensorsFile(p).tensor("b").numpy(), [False, True, True])


def test_known_but_unsupported_dtype(tmp_path):
    p = write(tmp_path, st_bytes({"q": ("I8", np.arange(4, dtype=np.int8)),
                                  "x": ("F32", np.ones(2, dtype=np.float32))}))
    f = sc._core.SafetensorsFile(p)
    assert f.info("q")["dtype"] == "I8"
    np.testing.assert_array_equal(f.tensor("x").numpy(), [1, 1])
    with pytest.raises(TypeError, match="I8"):
        f.tensor("q")


def test_names_with_escapes_and_unicode(tmp_path):
    names = ["a\"b", "back\\slash", "tab\t", "é", "日本", "𝄞", "x/y"]
    p = write(tmp_path, st_bytes({n: ("U8", np.array([i], np.uint8)) for i, n in enumerate(names)}))
    f = sc._core.SafetensorsFile(p)
    assert f.names() == names
    h = ('{"\\ud834\\udd1e": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, '
         '"\\u00e9\\/": {"dtype": "U8", "shape": [], "data_offsets": [1, 2]}}')
    p = write(tmp_path, raw_file(h, b"\x05\x06"), "u.safetensors")
    f = sc._core.SafetensorsFile(p)
    assert f.names() == ["𝄞", "é/"]
    assert f.tensor("é/").numpy().shape == ()


def test_empty_header_and_pathlike(tmp_path):
    p = write(tmp_path, raw_file("{}"))
    f = sc._core.SafetensorsFile(p)
    assert len(f) == 0 and f.names() == [] and f.metadata() == {}
    assert f.path == str(p) and "0 tensors" in repr(f)
    p = write(tmp_path, raw_file('  {"__metadata__": {}}  '), "m.safetensors")
    with pytest.raises(ValueError, match="start with"):
        sc._core.SafetensorsFile(p)


def test_opening_a_large_file_reads_only_the_header(tmp_path):
    # 2.75 GB of float32 as a sparse file: opening it and reading one small
    # tensor must not read (or allocate) the big one.
    n = 2_750_000_000 // 4
    h = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]},
                    "s": {"dtype": "F32", "shape": [3], "data_offsets": [4 * n, 4 * n + 12]}})
    head = raw_file(h + " " * (-(8 + len(h)) % 8))  # aligned data, as writers pad it
    p = tmp_path / "big.safetensors"
    with open(p, "wb") as fh:
        fh.write(head)
        fh.seek(len(head) + 4 * n)  # a hole of 2.75 GB, then the small tensor
        fh.write(np.array([1.5, -2.0, 3.25], np.float32).tobytes())
    code = textwrap.dedent(f"""
        import resource, splatcore as sc
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        f = sc._core.SafetensorsFile({str(p)!r})
        assert tuple(f.info("w")["shape"]) == ({n},)
        assert f.tensor("s").numpy().tolist() == [1.5, -2.0, 3.25]
        grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        assert grown_kb < 50_000, grown_kb
        print("ok", grown_kb)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok")


# ---------------------------------------------------------------------------
# hostile and wrong files
# ---------------------------------------------------------------------------
def _valid(rng=None):
    rng = rng or np.random.default_rng(0)
    return st_bytes({"a": ("F32", rng.standard_normal((3, 4)).astype(np.float32)),
                     "b": ("F16", np.ones(5, np.float16)), "c": ("I64", np.arange(3))},
                    metadata={"k": "v"})


def test_missing_file(tmp_path):
    msg = open_err(tmp_path / "nope.safetensors", FileNotFoundError)
    assert "nope.safetensors" in msg
    with pytest.raises(FileNotFoundError):
        mast3r.load_weights(tmp_path / "nope.safetensors")
    msg = open_err(tmp_path, ValueError)
    assert "directory" in msg


def test_truncated_at_every_offset(tmp_path):
    data = _valid()
    p = tmp_path / "t.safetensors"
    for cut in range(len(data)):
        p.write_bytes(data[:cut])
        msg = open_err(p)
        assert str(p) in msg, (cut, msg)
    p.write_bytes(data)
    assert len(sc._core.SafetensorsFile(p)) == 3


def test_header_length_checks(tmp_path):
    data = _valid()
    body = data[8:]
    p = write(tmp_path, struct.pack("<Q", len(body) + 1) + body)
    assert "exceeds file size" in open_err(p)
    p = write(tmp_path, struct.pack("<Q", 123456789) + b"{" + b" " * 991)
    msg = open_err(p)
    assert "header length 123456789 exceeds file size 1000" in msg and str(p) in msg
    for n in (2**63, 2**64 - 1, 200 << 20):
        p = write(tmp_path, struct.pack("<Q", n) + body)
        assert "header length" in open_err(p)
    # within the file but past the 100 MiB cap (a sparse file: nothing is written)
    p = tmp_path / "hugeheader.safetensors"
    with open(p, "wb") as fh:
        fh.write(struct.pack("<Q", 101 << 20) + b"{")
        fh.truncate(8 + (101 << 20))
    assert "exceeds the limit" in open_err(p)
    p = write(tmp_path, struct.pack("<Q", 0) + body)
    assert "too short" in open_err(p)
    p = write(tmp_path, b"\x01\x00\x00")
    assert "too short" in open_err(p)


def _entry(**kw):
    e = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    e.update(kw)
    return e


@pytest.mark.parametrize("header,data,what", [
    ({"a": _entry(data_offsets=[0, 16])}, 8, "exceed the data section"),
    ({"a": _entry(data_offsets=[8, 16])}, 8, "exceed the data section"),
    ({"a": _entry(data_offsets=[8, 0])}, 8, "end before begin"),
    ({"a": _entry(data_offsets=[0, 4])}, 8, "needs 8"),
    ({"a": _entry(shape=[3])}, 8, "needs 12"),
    ({"a": _entry(shape=[2**40, 2**40])}, 8, "too many elements"),
    ({"a": _entry(shape=[2**31, 2**31, 2**31])}, 8, "too many elements"),
    ({"a": _entry(shape=[2**62])}, 8, "too large"),
    ({"a": _entry(shape=[2**63])}, 8, "too large"),
    ({"a": _entry(shape=[-2])}, 8, "negative"),
    ({"a": _entry(shape=[2.0])}, 8, "floating-point"),
    ({"a": _entry(shape=[True])}, 8, "true/false/null"),
    ({"a": _entry(shape=2)}, 8, "expected '\\['"),
    ({"a": _entry(data_offsets=[0])}, 8, "begin, end"),
    ({"a": _entry(data_offsets=[0, 8, 9])}, 8, "begin, end"),
    ({"a": _entry(data_offsets=[-1, 8])}, 8, "negative"),
    ({"a": _entry(dtype="F31")}, 8, "unknown dtype 'F31'"),
    ({"a": _entry(dtype=4)}, 8, "expected a string"),
    ({"a": {"dtype": "F32", "shape": [2]}}, 8, "no \"data_offsets\""),
    ({"a": {"shape": [2], "data_offsets": [0, 8]}}, 8, "no \"dtype\""),
    ({"a": {"dtype": "F32", "data_offsets": [0, 8]}}, 8, "no \"shape\""),
    ({"a": [1, 2]}, 8, "expected an object"),
    ({"a": "F32"}, 8, "expected an object"),
    ({"a": _entry(), "b": _entry(data_offsets=[4, 12])}, 16, "overlap"),
    ({"__metadata__": {"k": 1}}, 0, "must be a string"),
    ({"__metadata__": ["k"]}, 0, "__metadata__"),
    ({"a": _entry(shape=[1] * 65, data_offsets=[0, 4])}, 8, "more than 64 dimensions"),
])
def test_bad_headers(tmp_path, header, data, what):
    p = write(tmp_path, raw_file(header, b"\0" * data))
    assert re.search(what, open_err(p)), open_err(p)


@pytest.mark.parametrize("text,what", [
    ('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}', "ends inside"),
    ('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},}', "expected a string"),
    ('{"a": {"dtype": "F32" "shape": [2]}}', "expected ',' or '}'"),
    ('{"a" {}}', "expected ':'"),
    ('{a: 1}', "expected a string"),
    ("{'a': 1}", "expected a string"),
    ('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}} x', "after the header"),
    ('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}\0', "after the header"),
    ('{"a": {"dtype": "F32", "shape": [02], "data_offsets": [0, 8]}}', "leading zero"),
    ('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 99999999999999999999]}}',
     "64 bits"),
    ('{"a": {"dtype": "F\\q32", "shape": [2], "data_offsets": [0, 8]}}', "invalid escape"),
    ('{"a": {"dtype": "F32\n", "shape": [2], "data_offsets": [0, 8]}}', "control character"),
    ('{"\\ud800": {}}', "surrogate"),
    ('{"\\udc00x": {}}', "surrogate"),
    ('{"\\u12g4": {}}', "hex digit"),
    ('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
     '"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}', "duplicate tensor name"),
    ('{"a": {"dtype": "F32", "dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}',
     "duplicate \"dtype\""),
    ('{"__metadata__": {}, "__metadata__": {}}', "duplicate \"__metadata__\""),
    ('{"__metadata__": null}', "__metadata__"),
    ('{"a": null}', "expected an object"),
    ('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "x": 1.5}}', "floating"),
    ('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "x": nul}}', "true/false/null"),
    ('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "x": "abc}}', "unterminated"),
    ('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "x": "\\u12"}}', "hex digit"),
])
def test_bad_json(tmp_path, text, what):
    p = write(tmp_path, raw_file(text, b"\0" * 16))
    msg = open_err(p)
    assert re.search(what, msg), msg
    assert "bad header JSON" in msg or "tensor" in msg or "__metadata__" in msg


def test_unknown_fields_are_skipped_but_depth_is_bounded(tmp_path):
    ok = '{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "x": {"y": [1, -2, "s", {}]}}}'
    f = sc._core.SafetensorsFile(write(tmp_path, raw_file(ok, b"\x09")))
    assert f.tensor("a").numpy()[0] == 9
    for deep in (70, 100_000):
        nest = "[" * deep + "]" * deep
        text = '{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "x": ' + nest + "}}"
        msg = open_err(write(tmp_path, raw_file(text, b"\x09"), f"d{deep}.safetensors"))
        assert "nesting deeper than" in msg
    for text in ("[" * 100_000, '{"a": ' + "{" * 100_000, '{"a": {"shape": ' + "[" * 100_000):
        open_err(write(tmp_path, raw_file(text, b"\x09"), "d.safetensors"))


def test_invalid_utf8_names(tmp_path):
    for bad in (b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe6\x97"):
        h = b'{"' + bad + b'": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}'
        assert "UTF-8" in open_err(write(tmp_path, raw_file(h, b"\0")))


def test_pytorch_checkpoints_get_a_hint(tmp_path):
    z = tmp_path / "model.pth"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"a": 1}))
    files = [z]
    for proto in (2, 3, 4, 5):
        p = tmp_path / f"ckpt{proto}.pt"
        p.write_bytes(pickle.dumps({"model": [1.0] * 10}, protocol=proto))
        files.append(p)
    files.append(write(tmp_path, b"PK\x03\x04" + b"\0" * 100, "z.safetensors"))
    files.append(write(tmp_path, b"\x80\x04", "tiny.bin"))
    for p in files:
        msg = open_err(p)
        assert "PyTorch checkpoint" in msg and HF_HINT in msg and "model.safetensors" in msg
        assert str(p) in msg
        with pytest.raises(ValueError, match="PyTorch"):
            mast3r.load_weights(p)


def test_valid_file_starting_like_a_pickle(tmp_path):
    # header length 0x0280 begins with the bytes 80 02: still a safetensors file
    h = json.dumps({"a": _entry(shape=[1], data_offsets=[0, 4])}).encode()
    h += b" " * (0x280 - len(h))
    p = write(tmp_path, raw_file(h, b"\0\0\x80\x3f"))
    assert p.read_bytes()[:2] == b"\x80\x02"
    assert sc._core.SafetensorsFile(p).tensor("a").numpy()[0] == 1.0


def test_random_mutations_never_crash(tmp_path):
    """Thousands of mutated files in a subprocess: only ValueError/TypeError, no crash."""
    good = tmp_path / "good.safetensors"
    good.write_bytes(_valid())
    code = textwrap.dedent(f"""
        import json, random, struct, sys
        import splatcore as sc
        rnd = random.Random(1234)
        base = open({str(good)!r}, "rb").read()
        n = int.from_bytes(base[:8], "little")
        path = {str(tmp_path / "m.safetensors")!r}
        opened = 0
        for it in range(2000):
            b = bytearray(base)
            kind = rnd.randrange(6)
            if kind == 0:  # flip bytes anywhere
                for _ in range(rnd.randrange(1, 6)):
                    b[rnd.randrange(len(b))] = rnd.randrange(256)
            elif kind == 1:  # flip bytes in the header
                for _ in range(rnd.randrange(1, 4)):
                    b[8 + rnd.randrange(n)] = rnd.choice(b'{{}}[]",:0123456789-.eE \\\\u')
            elif kind == 2:  # truncate
                b = b[:rnd.randrange(len(b))]
            elif kind == 3:  # a new header length
                b[:8] = struct.pack("<Q", rnd.choice([0, 1, n - 1, n + 1, len(b), 2**63,
                                                      rnd.randrange(2**64)]))
            elif kind == 4:  # delete or insert a span in the header
                i = 8 + rnd.randrange(n)
                if rnd.random() < 0.5:
                    del b[i:i + rnd.randrange(1, 8)]
                else:
                    b[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 8)))
            else:  # change a number in the header
                h = b[8:8 + n].decode("latin1")
                digits = [i for i, c in enumerate(h) if c.isdigit()]
                i = rnd.choice(digits)
                h = h[:i] + str(rnd.choice([0, 1, 7, 2**31, 2**32, 2**63, 2**64, 10**30])) + h[i + 1:]
                b = b[:8] + h.encode("latin1") + b[8 + n:]
                b[:8] = struct.pack("<Q", len(h))
            open(path, "wb").write(bytes(b))
            try:
                f = sc._core.SafetensorsFile(path)
            except ValueError:
                continue
            opened += 1
            for name in f.names():
                try:
                    t = f.tensor(name)
                    a = f.tensor(name, "float32").numpy()
                    float(a.sum()) if a.size else None
                    f.info(name)
                except (TypeError, KeyError):
                    pass
            f.metadata()
        print("opened", opened)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ))
    assert r.returncode == 0, f"rc={r.returncode}\n{r.stdout}\n{r.stderr[-3000:]}"
    opened = int(r.stdout.split()[1])
    assert 20 < opened < 2000  # some mutants stay valid (data bytes), most do not


# ---------------------------------------------------------------------------
# load / find / download
# ---------------------------------------------------------------------------
def test_load_weights_aliases_both_ways(tmp_path):
    h = "downstream_head1.dpt.scratch."
    w1 = np.ones((2, 1, 3, 3), np.float32)
    p = write(tmp_path, st_bytes({h + "layer1_rn.weight": ("F32", w1),
                                  "downstream_head2.dpt.scratch.layer_rn.3.weight": ("F32", w1 * 2)}))
    w = mast3r.load_weights(p)
    assert set(w) == {h + "layer1_rn.weight", h + "layer_rn.0.weight",
                      "downstream_head2.dpt.scratch.layer_rn.3.weight",
                      "downstream_head2.dpt.scratch.layer4_rn.weight"}
    np.testing.assert_array_equal(w["downstream_head2.dpt.scratch.layer4_rn.weight"].numpy(), w1 * 2)
    # a directory holding model.safetensors works too
    d = tmp_path / "ckpt"
    d.mkdir()
    (d / "model.safetensors").write_bytes(p.read_bytes())
    assert set(mast3r.load_weights(d)) == set(w)


def test_find_weights(tmp_path, monkeypatch):
    monkeypatch.delenv("SPLATCORE_MAST3R_WEIGHTS", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    p = write(tmp_path, _valid(), "model.safetensors")
    assert mast3r.find_weights(p) == p
    assert mast3r.find_weights(str(tmp_path)) == p
    with pytest.raises(FileNotFoundError, match="--weights PATH"):
        mast3r.find_weights(tmp_path / "missing.safetensors")
    with pytest.raises(FileNotFoundError, match=r"splatcore\.mast3r\.download\(\)"):
        mast3r.find_weights()
    monkeypatch.setenv("SPLATCORE_MAST3R_WEIGHTS", str(p))
    assert mast3r.find_weights() == p
    monkeypatch.delenv("SPLATCORE_MAST3R_WEIGHTS")
    # a download cached in the Hugging Face hub layout
    repo = tmp_path / "hub" / ("models--" + HF_HINT.replace("/", "--"))
    snap = repo / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    (snap / "model.safetensors").write_bytes(p.read_bytes())
    assert mast3r.find_weights(cache_dir=tmp_path / "hub") == snap / "model.safetensors"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert mast3r.find_weights() == snap / "model.safetensors"


def test_download_needs_huggingface_hub():
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install huggingface_hub"):
            mast3r.download()
    else:
        pytest.skip("huggingface_hub is installed (download itself needs the network)")


def test_package_api():
    assert mast3r.HF_REPO == HF_HINT
    assert mast3r.SafetensorsFile is sc._core.SafetensorsFile
    for name in ("load_weights", "check_weights", "download", "find_weights"):
        assert callable(getattr(mast3r, name))

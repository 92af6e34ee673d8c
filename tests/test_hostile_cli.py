"""Issue 12, defect 9 (and the eval part of 11): the command line never shows a
traceback for bad input. A user error is one line naming the file or argument,
exit code 2; an internal error is a short message, exit code 1, with the
traceback only under --debug."""
import json
import os

import numpy as np
import pytest

from helpers_colmap import write_tiny_colmap
from splatcore import cli
from splatcore.cli import main
from splatcore.io.ply import write_splat_ply


@pytest.fixture
def data(tmp_path, rng):
    write_tiny_colmap(tmp_path / "data", rng)
    return tmp_path / "data"


@pytest.fixture
def scene(tmp_path, rng):
    p = tmp_path / "scene.ply"
    n = 20
    write_splat_ply(p, rng.standard_normal((n, 3)), rng.standard_normal((n, 3)) - 3,
                    rng.standard_normal((n, 4)), rng.standard_normal(n), rng.standard_normal((n, 3)))
    return p


def run(capsys, argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def user_error(capsys, argv, *names):
    rc, out, err = run(capsys, argv)
    assert rc == 2, (rc, err)
    assert "Traceback" not in err and err.startswith(f"splatcore {argv[0]}: error: "), err
    for n in names:
        assert str(n) in err, (n, err)
    return err


def test_output_folder_is_a_file(capsys, tmp_path, data):
    f = tmp_path / "taken"
    f.write_text("x")
    user_error(capsys, ["train", data, "-o", f, "--iters", "1", "-q"], f)


def test_scene_is_a_directory_or_garbage(capsys, tmp_path, data):
    user_error(capsys, ["render", tmp_path, "--cameras", data, "-o", tmp_path / "r", "-q"], tmp_path)
    g = tmp_path / "g.ply"
    g.write_bytes(os.urandom(300))
    user_error(capsys, ["eval", g, data], g)


def test_dataset_missing_or_not_colmap(capsys, tmp_path, scene):
    user_error(capsys, ["eval", scene, tmp_path / "nope"], tmp_path / "nope")
    (tmp_path / "d" / "images").mkdir(parents=True)
    user_error(capsys, ["eval", scene, tmp_path / "d"], tmp_path / "d")


def test_eval_on_an_empty_split(capsys, tmp_path, rng, scene):
    write_tiny_colmap(tmp_path / "one", rng, n_images=1)
    err = user_error(capsys, ["eval", scene, tmp_path / "one", "--split", "train"], "split")
    assert "NaN" not in err
    rc, out, _ = run(capsys, ["eval", scene, tmp_path / "one", "--split", "test"])
    assert rc == 0
    res = json.loads(out)  # strict JSON: no NaN / Infinity
    assert len(res["views"]) == 1 and np.isfinite(res["mean"]["psnr"])


def test_voxel_grid_too_large(capsys, tmp_path, scene):
    rc, _, err = run(capsys, ["export", scene, "-o", tmp_path / "m.stl", "--method", "opacity",
                              "--voxel-size", "1e-30", "-q"])
    assert rc == 2 and "Traceback" not in err and "voxel" in err


def test_internal_errors_are_short_unless_debug(capsys, monkeypatch, data):
    def boom(args):
        return 1 / 0

    real = cli.build_parser

    def parser():
        p = real()
        p._subparsers._group_actions[0].choices["info"].set_defaults(func=boom)
        return p

    monkeypatch.setattr(cli, "build_parser", parser)
    rc, _, err = run(capsys, ["info"])
    assert rc == 1 and "Traceback" not in err
    assert "internal error: ZeroDivisionError" in err and "--debug" in err
    assert len(err.strip().splitlines()) == 1
    for argv in (["--debug", "info"], ["info", "--debug"]):
        rc, _, err = run(capsys, argv)
        assert rc == 1 and "Traceback" in err and "ZeroDivisionError" in err


@pytest.mark.parametrize("argv", [
    ["train", "D", "-o", "O", "--iters", str(10 ** 30)],
    ["train", "D", "-o", "O", "--checkpoint-every", "-1"],
    ["train", "D", "-o", "O", "--seed", "-1"],
    ["demo", "--width", str(10 ** 6)],
    ["demo", "--views", "0"],
    ["export", "S", "-o", "m.stl", "--resolution", "0"],
    ["export", "S", "-o", "m.stl", "--resolution", str(10 ** 30)],
])
def test_integer_arguments_out_of_range(capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "expected an integer in" in err and "Traceback" not in err
    assert argv[-2] in err  # the option is named

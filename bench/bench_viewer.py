"""What the live viewer (--viewer) costs training: the demo schedule (3000 steps,
SPLATCORE_BENCH_VIEWER_ITERS to change) with a client connected that receives
every message, the viewer hook switched on and off in alternating blocks of 200
steps (the off blocks are the anchor, measured in the same run, so a machine's
changing load falls on both), and the CPU seconds of the viewer's threads (read
from /proc) against the training's.

Run: python -m pytest bench/bench_viewer.py -q -s   (Linux; needs viser)
"""
import os
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("viser", reason="the viewer bench needs viser (pip install 'splatcore[viewer]')")

from splatcore.cli import demo_config  # noqa: E402
from splatcore.datasets.synthetic import make_dataset  # noqa: E402
from splatcore.gaussians import Gaussians  # noqa: E402
from splatcore.trainer import Trainer, step_hook  # noqa: E402
from splatcore.viewer.app import SceneViewer  # noqa: E402
from splatcore.viewer.live import LiveViewer  # noqa: E402
from splatcore.viewer.server import free_port, start_server  # noqa: E402

BLOCK = int(os.environ.get("SPLATCORE_BENCH_VIEWER_BLOCK", "200"))
CLIENT = """
import signal, sys, time, viser
from websockets.sync.client import connect
n = b = 0
def done(*_):
    print(n, b, flush=True); sys.exit(0)
signal.signal(signal.SIGTERM, done)
for _ in range(100):
    try:
        ws = connect(sys.argv[1], subprotocols=["viser-v" + viser.__version__], max_size=None)
        break
    except Exception:   # not up yet
        time.sleep(0.1)
while True:
    m = ws.recv(); n += 1; b += len(m)
"""


def _thread_cpu():
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / tick
    return out


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="per-thread CPU needs Linux /proc")
def test_live_viewer_overhead():
    iters = int(os.environ.get("SPLATCORE_BENCH_VIEWER_ITERS", "3000"))
    ds = make_dataset(n_views=48, width=128, height=96, seed=0)
    cfg = demo_config(iters, 0)
    xyz, rgb = ds.points
    trainer = Trainer(ds.train, Gaussians.from_points(xyz, rgb, sh_degree=cfg.sh_degree),
                      ds.scene_extent(), cfg)
    server, url = start_server("127.0.0.1", free_port("127.0.0.1", 0), log=lambda *_: None)
    viewer = SceneViewer(server, url)
    live = LiveViewer(viewer, every=100)
    client = None   # SPLATCORE_BENCH_VIEWER_CLIENT=0: nobody looking
    if os.environ.get("SPLATCORE_BENCH_VIEWER_CLIENT", "1") != "0":
        client = subprocess.Popen([sys.executable, "-c", CLIENT, url.replace("http", "ws")],
                                  stdout=subprocess.PIPE, text=True)
        time.sleep(2.0)
    marks, hook_cpu = [], [0.0]

    def hook(tr, loss):
        if tr.step % BLOCK == 0:
            marks.append(time.perf_counter())
        if (tr.step // BLOCK) % 2 == 1:       # odd blocks: viewer on
            c0 = time.thread_time()
            live(tr, loss)
            hook_cpu[0] += time.thread_time() - c0

    start = _thread_cpu()
    with step_hook(hook):
        trainer.train(progress=False)
    viewer.worker.idle()
    end = _thread_cpu()
    python_threads = {t.native_id for t in threading.enumerate()} - {threading.main_thread().native_id}
    n_msg = n_bytes = 0
    if client is not None:
        client.terminate()
        n_msg, n_bytes = (int(v) for v in (client.communicate()[0].split() or [0, 0]))
    viewer.close()

    viewer_cpu = sum(end[t] - start.get(t, 0.0) for t in end if t in python_threads) + hook_cpu[0]
    train_cpu = sum(end[t] - start.get(t, 0.0) for t in end if t not in python_threads) - hook_cpu[0]
    blocks = [b - a for a, b in zip(marks, marks[1:])]
    on = sum(blocks[0::2])    # marks start at step 200: block 1 (on) first
    off = sum(blocks[1::2])
    pairs = min(len(blocks[0::2]), len(blocks[1::2]))
    on_p, off_p = sum(blocks[0::2][:pairs]), sum(blocks[1::2][:pairs])
    print(f"\nlive viewer on the demo ({iters} steps, {len(trainer.g)} Gaussians at the end, "
          f"{live.updates} scene updates, client got {n_msg} messages, {n_bytes / 1e6:.1f} MB)")
    print(f"  CPU: viewer threads + hook {viewer_cpu:.2f} s, training {train_cpu:.1f} s -> "
          f"{100 * viewer_cpu / train_cpu:.2f}% (the viewer was on for half the steps: "
          f"{200 * viewer_cpu / train_cpu:.2f}% if on throughout)")
    print(f"  wall, {pairs} pairs of {BLOCK}-step blocks: on {on_p:.1f} s, off {off_p:.1f} s -> "
          f"{100 * (on_p / off_p - 1):+.1f}%  (all blocks: on {on:.1f} s, off {off:.1f} s)")
    assert live.updates > 0 and (client is None or n_msg > 0)

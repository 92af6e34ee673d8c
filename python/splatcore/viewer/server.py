"""Starting the viser server safely: loopback by default, a warning for other
interfaces, the next free port when the asked one is busy, no share links."""
from __future__ import annotations

import socket
import sys
import time

__all__ = ["require_viser", "start_server", "free_port", "wait_for_ctrl_c", "LOOPBACK",
           "INSTALL_HINT"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")
INSTALL_HINT = "pip install 'splatcore[viewer]'  (or: pip install viser)"


def require_viser():
    """The viser module, or an ImportError that says how to install it."""
    try:
        import viser
    except ImportError as e:
        raise ImportError(f"the viewer needs viser, which is not installed ({e}); install it "
                          f"with: {INSTALL_HINT}") from None
    return viser


def free_port(host: str, port: int, tries: int = 100) -> int:
    """`port` if it can be bound on `host`, else the next one that can (0: any
    port the system picks)."""
    if not 0 <= int(port) < 65536:
        raise ValueError(f"port must be 1..65535 (or 0: any), got {port!r}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if int(port) == 0:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            return s.getsockname()[1]
    for p in range(int(port), min(int(port) + tries, 65536)):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, p))
            except OSError:
                continue
            return p
    raise OSError(f"no free port on {host} in {port}..{port + tries - 1}")


def start_server(host: str = "127.0.0.1", port: int = 8080, log=print):
    """A started viser server and its URL. Other hosts than loopback print a
    warning (anyone who can reach the port sees the scene and can drive it)."""
    viser = require_viser()
    chosen = free_port(host, port)
    if chosen != port:
        log(f"viewer: port {port} is busy, using {chosen}")
    if host not in LOOPBACK:
        print(f"warning: the viewer listens on {host}, not only this machine: anyone who can "
              f"reach port {chosen} there can see the scene and use its controls", file=sys.stderr)
    server = viser.ViserServer(host=host, port=chosen, verbose=False)
    # share links would publish the viewer through viser's public relay: off
    server.request_share_url = lambda *a, **k: None
    server.gui.configure_theme(show_share_button=False, control_width="medium")
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    url = f"http://{shown}:{server.get_port()}"
    log(f"viewer: {url}")
    return server, url


def wait_for_ctrl_c():
    """Block until Ctrl-C (the viewer keeps serving from its own threads)."""
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass

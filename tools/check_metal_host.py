#!/usr/bin/env python3
"""Syntax and type check of the Metal host code on Linux (issue 15, check b).

Compiles every C++ source of the Metal backend (cpp/gpu/metal, cpp/backend/metal)
with `clang++ -std=c++17 -fsyntax-only -fblocks` against Apple's metal-cpp
headers, with tools/metal_stubs/ standing in for the Apple system headers that
metal-cpp includes. Every metal-cpp class, method and argument the backend uses
is thereby checked by a compiler without a Mac; nothing is linked or run.

metal-cpp is looked for in $SPLATCORE_METAL_CPP_DIR, then in
../shared/third_party/metal-cpp beside the checkout. The compiler is $CLANGXX,
else clang++ on PATH.

    python tools/check_metal_host.py [FILE.cpp ...]   # default: the backend's sources

Exit status: 0 when every file compiles (warnings are printed), 1 on a compile
error (printed), 2 when clang++ or metal-cpp is missing (the reason printed).
"""
import glob
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CPP = os.path.join(ROOT, "cpp")
STUBS = os.path.join(ROOT, "tools", "metal_stubs")


def find_metal_cpp():
    candidates = [os.environ.get("SPLATCORE_METAL_CPP_DIR", ""),
                  os.path.join(ROOT, "..", "shared", "third_party", "metal-cpp")]
    for c in candidates:
        if c and os.path.isfile(os.path.join(c, "Metal", "Metal.hpp")):
            return os.path.abspath(c)
    return None


def find_clang():
    c = os.environ.get("CLANGXX") or shutil.which("clang++")
    if c:
        return c
    for v in range(20, 12, -1):  # Debian's versioned names
        c = shutil.which(f"clang++-{v}")
        if c:
            return c
    return None


def sources():
    files = glob.glob(os.path.join(CPP, "gpu", "metal", "*.cpp")) + glob.glob(
        os.path.join(CPP, "backend", "metal", "*.cpp"))
    return sorted(files)


def compile_one(clang, metal_cpp, path):
    cmd = [clang, "-std=c++17", "-fsyntax-only", "-fblocks", "-Wall", "-Wno-unused-function",
           "-DSPLATCORE_HAS_METAL", "-isystem", STUBS, "-isystem", metal_cpp, "-I", CPP, path]
    r = subprocess.run(cmd, capture_output=True, text=True)
    return path, r.returncode, (r.stdout + r.stderr).strip()


def main(argv):
    clang = find_clang()
    metal_cpp = find_metal_cpp()
    if not clang:
        print("check_metal_host: clang++ not found (apt-get install clang, or set CLANGXX)")
        return 2
    if not metal_cpp:
        print("check_metal_host: metal-cpp not found (set SPLATCORE_METAL_CPP_DIR to a folder holding "
              "Metal/Metal.hpp, or provide ../shared/third_party/metal-cpp)")
        return 2
    files = [os.path.abspath(a) for a in argv[1:]] or sources()
    if not files:
        print("check_metal_host: no Metal host sources found")
        return 1
    failed = False
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as ex:
        for path, rc, out in ex.map(lambda p: compile_one(clang, metal_cpp, p), files):
            rel = os.path.relpath(path, ROOT)
            if rc != 0:
                failed = True
                print(f"{rel}: does not compile against metal-cpp:\n{out}")
            elif out:  # warnings are shown, not fatal: other compilers' -Wall differs
                print(f"{rel}: compiles, with warnings:\n{out}")
    if not failed:
        print(f"check_metal_host: {len(files)} Metal host sources compile against {metal_cpp}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

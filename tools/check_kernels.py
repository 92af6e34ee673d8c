#!/usr/bin/env python3
"""Kernel portability guard (ARCHITECTURE.md, principle 1).

Every header in cpp/kernels/ holds kernel bodies that the CPU, CUDA and Metal
backends share, so it must stay inside the common subset of C++17, CUDA C++
and the Metal Shading Language. This script checks each header by

1. compiling it alone with the host C++ compiler in a restricted mode
   (-DSC_KERNEL_GUARD: compat.h pulls in guard_shim.h, which spells the address
   spaces as MSL does, offers only MSL's math overloads, and turns std::, new,
   delete, virtual, erf and malloc into compile errors; -nostdinc forbids every
   system header; -fno-exceptions -fno-rtti forbid throw/try/typeid);
2. scanning its text for what a compiler cannot see: recursion (a function
   calling itself), pointer-to-pointer types, double / long long (MSL has no
   64-bit float and spells 64-bit ints `long`), and `struct` buffers of float3;
3. checking that the CPU backend really calls it (some source under cpp/,
   outside kernels/, includes the header, directly or through another kernel
   header);
4. when nvcc is on PATH, compiling all headers together as CUDA.

Every GPU kernel file in cpp/gpu/kernels/ (whole kernels in the dialect of
cpp/gpu/dialect.h, and their argument structs) gets checks 1 and 2 too: it
compiles in the dialect's restricted mode (no standard library, no
exceptions, no float64, as for Metal; built-in indices, shared arrays and the
dynamic shared memory only inside kernel bodies, where MSL has them), and its
text may name `double` only inside `#if SC_GPU_HAS_FLOAT64` blocks.

Exit status 0 when every header passes; otherwise prints each violation.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CPP = os.path.join(ROOT, "cpp")
KERNELS = os.path.join(CPP, "kernels")
GPU_KERNELS = os.path.join(CPP, "gpu", "kernels")
# Infrastructure of the subset itself, not kernel bodies.
SUPPORT = {"compat.h", "guard_shim.h"}


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def function_bodies(text):
    """Yield (name, body) for each function definition `... name(...) {...}`."""
    for m in re.finditer(r"\b([A-Za-z_]\w*)\s*\([^;{}]*\)\s*(?:const\s*)?\{", text):
        name = m.group(1)
        if name in {"if", "for", "while", "switch", "return", "sizeof"}:
            continue
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        yield name, text[m.end():i - 1]


def strip_float64_blocks(text):
    """Drops `#if SC_GPU_HAS_FLOAT64 ... #endif` blocks (no nesting inside them)."""
    return re.sub(r"#if\s+SC_GPU_HAS_FLOAT64\b.*?#endif", " ", text, flags=re.S)


# Names the Metal Shading Language reserves (types, address spaces, function
# qualifiers) that C++ lets a kernel use as identifiers.
MSL_RESERVED = ("half", "bfloat", "uint", "ushort", "uchar", "ulong", "kernel", "vertex", "fragment",
                "device", "constant", "thread", "threadgroup", "threadgroup_imageblock", "visible",
                "sampler", "texture2d")
MSL_VECTOR = re.compile(r"\b(?:float|half|bfloat|int|uint|short|ushort|char|uchar|bool|long|ulong)[234]"
                        r"(?:x[234])?\b")
ADDRESS_SPACES = ("SC_DEVICE", "SC_THREADGROUP", "SC_THREAD", "SC_CONSTANT", "SC_PTR", "SC_ARGS_REF")


def _branch_on_metal(directive):
    """True when Metal takes a #if / #elif branch, False when it does not, None
    when the condition is about something else."""
    if re.match(r"#\s*(?:(?:el)?if\s+defined\s*\(?\s*__METAL_VERSION__\b|ifdef\s+__METAL_VERSION__\b)", directive):
        return True
    if re.match(r"#\s*(?:ifndef\s+__METAL_VERSION__\b|(?:el)?if\s+SC_GPU_HAS_FLOAT64\b|"
                r"(?:el)?if\s+defined\s*\(?\s*(?:__CUDACC__|SC_KERNEL_GUARD)\b|ifdef\s+(?:__CUDACC__|SC_KERNEL_GUARD)\b)",
                directive):
        return False
    return None


def strip_metal_blocks(text):
    """The code that Metal compiles in common with the other backends: drops
    Metal-only branches (written in MSL itself) and branches Metal never takes
    (CUDA, the guard, float64, the #else after a Metal branch)."""
    out, stack = [], []  # per open #if: [skipping this branch, Metal took an earlier branch]
    for line in text.split("\n"):
        d = line.strip()
        if re.match(r"#\s*if", d):
            on = _branch_on_metal(d)
            stack.append([on is not None, on is True])
            out.append("")
            continue
        if re.match(r"#\s*(?:elif|else)", d) and stack:
            top = stack[-1]
            on = _branch_on_metal(d) if d.lstrip("# ").startswith("elif") else None
            top[0] = top[1] or on is not None
            top[1] = top[1] or on is True
            out.append("")
            continue
        if re.match(r"#\s*endif", d) and stack:
            stack.pop()
            out.append("")
            continue
        out.append("" if any(e[0] for e in stack) else line)
    return "\n".join(out)


def msl_violations(text):
    """Reserved names and pointer / reference parameters with no address space."""
    problems = []
    code = re.sub(r'"[^"\n]*"', '""', strip_metal_blocks(text))  # file names and strings are not names
    for name in MSL_RESERVED:
        if re.search(r"(?<![#.\w])\b%s\b" % name, code):
            problems.append(f"'{name}' used as a name (MSL reserves it)")
    for m in sorted(set(MSL_VECTOR.findall(code)) - {"float3"}):
        problems.append(f"'{m}' used as a name (an MSL vector or matrix type)")
    # function parameter lists: `name(params) {` or `) const {`, and declarations `name(params);`
    for m in re.finditer(r"\b([A-Za-z_]\w*)\s*\(([^;{}()]*)\)\s*(?:const\s*)?\{", code):
        if m.group(1) in {"if", "for", "while", "switch", "return", "sizeof", "defined"}:
            continue
        for param in m.group(2).split(","):
            p = param.strip()
            if not re.search(r"[*&]\s*\w*\s*(?:\[[^\]]*\])?\s*$", p) or "=" in p:
                continue
            if re.match(r"^[\w\s:<>]+\s+&?&?\s*\w+$", p) and "&" not in p and "*" not in p:
                continue
            if not any(a in p for a in ADDRESS_SPACES):
                problems.append(f"parameter '{p}' of '{m.group(1)}' has no address space "
                                "(SC_DEVICE / SC_THREADGROUP / SC_THREAD / SC_CONSTANT / SC_PTR / SC_ARGS_REF)")
    return problems


def text_violations(path):
    raw = strip_comments(open(path, encoding="utf-8").read())
    text = strip_float64_blocks(raw)
    problems = msl_violations(raw)
    for name, body in function_bodies(text):
        if re.search(r"\b%s\s*(<[^;()]*>)?\s*\(" % re.escape(name), body):
            problems.append(f"function '{name}' calls itself (no recursion in kernels)")
    if re.search(r"\b(?:float|double|int|char|void|short|long|unsigned|T|sc_u32|sc_i32)\s*\*\s*\*", text):
        problems.append("pointer-to-pointer type (kernels take plain scalar buffers)")
    if re.search(r"\bdouble\b", text):
        problems.append("'double' (Metal has no 64-bit float; write templates over T)")
    if re.search(r"\blong\s+long\b", text):
        problems.append("'long long' (Metal spells 64-bit integers 'long')")
    if re.search(r"\bfloat3\b", text):
        problems.append("'float3' (16 bytes in MSL; buffers hold plain floats)")
    if "#include <" in text:
        problems.append("system #include (only kernels/*.h may be included)")
    return problems


def compile_violations(cxx, path):
    with tempfile.TemporaryDirectory() as tmp:
        tu = os.path.join(tmp, "guard.cpp")
        rel = os.path.relpath(path, CPP)
        with open(tu, "w") as f:
            f.write(f'#include "{rel}"\n')
        cmd = [cxx, "-std=c++17", "-fsyntax-only", "-fno-exceptions", "-fno-rtti", "-nostdinc",
               "-nostdinc++", "-DSC_KERNEL_GUARD", "-Werror=return-type", "-I", CPP, tu]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            return ["does not compile in the restricted (MSL-like) mode:\n" + r.stderr.strip()]
    return []


def cpu_users(headers):
    """Headers reachable from the includes of .cpp files under cpp/."""
    inc = re.compile(r'#include\s+"kernels/([\w.]+)"')
    used = set()
    for base, _, files in os.walk(CPP):
        if os.path.abspath(base) == KERNELS:
            continue
        for name in files:
            if name.endswith((".cpp", ".cc", ".h")):
                used.update(inc.findall(open(os.path.join(base, name), encoding="utf-8").read()))
    changed = True
    while changed:  # kernel headers that include other kernel headers
        changed = False
        for h in list(used):
            p = os.path.join(KERNELS, h)
            if os.path.exists(p):
                for dep in inc.findall(open(p, encoding="utf-8").read()):
                    if dep not in used:
                        used.add(dep)
                        changed = True
    return used


def nvcc_violations(headers):
    nvcc = shutil.which("nvcc")
    if not nvcc:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        tu = os.path.join(tmp, "guard.cu")
        with open(tu, "w") as f:
            for h in headers:
                f.write(f'#include "kernels/{os.path.basename(h)}"\n')
        r = subprocess.run([nvcc, "-std=c++17", "-I", CPP, "-c", tu, "-o", os.path.join(tmp, "g.o")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return ["kernel headers do not compile as CUDA:\n" + r.stderr.strip()]
    return []


def main(argv):
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("clang++")
    if not cxx:
        print("check_kernels: no C++ compiler found (set CXX)")
        return 2
    headers = sorted(os.path.join(KERNELS, h) for h in os.listdir(KERNELS)
                     if h.endswith(".h") and h not in SUPPORT)
    gpu_headers = sorted(os.path.join(GPU_KERNELS, h) for h in os.listdir(GPU_KERNELS) if h.endswith(".h"))
    if len(argv) > 1:  # explicit files (used by the tests to prove the guard can fail)
        headers = [os.path.abspath(a) for a in argv[1:]]
        gpu_headers = []
    used = cpu_users(headers)
    failed = False
    for h in headers + gpu_headers:
        problems = text_violations(h) + compile_violations(cxx, h)
        if len(argv) == 1 and h in headers and os.path.basename(h) not in used:
            problems.append("not included by any CPU source under cpp/ (the CPU backend must "
                            "call the shared bodies)")
        for p in problems:
            failed = True
            print(f"{os.path.relpath(h, ROOT)}: {p}")
    if len(argv) == 1:
        # the dialect's own code outside its per-backend branches reaches Metal too
        for f in (os.path.join(CPP, "gpu", "dialect.h"), os.path.join(KERNELS, "compat.h")):
            for p in msl_violations(strip_comments(open(f, encoding="utf-8").read())):
                failed = True
                print(f"{os.path.relpath(f, ROOT)}: {p}")
        for p in nvcc_violations(headers):
            failed = True
            print(p)
    if not failed:
        print(f"check_kernels: {len(headers)} kernel headers and {len(gpu_headers)} GPU kernel files OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""What a wasm module is made of: code bytes per crate (from the function
names the linker keeps) and the data segments. Used for the per-route table
in docs/BENCHMARKS.md:

    python3 scripts/wasm-sizes.py target/front/wasm32-unknown-unknown/wasm-release/frontend.wasm

Reads the module before wasm-bindgen and wasm-opt (names still present), so
the sizes are raw, not compressed: use them to rank, not to add up to the
bytes on the wire."""
import re
import sys
from collections import Counter


def leb(buf, i):
    result = shift = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def sections(buf):
    i = 8
    while i < len(buf):
        sid = buf[i]
        size, j = leb(buf, i + 1)
        yield sid, buf[j:j + size]
        i = j + size


def crate_of(name):
    # Legacy mangling: _ZN <len><ident>... ; the first ident is the crate,
    # except for trait impls (`_<impl ...>`) whose crate is in the angle brackets.
    m = re.match(r"_ZN(\d+)", name)
    if m:
        n = int(m.group(1))
        ident = name[m.end():m.end() + n]
        if ident.startswith("_$LT$"):
            inner = re.match(r"_\$LT\$(\w+?)\.\.", ident)
            if inner:
                return inner.group(1)
        return ident
    if name.startswith("_R"):
        return "(v0 mangled)"
    return name.split("::")[0] if "::" in name else "(other: " + name[:20] + ")"


def main(path):
    buf = open(path, "rb").read()
    imported_funcs = 0
    bodies = []
    names = {}
    data_bytes = 0
    for sid, body in sections(buf):
        if sid == 2:  # imports
            count, i = leb(body, 0)
            for _ in range(count):
                for _ in range(2):
                    n, i = leb(body, i)
                    i += n
                kind = body[i]
                i += 1
                if kind == 0:
                    _, i = leb(body, i)
                    imported_funcs += 1
                elif kind == 1:
                    i += 1
                    flags, i = leb(body, i)
                    _, i = leb(body, i)
                    if flags & 1:
                        _, i = leb(body, i)
                elif kind == 2:
                    flags, i = leb(body, i)
                    _, i = leb(body, i)
                    if flags & 1:
                        _, i = leb(body, i)
                elif kind == 3:
                    i += 2
        elif sid == 10:  # code
            count, i = leb(body, 0)
            for _ in range(count):
                size, j = leb(body, i)
                bodies.append(size)
                i = j + size
        elif sid == 11:  # data
            data_bytes = len(body)
        elif sid == 0:
            n, i = leb(body, 0)
            if body[i:i + n] != b"name":
                continue
            i += n
            while i < len(body):
                sub = body[i]
                size, j = leb(body, i + 1)
                if sub == 1:
                    count, k = leb(body, j)
                    for _ in range(count):
                        idx, k = leb(body, k)
                        ln, k = leb(body, k)
                        names[idx] = body[k:k + ln].decode("utf-8", "replace")
                        k += ln
                i = j + size
    per_crate = Counter()
    per_fn = []
    for n, size in enumerate(bodies):
        name = names.get(imported_funcs + n, "?")
        per_crate[crate_of(name)] += size
        per_fn.append((size, name))
    total = sum(bodies)
    print(f"{path}: {len(buf)} B; code {total} B in {len(bodies)} functions; data {data_bytes} B")
    print("code by crate:")
    for crate, size in per_crate.most_common(25):
        print(f"  {size:8d} B {100 * size / max(total, 1):5.1f} %  {crate}")
    print("largest functions:")
    for size, name in sorted(per_fn, reverse=True)[:15]:
        print(f"  {size:8d} B  {name[:110]}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])

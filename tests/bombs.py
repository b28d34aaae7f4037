"""Generators of specs that ask for too much (issue 16): repetition nested around little or
nothing, blocks fanning out, wide expressions evaluated many times, many networks in one file,
huge integer literals and floats past the float range. Sizes are drawn around archc's limits
(MAX_REPEAT, MAX_WORK, MAX_DIGITS, Python's 4,300-digit conversion limit), so some inputs stay
under them and must check (and build) clean, and the rest must end in one located error.
Used by tests/test_property.py-style tests and `bench/fuzz.py --kind bombs`."""

from __future__ import annotations

import random

COUNTS = [0, 1, 2, 3, 7, 31, 100, 512, 1000, 1024, 1025]
LEAVES = ["", "relu", "relu * 0", "{ }", "identity", "add { | }", "concat { | }", "bn",
          "{ relu * 0 } * 3", "if false { relu }", "assert true, \"ok\"", "expect 1x4x4"]
DIGITS = [18, 19, 20, 99, 100, 101, 1000, 4300, 4301, 5000]
FLOATS = ["1e308", "1.7e308", "1.8e308", "1e309", "1e400", "1e-400", "9" * 309 + ".0",
          "1" + "0" * 400 + ".5", "0.5e99999"]
NET = "network n {{\n  input 1x4x4\n  {body}\n}}\n"


def nested(rng: random.Random, depth: int) -> str:
    """Repetition, loops, groups, joins and labels nested `depth` deep around a small leaf."""
    if depth == 0:
        return rng.choice(LEAVES)
    inner = nested(rng, depth - 1)
    n = rng.choice(COUNTS)
    var = rng.choice("ijk")
    return rng.choice([
        f"{{ {inner} }} * {n}",
        f"for {var} in 0..{n} {{ {inner} }}",
        f"for {var} in {-n // 2}..{n // 2} {{ {inner} }}",
        f"add {{ {inner} | {inner} }}",
        f"concat {{ {inner} | }}",
        f"a{depth}: {{ {inner} }}",
        f"if true {{ {inner} }} else {{ relu }}",
        f"{{ {inner} {inner} }} * {n}",
        f"{inner} * {n}" if inner and " " not in inner else f"{{ {inner} }} * {n}",
    ])


def fanout(rng: random.Random) -> str:
    """k blocks, each calling the next f times: f^k expansions of the last."""
    k, f = rng.choice([2, 5, 10, 17, 20, 40, 63, 64, 65]), rng.choice([1, 2, 2, 3])
    leaf = rng.choice(LEAVES)
    calls = " ".join(["b{j}"] * f)
    blocks = "".join(f"block b{i} {{ {calls.format(j=i + 1)} }}\n" for i in range(k))
    body = rng.choice(["b0", "b0 * 3", "{ b0 } * 1024", "for i in 0..2 { b0 }"])
    return blocks + f"block b{k} {{ {leaf} }}\n" + NET.format(body=body)


def wide(rng: random.Random) -> str:
    """A wide expression, evaluated once per iteration of a loop."""
    terms = rng.choice([10, 100, 1000, 20000])
    expr = "max(" + ", ".join(["1"] * terms) + ")"
    n = rng.choice(COUNTS)
    use = rng.choice([f"if {expr} > 0 {{ }}", f"conv({expr}, k=1)", f"assert {expr} == 1, \"x\"",
                      f"lrn({expr})", f"{{ relu }} * ({expr})"])
    return NET.format(body=f"for i in 0..{n} {{ {use} }}")


def many_networks(rng: random.Random) -> str:
    count, n = rng.choice([2, 100, 500, 2000]), rng.choice([0, 10, 100, 1000])
    return "".join(NET.replace("network n", f"network n{i}").format(body=f"for i in 0..{n} {{ }}")
                   for i in range(count))


def huge_literal(rng: random.Random) -> str:
    """A long integer or an out-of-range float, where a number goes."""
    number = "9" * rng.choice(DIGITS) if rng.random() < 0.7 else rng.choice(FLOATS)
    if rng.random() < 0.2:  # leading zeros: long to read, small in value
        number = "0" * (rng.choice(DIGITS) - 1) + "3"
    where = rng.choice([
        "network n {{\n  input 1x4x4\n  conv({x}, k=1)\n}}\n",
        "network n {{\n  input 1x{x}x4\n  relu\n}}\n",
        "network n {{\n  input {x}\n  relu\n}}\n",
        "network n {{\n  input 1x4x4\n  relu * {x}\n}}\n",
        "network n {{\n  input 1x4x4\n  for i in 0..{x} {{ relu }}\n}}\n",
        "network n(c={x}) {{\n  input 1x4x4\n  conv(c, k=1)\n}}\n",
        "network n {{\n  input 1x4x4\n  lrn(2, alpha={x})\n}}\n",
        "network n {{\n  input 1x4x4\n  dropout({x} - {x})\n}}\n",
        "network n {{\n  input 1x4x4\n  train {{ lr = {x} * {x} }}\n  relu\n}}\n",
        "block b(c={x}) {{ relu }}\nnetwork n {{\n  input 1x4x4\n  b\n}}\n",
    ])
    return where.format(x=number)


KINDS = {"nested": lambda rng: NET.format(body=nested(rng, rng.randint(1, 4))),
         "fanout": fanout, "wide": wide, "many networks": many_networks,
         "huge literal": huge_literal}


def gen_bomb(rng: random.Random) -> bytes:
    """One spec of a random kind of `KINDS`."""
    return KINDS[rng.choice(list(KINDS))](rng).encode()

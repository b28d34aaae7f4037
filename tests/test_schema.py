"""archc/core/schema.py: every op's argument checker against its pydantic model, value by value
(the same values accepted, the same values returned, pydantic's errors for the rest), and a
check of valid specs that never imports pydantic."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from archc.core.recipe import Recipe
from archc.core.schema import Args, Field
from archc.registry.ops import REGISTRY

ROOT = Path(__file__).resolve().parents[1]

SCHEMAS = sorted({op.args for op in REGISTRY.values()} | {Recipe}, key=lambda a: a.__name__)
VALUES: tuple[Any, ...] = (
    0, 1, 2, 3, 7, 64, 1024, 1025, -1, 10**9, True, False, 0.0, 0.5, 1.0, 1e-5, 1.5, -0.5, 2.0,
    float("nan"), float("inf"), None, "relu", "mha", "llama", "nearest", "x", (1, 2), (3,),
    (1, 2, 3), (1, 2, 3, 4), (0, 1), (True, 1), (1.0, 2), (), "bilinear", "trilinear", "linear",
    "Nearest", "gpt2", "sgd", "adamw", "cosine", "cifar10", "0.5, 0.4, 0.3", "0.5 0.5", "1, 2, x",
    "0, 1", [0.5, 0.2], [1, 2], [0.1] * 5, [], [True], 256, 0.999, 1e7, 30,
)


def pydantic_values(schema: type[Args], data: dict[str, Any]) -> dict[str, Any] | None:
    try:
        model = schema.pydantic_model().model_validate(data)
    except ValidationError:
        return None
    return {name: getattr(model, name) for name in schema.field_names}


def typed(values: dict[str, Any] | None) -> Any:
    return None if values is None else {k: (type(v), v) for k, v in values.items()}


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda a: a.__name__)
def test_checker_agrees_with_pydantic(schema: type[Args]) -> None:
    """Alone and beside the other fields' first accepted value: whatever the checker accepts,
    pydantic accepts with the same values; whatever it refuses goes to pydantic."""
    assert tuple(schema.pydantic_model().model_fields) == schema.field_names
    base = {name: next((v for v in VALUES if schema.accepts(name, v)), None)
            for name in schema.field_names}
    fast = 0
    for name in schema.field_names:
        for value in VALUES:
            for data in ({name: value}, {**base, name: value}):
                mine = schema._fast(data)  # noqa: SLF001
                want = pydantic_values(schema, data)
                if mine is not None:
                    fast += 1
                    assert typed(mine) == typed(want), (name, value)
                    assert schema.accepts(name, value)
                try:
                    got = schema.model_validate(data)
                except ValidationError:
                    assert want is None
                else:
                    assert typed(dict(vars(got))) == typed(want)
    assert fast > 0 or (schema._fast({}) == {} == pydantic_values(schema, {}))  # noqa: SLF001


def test_instances_answer_as_pydantic_models_do() -> None:
    conv = REGISTRY["conv"].args
    a = conv.model_validate({"out": 64, "k": 3})
    b = conv.pydantic_model().model_validate({"out": 64, "k": 3})
    assert a.model_dump() == b.model_dump()
    assert a.model_dump(mode="json") == b.model_dump(mode="json")
    assert a == conv.model_validate({"out": 64, "k": 3}) and hash(a) == hash(conv(**vars(a)))
    assert conv(out=64, k=3) == a
    with pytest.raises(ValidationError):
        conv(out=0, k=3)
    assert a.model_copy(update={"bias": False}).bias is False and a.bias is True
    assert repr(a).startswith("ConvArgs(out=64, k=3, stride=1")
    with pytest.raises(TypeError, match="frozen"):
        a.out = 3  # type: ignore[misc]


def test_a_declaration_the_checker_does_not_know_goes_to_pydantic() -> None:
    from pydantic import Field as PydanticField
    from pydantic import field_validator

    class Described(Args):
        n: int = Field(1, ge=1, multiple_of=1)  # a keyword the checker leaves to pydantic

    class Pydantics(Args):
        n: int = PydanticField(1, ge=1)

    class Validated(Args):
        n: int = Field(1, ge=1)

        @field_validator("n")
        @classmethod
        def _odd(cls, v: int) -> int:
            if v % 2 == 0:
                raise ValueError("must be odd")
            return v

    class Lax(Args):
        model_config = {"strict": False}
        n: int = Field(1, ge=1)

    assert Lax.model_validate({"n": 2.0}).n == 2  # pydantic's own config, not strict
    with pytest.raises(ValidationError, match="must be odd"):
        Validated.model_validate({"n": 2})
    for schema in (Described, Pydantics, Validated, Lax):
        assert schema._fast({"n": 3}) is None  # noqa: SLF001
        assert schema.model_validate({"n": 3}).n == 3
        with pytest.raises(ValidationError, match="greater than or equal to 1"):
            schema.model_validate({"n": 0})


def test_a_check_of_valid_specs_imports_neither_pydantic_nor_lark(tmp_path: Path) -> None:
    """The cold check's two savings kept: no pydantic (the schema's own validation) and no
    Lark (archc/front/tables.py's tables; Lark is imported only to report a syntax error)."""
    specs = sorted((ROOT / "specs").glob("*.arch"))  # 10 of them with a `train { }` section
    code = ("import sys; from archc.cli import main; rc = main(['check', '--no-cache', "
            f"*{[str(s) for s in specs]!r}]); "
            "sys.exit(10 * rc + ('pydantic' in sys.modules) + 2 * ('lark' in sys.modules))")
    assert len(specs) >= 40
    env = {**os.environ, "ARCHC_CACHE_DIR": str(tmp_path)}  # the prelude checked afresh too
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          env=env).returncode == 0




@pytest.mark.parametrize("first, second", [
    ("conv(4, 3, bias=true)", "conv(4, 3, bias=1)"),
    ("conv(4, 3, stride=2)", "conv(4, 3, stride=2.0)"),
    ("conv(4, (3, 3))", "conv(4, (3, true))"), ("dropout(0.0)", "dropout(false)")])
def test_a_valid_call_remembered_is_not_another_types(first: str, second: str) -> None:
    """Validation remembers valid argument sets (archc/expansion/arguments.py), by value and
    type: `true` after an equal `1` is validated, and refused, as it is alone."""
    from archc.pipeline.driver import check

    alone = check("a.arch", f"network n {{ input 3x8x8 {second} }}")
    after = check("b.arch", f"network n {{ input 3x8x8 {first}\n{second} }}")
    assert len(alone) == 1 and [e.message for e in alone] == [e.message for e in after]
    assert after[0].span.line == 2

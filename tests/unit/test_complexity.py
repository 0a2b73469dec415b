"""No function in operator/camfleet exceeds cyclomatic complexity 15 (radon's measure): a function past that
mixes decisions that want names of their own (gather, pure decisions, one write)."""

from __future__ import annotations

from pathlib import Path

from radon.complexity import cc_visit
from radon.visitors import Function

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "camfleet"
BOUND = 15


def functions(source: str) -> list[Function]:
    """Every function and method (radon lists a class's methods beside the class itself)."""
    return [block for block in cc_visit(source) if isinstance(block, Function)]


def too_complex() -> list[str]:
    return [
        f"{path.relative_to(PACKAGE.parent)}:{function.lineno} {function.fullname} ({function.complexity})"
        for path in sorted(PACKAGE.rglob("*.py"))
        for function in functions(path.read_text())
        if function.complexity > BOUND
    ]


def test_the_measure_sees_methods_and_functions() -> None:
    source = "class A:\n    def m(self, x):\n        return 1 if x else 2\n\ndef f():\n    pass\n"
    assert sorted((f.fullname, f.complexity) for f in functions(source)) == [("A.m", 2), ("f", 1)]


def test_no_function_is_over_the_complexity_bound() -> None:
    over = too_complex()
    assert not over, f"over complexity {BOUND} (split into pure decisions and one write):\n" + "\n".join(over)

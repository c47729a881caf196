"""cli/param_coercion.py: a command's plain values come out as typer's own (pydantic) coercion makes
them, and a value it does not convert itself is typer's to convert, with typer's error."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer._coercion import build_runtime_param, resolve_type_descriptor
from typer._param_types import coerce_cli_path
from typer.models import OptionInfo

from podreconcile.cli import param_coercion

UNSET = param_coercion._UNSET
NUMBERS = st.one_of(st.integers().map(str), st.floats(allow_nan=False).map(str),
                    st.from_regex(r"\A[ +-]?[0-9_]{0,6}(\.[0-9]*)?([eE][+-]?[0-9]{1,3})?[ ]?\Z"))


def typers(annotation: type, value: object) -> object:
    """What typer's own coercion makes of VALUE, or the message it refuses it with."""
    runtime = build_runtime_param(resolve_type_descriptor(annotation, OptionInfo()))
    try:
        return runtime._coerce_value(value, param=None, ctx=None)
    except typer.BadParameter as error:
        return f"refused: {error.message}"


def quick(annotation: type, value: object) -> object:
    return param_coercion._quick(annotation, OptionInfo(), value, coerce_cli_path, None, None)


def same(a: object, b: object) -> bool:
    return type(a) is type(b) and (a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)))


@pytest.mark.parametrize("annotation", [int, float])
@given(text=st.one_of(NUMBERS, st.text(max_size=8)))
def test_a_number_is_what_typer_makes_of_it(annotation, text):
    got = quick(annotation, text)
    if got is not UNSET:  # else typer converts it, as before
        assert same(got, typers(annotation, text))


@pytest.mark.parametrize("annotation", [str, Path])
@given(text=st.text())
def test_text_and_paths_are_what_typer_makes_of_them(annotation, text):
    got = quick(annotation, text)
    assert got is not UNSET
    assert same(got, typers(annotation, text))


def test_defaults_pass_as_they_are_and_what_typer_judges_stays_its_own():
    assert same(quick(int, 6006), 6006) and same(quick(float, 2.0), 2.0) and same(quick(bool, False), False)
    assert same(quick(Path, Path(".")), Path("."))
    for annotation, value in ((float, 2), (int, True), (int, " 12"), (int, "1_000"), (float, "1e3"), (bool, "yes")):
        assert quick(annotation, value) is UNSET, (annotation, value)


def test_a_command_gets_the_same_values_and_errors_as_with_typer_alone(tmp_path):
    app = typer.Typer(add_completion=False)
    got: list[tuple] = []

    @app.command()
    def command(name: str = typer.Option("x"), count: int = typer.Option(1), rate: float = typer.Option(0.5),
                where: Path = typer.Option(None), must: Path = typer.Option(None, exists=True),
                bounded: int = typer.Option(3, min=1, max=5), flag: bool = typer.Option(False)) -> None:
        got.append((name, count, rate, where, must, bounded, flag))

    cases = [[], ["--name", "ü", "--count", "007", "--rate", "2", "--where", "a/b", "--flag"],
             ["--must", str(tmp_path)], ["--must", str(tmp_path / "absent")], ["--count", "1e3"], ["--count", " 4"],
             ["--rate", "nan"], ["--bounded", "9"], ["--bounded", "4"]]
    seen = set()
    for args in cases:
        results = []
        for quickly in (False, True):
            group = typer.main.get_command(app)
            if quickly:
                param_coercion.install_on(group)
            got.clear()
            try:
                group.main(args=args, prog_name="t", standalone_mode=False)
                results.append(("ran", got[0]))
            except typer.BadParameter as error:
                results.append(("refused", error.format_message()))
        assert results[0] == results[1] or repr(results[0]) == repr(results[1]), (args, results)
        seen.add(results[0][0])
    assert seen == {"ran", "refused"}


def test_the_plain_parameters_are_coerced_without_typers_adapters():
    app = typer.Typer(add_completion=False)

    @app.command()
    def command(name: str = typer.Option("x"), count: int = typer.Option(1), where: Path = typer.Option(None),
                bounded: int = typer.Option(3, min=1, max=5)) -> None:
        pass

    group = typer.main.get_command(app)
    param_coercion.install_on(group)
    group.main(args=["--name", "n", "--count", "2", "--where", "w"], prog_name="t", standalone_mode=False)
    kinds = {p.name: type(p._runtime_param).__name__ for p in group.params}
    assert kinds == {"name": "QuickRuntimeParam", "count": "QuickRuntimeParam", "where": "QuickRuntimeParam",
                     "bounded": "AdapterRuntimeParam"}

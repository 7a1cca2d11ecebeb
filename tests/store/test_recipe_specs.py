"""Socket specs written into a recipe and read back (store/recipe_specs.py): every form a
declared graph input or task output can take comes back equal; what has no importable name
is read as ``Any`` and reported, never silently dropped."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any, Literal, TypeVar

import pytest
from ferroflow.errors import FerroflowError
from ferroflow.model.spec import NO_DEFAULT, Leaf, Namespace, dynamic, meta, namespace
from ferroflow.restart import import_object
from ferroflow.store.recipe_specs import read_spec, spec_json


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0


def _round_trip(spec: Any, loosened: list[str] | None = None) -> Any:
    text = json.dumps(spec_json(spec))  # what the recipe holds is JSON
    return read_spec(
        "graph input", json.loads(text), import_object, [] if loosened is None else loosened
    )


@pytest.mark.parametrize(
    "spec",
    [
        namespace(x=int, y=(float, 1.0), s=str, anything=Any),
        namespace(maybe=int | None, listed=list[int], mapping=dict[str, list[float]]),
        namespace(fixed=tuple[int, ...], pair=tuple[int, str], mode=Literal["a", "b", 1, None]),
        namespace(data=dynamic(int, total=float), nested=namespace(deep=namespace(z=bytes))),
        namespace(point=Point),
        namespace(doc=Annotated[int, meta(help="a count", extras={"unit": "eV"})]),
        Namespace({}, Leaf()),
    ],
)
def test_a_spec_comes_back_equal(spec: Namespace) -> None:
    loosened: list[str] = []
    assert _round_trip(spec, loosened) == spec
    assert loosened == []


def test_json_defaults_are_kept_and_other_defaults_left_out() -> None:
    spec = namespace(y=(float, 1.5), w=(list[int] | None, None), opts=(dict, {"a": [1]}))
    back = _round_trip(spec)
    assert {k: f.default for k, f in back.fields.items()} == {
        "y": 1.5,
        "w": None,
        "opts": {"a": [1]},
    }
    odd = _round_trip(
        namespace(nan=(float, float("nan")), pair=(tuple, (1, 2)), obj=(Any, Point(1, 2)))
    )
    for field in odd.fields.values():  # not JSON data: the field reloads optional, no default
        assert field.default is NO_DEFAULT and field.required is False


def test_a_default_that_is_not_json_data_is_refused_when_read() -> None:
    with pytest.raises(FerroflowError, match="not a recipe default"):
        read_spec(
            "graph input",
            {"fields": {"y": {"leaf": None, "default": float("nan")}}},
            import_object,
            [],
        )


def test_help_extras_and_models_are_kept() -> None:
    spec = namespace(doc=Annotated[int, meta(help="a count", extras={"unit": "eV"})], p=Point)
    back = _round_trip(spec)
    assert back.fields["doc"].help == "a count" and back.fields["doc"].extras == {"unit": "eV"}
    assert back.fields["p"].model is Point


def test_what_has_no_importable_name_is_read_as_any_and_reported() -> None:
    T = TypeVar("T")

    class Local:
        pass

    spec = namespace(t=T, local=list[Local], fine=int)
    loosened: list[str] = []
    back = _round_trip(spec, loosened)
    assert back == Namespace({"t": Leaf(Any), "local": Leaf(Any), "fine": Leaf(int)})
    assert len(loosened) == 2
    assert loosened[0].startswith("graph input 't': its type ~T names no importable class")
    assert "graph input 'local'" in loosened[1] and "Local" in loosened[1]


def test_a_name_that_imports_something_other_than_a_class_is_not_a_type() -> None:
    loosened: list[str] = []
    back = read_spec("graph input", {"leaf": "os.system"}, import_object, loosened)
    assert back == Leaf(Any) and "'os.system' names no importable class" in loosened[0]


def test_a_damaged_spec_is_refused() -> None:
    with pytest.raises(FerroflowError, match="graph input 'x': not a recipe socket spec"):
        read_spec("graph input", {"fields": {"x": 3}}, import_object, [])
    with pytest.raises(FerroflowError, match="not a recipe type"):
        read_spec("graph input", {"leaf": {"what": 1}}, import_object, [])

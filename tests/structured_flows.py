"""Tasks annotated with dataclasses, ``TypedDict``\\ s and pydantic models, as WorkGraph users
write them (its "annotate inputs and outputs" how-to), importable by Dask workers.

Each task records what its body received (``seen``) in its output, so a test can check that
a model-declared input arrives as an instance of the model on every backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, TypedDict

from ferroflow import task
from ferroflow.socket_spec import Leaf, namespace
from pydantic import BaseModel


class XY(TypedDict):
    x: int
    y: int


class SumProduct(TypedDict):
    sum: int
    product: int


class PointIn(BaseModel):
    x: int
    y: int


class PointOut(BaseModel):
    sum: int
    product: int
    seen: str


@dataclass
class Pair:
    sum: int
    product: int


@dataclass
class DCIn:
    x: int
    y: int = 10


class Open(BaseModel):
    model_config = {"extra": "allow", "item_type": int}
    header: int = 42


class Blob(BaseModel):
    model_config = {"leaf": True}
    a: int
    b: int


class Plain(BaseModel):
    a: int
    b: int


class Inner(BaseModel):
    value: int


class Outer(BaseModel):
    name: str
    inner: Inner


@task
def typed_dict(data: XY) -> SumProduct:
    return {"sum": data["x"] + data["y"], "product": data["x"] * data["y"]}


@task
def pydantic_in_out(data: PointIn) -> PointOut:
    return PointOut(sum=data.x + data.y, product=data.x * data.y, seen=type(data).__name__)


@task
def dataclass_out(x: int, y: int) -> Pair:
    return {"sum": x + y, "product": x * y}  # type: ignore[return-value]  # WorkGraph allows it


@task
def dataclass_in(data: DCIn) -> str:
    return f"{type(data).__name__}({data.x}, {data.y})"


@task
def open_model(n: int) -> Open:
    return Open(header=100, **{f"k{i}": i * i for i in range(n)})


@task
def blob_sum(m: Blob) -> int:
    return m.a + m.b


@task
def leaf_sum(m: Leaf[Plain]) -> int:  # type: ignore[valid-type]
    return m.a + m.b  # type: ignore[no-any-return]


@task
def nested_model(data: Outer) -> str:
    return f"{type(data).__name__}/{type(data.inner).__name__}:{data.name}={data.inner.value}"


@task
def add_multiply(
    data: Annotated[dict, namespace(x=int, y=int)],
) -> Annotated[dict, namespace(sum=int, product=int)]:
    return {"sum": data["x"] + data["y"], "product": data["x"] * data["y"]}


@task
def consume_complex(
    data: Annotated[
        dict,
        namespace(pw=namespace(structure=int, kpoints=int), metadata=dict, extra=int),
    ],
) -> None:
    return None


@dataclass
class Checked:
    a: int
    doubled: int = field(init=False, default=0)  # computed, never given

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError(f"a must not be negative, got {self.a}")
        self.doubled = 2 * self.a


@dataclass
class OnlyResult:
    result: int


@task
def checked(data: Checked) -> int:
    return data.doubled


@task
def only_result(x: int) -> OnlyResult:
    return OnlyResult(result=x + 1)


@task
def minus(x: int) -> int:
    return -x

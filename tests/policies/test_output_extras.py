"""``meta(extras=...)`` on an output annotation is set on the output's data node, in memory and
in the store, on every backend (the fast lane, which queues a finished task as one entry,
leaves such a task to the general runner)."""

from __future__ import annotations

from ferroflow import WorkGraph, get_current_profile

from policies.backends import Backend


def test_output_extras_on_every_backend(backend: Backend) -> None:
    f = backend.flows
    with WorkGraph("extras") as wg:
        made = f.energy(x=f.plus_one(x=1.0).result)
    backend.run(wg)
    node = made.result.value
    assert node.value == -2.0 and node.base.extras.all == {"unit": "eV"}
    store = get_current_profile().store
    assert store.load_node(node.pk).base.extras.get("unit") == "eV"
    plain = wg.tasks.plus_one.outputs.result.value
    assert store.load_node(plain.pk).base.extras.all == {}

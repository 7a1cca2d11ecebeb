"""``ferroflow cache why PK``: what went into a stored task run's cache key.

AiiDA's ``get_objects_to_hash`` answers "why did (or didn't) this hit?"; this is ours. From the
store alone it shows the function's identity, the code digest the run recorded, every input's
link label, pk, value digest and value, the key recomputed from those, and the key stored on the
node (if it ran with caching or a restart computed it) and whether they agree. It also says
whether the function's *current* source still has the recorded digest, i.e. whether running the
task again now could hit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .engine.caching import KeyRecipe, code_digest, value_digest
from .errors import FerroflowError, UncacheableError
from .model.taskdef import TaskDef
from .model.vocabulary import Kind, Link
from .restart import import_object
from .store import Store, graph_read

__all__ = ["KeyExplanation", "explain_key"]


@dataclass
class KeyExplanation:
    pk: int
    label: str
    process_type: str
    state: str
    run_pk: int | None
    stored_key: bytes | None
    cached_from: int | None
    #: code digest the run recorded; None for a store written before code digests existed
    code: bytes | None
    #: "same", "changed" or why the current function could not be found
    current_code: str
    #: (link label, data pk, value digest or None, short value)
    inputs: list[tuple[str, int, bytes | None, str]] = field(default_factory=list)
    #: why no key can be recomputed (an input without digest, no code digest), else None
    problem: str | None = None

    @property
    def recomputed_key(self) -> bytes | None:
        if self.problem is not None or self.code is None:
            return None
        pairs = sorted((label, d) for label, _, d, _ in self.inputs if d is not None)
        return KeyRecipe(self.process_type, self.code, pairs).key

    def lines(self) -> list[str]:
        """The report, as ``ferroflow cache why`` prints it."""
        out = [
            f"task run   pk {self.pk} '{self.label}' ({self.state}, run {self.run_pk})",
            f"function   {self.process_type}",
            f"code       {_hex(self.code)[:16]}… (digest the run recorded; current source: "
            f"{self.current_code})"
            if self.code is not None
            else "code       - (not recorded: a store written before cache keys existed)",
            "inputs     (label, pk, value digest, value)",
        ]
        for label, pk, digest, summary in self.inputs:
            out.append(f"  {label:<20} pk={pk:<8} {_hex(digest)[:16]}  {summary}")
        if not self.inputs:
            out.append("  (none)")
        recomputed = self.recomputed_key
        out.append(f"stored key {_hex(self.stored_key)}")
        if recomputed is None:
            out.append(f"recomputed - ({self.problem or 'no code digest'})")
        else:
            agree = (
                "matches the stored key"
                if recomputed == self.stored_key
                else "no stored key (it ran without caching)"
                if self.stored_key is None
                else "DIFFERS from the stored key"
            )
            out.append(f"recomputed {recomputed.hex()} ({agree})")
        if self.cached_from is not None:
            out.append(f"cache hit  reused the results of task run pk {self.cached_from}")
        return out


def _hex(digest: bytes | None) -> str:
    return digest.hex() if digest is not None else "-"


def _current_code(
    process_type: str, recorded: bytes | None, imported: bool, function: str | None
) -> str:
    """Whether the task function's current source still has the ``recorded`` digest. The
    function is imported by the stored name only for a run of this store; for an imported run
    (whose names someone else chose, see :func:`ferroflow.restart.find_graph`) only when the
    user names it (``function``), or when this process has already imported its module."""
    found = import_object(
        function if function is not None else process_type,
        load=function is not None or not imported,
    )
    if imported and function is None and not isinstance(found, TaskDef):
        return (
            "not checked: the run was imported from another store, so its module is not "
            "imported by the stored name; name the function with --function module.name"
        )
    if not isinstance(found, TaskDef):
        return "function not importable here"
    if recorded is None:
        return "unknown"
    return "same" if code_digest(found) == recorded else "changed since"


def explain_key(store: Store, pk: int, function: str | None = None) -> KeyExplanation:
    """What went into the cache key of task run ``pk`` (see the module docstring);
    ``function`` (``module.qualname``) is the task function to compare the recorded code
    digest with, instead of the one the stored name gives."""
    node = store.load_node(pk)
    if node.kind != Kind.CALC:
        raise FerroflowError(
            f"node pk {pk} is a {node.kind} node: only task runs (calc) have cache keys"
        )
    reader = store._reader
    fields = graph_read.cache_fields(reader.query, pk)
    stored_key, cached_from = fields if fields is not None else (None, None)
    rows = reader.query(
        "SELECT digest FROM code WHERE run_pk = ? AND type = ?", (node.run_pk, node.type)
    )
    code = bytes(rows[0][0]) if rows else None
    explanation = KeyExplanation(
        pk=pk,
        label=node.label or "",
        process_type=node.type,
        state=node.state or "",
        run_pk=node.run_pk,
        stored_key=stored_key,
        cached_from=cached_from,
        code=code,
        current_code=_current_code(
            node.type, code, node.run_pk is not None and store.imported(node.run_pk), function
        ),
    )
    for link_type, label, data in node.inputs:
        if link_type != Link.INPUT_CALC:
            continue
        try:
            digest: bytes | None = value_digest(data.value)
        except (UncacheableError, FerroflowError) as exc:
            digest = None
            explanation.problem = f"input '{label}': {exc}"
        explanation.inputs.append((label, data.pk, digest, data.value_summary(40)))
    explanation.inputs.sort()
    return explanation

"""How a graph names its tasks, and finds them by name without indexing every task it adds.

A graph body's calls name tasks as WorkGraph does: ``f``, then ``f1``, ``f2``… per base name
``f``; a caller may also choose a name (``name=``, a ``call_link_label``, ``add_task``). The
numbered names of one base never meet each other, and those of two bases can meet only when
one base is the other plus digits (``f`` and ``f1`` both make ``f12``). So the hot path of a
task call (:meth:`~.graph.Graph.add_next`) leaves a numbered task out of the name index unless
such bases were used: the index (:attr:`TaskNames.tasks_by_name`) is completed when somebody
reads it. A million-task build so makes no million-entry dict that nobody reads (~0.3 µs and
~40 B per task); the names themselves are the same as when every task was indexed at once.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

__all__ = ["Named", "TaskNames"]


class Named(Protocol):
    """A task as its graph's name index sees it."""

    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class TaskNames(Generic[T]):
    """The tasks of a graph (``tasks``, in the order added) and their names: the base class of
    :class:`~.graph.Graph`, which adds the tasks (through :meth:`_index_one` where a task must
    be indexed at once)."""

    path: str

    def __init__(self) -> None:
        self.tasks: list[T] = []
        #: name -> task for ``tasks[:_indexed]``; :attr:`tasks_by_name` indexes the rest
        self._by_name: dict[str, T] = {}
        self._indexed = 0
        #: whether one base name used by this graph is another plus digits: then every task
        #: is indexed when added, as its numbered name may meet another base's
        self._clashing = False
        #: the next number per base name (0: not used yet)
        self._counts: dict[str, int] = {}

    @property
    def tasks_by_name(self) -> dict[str, T]:
        """Its tasks by name, in the order they were added."""
        if self._indexed != len(self.tasks):
            by_name = self._by_name
            for node in self.tasks[self._indexed :]:
                by_name[node.name] = node
            self._indexed = len(self.tasks)
        return self._by_name

    def _index_one(self, name: str, node: T) -> None:
        """Index ``node`` (about to be appended to ``tasks``) under ``name`` now, after every
        earlier task, so the index keeps the order tasks were added in."""
        self.tasks_by_name[name] = node
        self._indexed += 1

    def _new_base(self, base: str) -> None:
        """Note a base name used by a graph-body call for the first time: if it or a base
        used before is the other plus digits, their numbered names may meet (``_clashing``)."""
        for other in self._counts:
            longer, shorter = (other, base) if len(other) > len(base) else (base, other)
            if longer.startswith(shorter) and longer[len(shorter) :].isdigit():
                self._clashing = True

    def next_name(self, base: str) -> tuple[str, int]:
        """The name the next task from ``base`` gets: ``base``, then ``base1``, ``base2``…
        as WorkGraph names repeated tasks; plus the counter value to pass to ``add``."""
        n = self._counts.get(base, 0)
        name = base if n == 0 else f"{base}{n}"
        while name in self.tasks_by_name:
            n += 1
            name = f"{base}{n}"
        return name, n

    def own_name(self, name: str, base: str) -> tuple[str, int]:
        """A task of ``base`` named ``name`` by its caller (``name=``, a ``call_link_label``):
        refused if the graph already has that name; plus the counter value for ``add``,
        which leaves the automatic numbering of ``base`` unchanged."""
        if name in self.tasks_by_name:
            raise ValueError(
                f"graph '{self.path}' already has a task named '{name}'; choose another name"
            )
        return name, self.next_name(base)[1] - 1

"""Profiles: named directories that hold a provenance store, like AiiDA's ``load_profile()``.

A profile is the directory ``$FERROFLOW_HOME/<name>`` (``FERROFLOW_HOME`` defaults to
``~/.ferroflow``, the name to ``"default"``). It is created on first use, together with a
``profile.json`` holding the profile's name and a persistent uuid (32 hex digits, no dashes, as
AiiDA prints it). The provenance store is ``<dir>/provenance.sqlite``; it is opened the first time
:attr:`Profile.store` is used, so loading a profile is cheap and building graphs needs no disk
I/O beyond ``profile.json``.

``load_profile`` returns the same :class:`Profile` object for the same directory, so a process
opens its store once. The store module's :mod:`atexit` hook flushes and closes open stores at
interpreter exit.

Store settings live in ``profile.json`` too, so every process using the profile applies them:
``"durability"`` (``"normal"``, the default: committed rows survive a crash of the process;
``"full"``: SQLite ``synchronous=FULL``, they also survive power loss, at the price of an fsync
per commit) and ``"commit_interval"`` (seconds between the writer's batches, default 0.2). Set
them with :meth:`Profile.configure`; a key that is absent means its default, and the file of a
profile created without them stays ``{"name": ..., "uuid": ...}``.

So does ``"executor"``: where runs on this profile execute their tasks when ``run()`` names no
executor and ``$FERROFLOW_EXECUTOR`` is unset: ``"local"`` (the default) or a Dask scheduler
address such as ``"tcp://host:8786"`` (see :mod:`ferroflow.executors`).

And ``"executors"``: executors declared by name, ``{"name": "executor string"}`` (``"local"``,
``"processes?processes=4"``, ``"tcp://host:8786?chunk_size=8"``), for ``@task(executor="name")``,
``run(executor="name")`` and the ``executor`` setting; ``ferroflow executors add/remove/list``
(:mod:`ferroflow.cli_executors`) or :meth:`Profile.add_executor` manage them.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import uuid as _uuid
from pathlib import Path
from typing import Any

from .errors import ProfileNotFoundError
from .executors import check_executor_text, parse_spec, pythonjob
from .store import Store
from .store.private import private_dir

__all__ = [
    "DURABILITIES",
    "PROFILE_FILE",
    "STORE_FILE",
    "Profile",
    "ferroflow_home",
    "get_current_profile",
    "load_profile",
]

HOME_ENV = "FERROFLOW_HOME"
DEFAULT_NAME = "default"
PROFILE_FILE = "profile.json"
STORE_FILE = "provenance.sqlite"
DURABILITIES = ("normal", "full")
DEFAULT_DURABILITY = "normal"
DEFAULT_COMMIT_INTERVAL = 0.2
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

_lock = threading.RLock()
_profiles: dict[Path, Profile] = {}
_current: Profile | None = None


def ferroflow_home() -> Path:
    """``$FERROFLOW_HOME`` if set and non-empty, else ``~/.ferroflow`` (read at every call)."""
    return Path(os.environ.get(HOME_ENV) or "~/.ferroflow").expanduser()


class Profile:
    """A named profile: its directory, its persistent uuid and (lazily) its provenance store."""

    def __init__(
        self,
        name: str,
        uuid: str,
        path: Path,
        durability: str = DEFAULT_DURABILITY,
        commit_interval: float = DEFAULT_COMMIT_INTERVAL,
        executor: str | None = None,
        executors: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.uuid = uuid
        self.path = path
        #: ``"normal"`` or ``"full"``: see the module docstring; set with :meth:`configure`.
        self.durability = durability
        #: Seconds between the store writer's batches; set with :meth:`configure`.
        self.commit_interval = commit_interval
        #: Default executor of runs on this profile (None: local); set with :meth:`configure`.
        self.executor = executor
        #: Executors declared by name (name -> executor string); see the module docstring.
        self.executors: dict[str, str] = dict(executors or {})
        self._store: Store | None = None
        self._store_lock = threading.Lock()

    @property
    def store_path(self) -> Path:
        return self.path / STORE_FILE

    @property
    def store(self) -> Store:
        """The profile's provenance store, opened on first use (and again after ``close``, or
        after a fault of its file stopped it writing: the next run gets the file afresh)."""
        with self._store_lock:
            if self._store is None or self._store.closed or self._store.faulty:
                self._store = Store.open(
                    self.store_path,
                    commit_interval=self.commit_interval,
                    durability=self.durability,
                )
            return self._store

    def configure(
        self,
        *,
        durability: str | None = None,
        commit_interval: float | None = None,
        executor: str | None = None,
    ) -> None:
        """Change the settings and save them in ``profile.json`` for every later process.

        ``durability="full"`` makes every commit synchronous (survives power loss, not only a
        crash of the process). If this process has the store open, it is flushed and closed so
        that the next use reopens it with the new settings. ``executor="tcp://host:8786"``
        runs this profile's workflows on that Dask cluster by default (``"local"`` undoes it).
        """
        updates: dict[str, Any] = {}
        if durability is not None:
            updates["durability"] = durability
        if commit_interval is not None:
            updates["commit_interval"] = commit_interval
        if executor is not None:
            updates["executor"] = executor
        where = f"Profile '{self.name}'.configure()"
        _check_settings({"executors": self.executors, **updates}, where, ValueError)
        with _lock:
            config_path = self.path / PROFILE_FILE
            config = _read_config(config_path)
            config.update(updates)
            if config.get("executor", "").strip().lower() == "local":
                del config["executor"]  # the default: the file stays as if never set
            _write_config(self.path, config)
            self.durability = config.get("durability", DEFAULT_DURABILITY)
            self.commit_interval = config.get("commit_interval", DEFAULT_COMMIT_INTERVAL)
            self.executor = config.get("executor")
            self.executors = dict(config.get("executors", {}))
        if not updates or set(updates) != {"executor"}:
            self.close()  # the store settings changed (the executor is read at each run)

    def add_executor(self, name: str, spec: str) -> None:
        """Declare executor ``name`` (``spec``: an executor string) in ``profile.json``,
        replacing one of that name."""
        where = f"Profile '{self.name}': executor '{name}'"
        if not _NAME.fullmatch(name) or name.lower() in ("local", "processes"):
            raise ValueError(
                f"{where}: a name is letters, digits, '_', '.' and '-', and not 'local' or "
                f"'processes' (the built-in executors)"
            )
        check_executor_text(spec, where)
        self._edit_executors(lambda executors: executors.__setitem__(name, spec.strip()))

    def remove_executor(self, name: str) -> None:
        """Forget executor ``name``; KeyError if the profile has none of that name, ValueError
        if it is the profile's default ``executor``."""
        if self.executor == name:
            raise ValueError(
                f"Profile '{self.name}': executor '{name}' is the profile's default executor; "
                f"set another first"
            )
        self._edit_executors(lambda executors: executors.pop(name))

    def _edit_executors(self, edit: Any) -> None:
        with _lock:
            config = _read_config(self.path / PROFILE_FILE)
            executors = dict(config.get("executors", {}))
            edit(executors)
            if executors:
                config["executors"] = executors
            else:
                config.pop("executors", None)
            _write_config(self.path, config)
            self.executors = executors

    def close(self) -> None:
        """Flush and close the store if it was opened (it reopens on the next ``.store``)."""
        with self._store_lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()

    def __repr__(self) -> str:
        return f"Profile<uuid='{self.uuid}' name='{self.name}'>"


def _check_settings(config: dict[str, Any], where: str, error: type[Exception]) -> None:
    """Raise ``error`` for an invalid ``durability`` or ``commit_interval`` in ``config``."""
    durability = config.get("durability", DEFAULT_DURABILITY)
    if durability not in DURABILITIES:
        raise error(f"{where}: 'durability' must be one of {DURABILITIES}, not {durability!r}")
    interval = config.get("commit_interval", DEFAULT_COMMIT_INTERVAL)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not interval > 0:
        raise error(f"{where}: 'commit_interval' must be a number of seconds > 0, not {interval!r}")
    executors = config.get("executors", {})
    if not isinstance(executors, dict):
        raise error(f"{where}: 'executors' must map names to executor strings, not {executors!r}")
    try:
        for name, spec in executors.items():
            check_executor_text(spec, f"{where}: executor '{name}'")
        if "executor" in config:
            check_executor_text(config["executor"], where, executors)
    except ValueError as exc:
        raise error(str(exc)) from None


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        uuid = config["uuid"]
        if not isinstance(uuid, str) or not re.fullmatch(r"[0-9a-f]{32}", uuid):
            raise ValueError(f"'uuid' must be 32 lowercase hex digits, not {uuid!r}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"corrupt profile file {path}: {exc}") from exc
    _check_settings(config, f"corrupt profile file {path}", RuntimeError)
    return dict(config)


def _write_config(directory: Path, config: dict[str, Any]) -> None:
    """Replace ``profile.json`` atomically (readers see the old or the new file, never half)."""
    fd, tmp = tempfile.mkstemp(prefix=".profile-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, directory / PROFILE_FILE)
    except BaseException:
        os.unlink(tmp)
        raise


def _create_config(directory: Path, name: str) -> dict[str, Any]:
    """Write ``profile.json`` atomically unless another process got there first."""
    config = {"name": name, "uuid": _uuid.uuid4().hex}
    target = directory / PROFILE_FILE
    fd, tmp = tempfile.mkstemp(prefix=".profile-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2)
            handle.write("\n")
        try:
            os.link(tmp, target)  # fails if the file exists: the first writer wins
        except FileExistsError:
            return _read_config(target)
    finally:
        os.unlink(tmp)
    return config


def load_profile(name: str | None = None) -> Profile:
    """Load (creating if missing) the profile ``name`` and make it the current profile."""
    global _current
    name = DEFAULT_NAME if name is None else name
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"invalid profile name {name!r}: use letters, digits, '_', '.' and '-' "
            "(not starting with '.' or '-')"
        )
    directory = (ferroflow_home() / name).resolve()
    with _lock:
        profile = _profiles.get(directory)
        if profile is None:
            private_dir(directory)  # 0700: the store in it holds every input and output
            config_path = directory / PROFILE_FILE
            config = (
                _read_config(config_path)
                if config_path.exists()
                else _create_config(directory, name)
            )
            profile = Profile(
                name,
                config["uuid"],
                directory,
                durability=config.get("durability", DEFAULT_DURABILITY),
                commit_interval=config.get("commit_interval", DEFAULT_COMMIT_INTERVAL),
                executor=config.get("executor"),
                executors=config.get("executors"),
            )
            _profiles[directory] = profile
        _current = profile
        return profile


def open_profile(name: str | None, create: bool = False) -> Profile:
    """:func:`load_profile` for the command line: a profile named explicitly must exist
    (a typo would otherwise make an empty profile that looks like lost data) unless
    ``create``; the default profile is made on first use."""
    home = ferroflow_home()
    missing = name is not None and not (home / name / PROFILE_FILE).exists()
    if missing and not create and _NAME.fullmatch(name or ""):
        found = sorted(p.parent.name for p in home.glob(f"*/{PROFILE_FILE}"))
        raise ProfileNotFoundError(
            f"no profile '{name}' in {home} (profiles there: {', '.join(found) or 'none'}); "
            f"pass --create to make it"
        )
    return load_profile(name)


def _computers() -> dict[str, str]:
    """The current profile's executors as a python job's computers: a Dask executor's scheduler
    address, "" for one on this machine (``local``, ``processes``)."""
    profile = _current
    if profile is None:
        return {}
    found = {}
    for name, spec in profile.executors.items():
        kind, address, _ = parse_spec(spec, name)
        found[name] = address if kind == "dask" else ""
    return found


pythonjob.named_computers = _computers  # (executors/ is a layer below: it may not import this)


def get_current_profile() -> Profile:
    """The profile loaded last, loading the default profile if none was loaded yet."""
    with _lock:
        return _current if _current is not None else load_profile()

"""The library gate: no program reaches the core without a good library (REQ-SEC-001, REQ-SEC-002).

Theory of operation
-------------------
A shell owns one ``LibraryGate``. ``load(path)`` replaces the library in use only when the
new file passes every check of ``controller.library.file``; ``program(request)`` turns a
clinician's request into a core ``program`` event only when a current (not stale) library
holds the drug and ``build_program`` accepts the request against it. Every outcome is a
``GateResult``: on refusal it carries no event - there is nothing for the shell to hand to
the core, so the pump stays stopped - and, for library problems (corrupt, unsigned, bad
signature, stale, unknown drug, no library), an alarm the shell shows; every outcome is
written to the ``EventLog`` (``library_loaded``, ``library_rejected``, ``program_checked``,
``program_refused``) with the library identity and the entry used.

The core's alarm catalog has no library alarm, so the gate's alarm lives in the shell:
``GateResult.commands`` gives ``RaiseAlarm``/``Annunciate`` (and ``ClearAlarm`` once a load
or program succeeds) in the core's command vocabulary for the shell to carry out and log.

Rules
1. A refused load leaves the library in use untouched; a refused program yields no event.
2. The gate fails closed: any exception while checking a request refuses it (logged with its
   type), because the gate is the last barrier before the core.
3. A log failure never changes the decision; it is reported in ``log_error`` so the shell can
   raise its LOW logging alarm (REQ-LOG-004).
4. ``display`` always says which library is in use, or plainly that none is (REQ-SEC-002).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from controller.clinical.programs import BuiltProgram, build_program
from controller.core.commands import Annunciate, ClearAlarm, Command, RaiseAlarm
from controller.core.events import Actor, Event, ev
from controller.core.limits import Limits
from controller.errors import ConfigurationError, PumpError
from controller.library.errors import LibraryError
from controller.library.file import LoadedLibrary, check_dates, load_library_file, today_utc
from controller.library.keys import Key
from controller.log.eventlog import EventLog

LIBRARY_ALARM = "drug_library"
LIBRARY_ALARM_PRIORITY = "medium"  # the pump is stopped and needs prompt attention, not immediate


@dataclass(frozen=True, slots=True)
class GateAlarm:
    alarm: str
    priority: str
    message: str


@dataclass(frozen=True, slots=True)
class GateResult:
    ok: bool
    message: str
    event: Event | None = None  # the program event for the core; None whenever refused
    built: BuiltProgram | None = None
    alarm: GateAlarm | None = None
    commands: tuple[Command, ...] = ()
    code: str = "ok"  # "ok" or the LibraryError code / "no_library" / "unknown_drug" / "program" / "internal"
    log_error: str | None = None


def _request_json(req: Mapping[str, object]) -> dict[str, Any]:
    return {str(k): (v if isinstance(v, (str, int, float, bool)) or v is None else str(v)) for k, v in req.items()}


class LibraryGate:
    def __init__(self, key: Key | None = None, log: EventLog | None = None, *, allow_basic: bool = False,
                 today: Callable[[], date] | None = None, allow_unsigned: bool = False,
                 care_area: str = "general") -> None:
        self.key = key
        self.log = log
        self.allow_basic = allow_basic  # without a library: programs with no drug under the pump limits only
        self.allow_unsigned = allow_unsigned  # development flag: a library no key verifies (logged, shown)
        self.care_area = care_area  # the pump's care area: its policy decides a basic infusion (REQ-DRG-006)
        self._today = today or (lambda: today_utc(None))
        self._current: LoadedLibrary | None = None
        self._alarm = False

    @property
    def current(self) -> LoadedLibrary | None:
        return self._current

    @property
    def alarm_active(self) -> bool:
        return self._alarm

    @property
    def display(self) -> str:
        if self._current is None:
            return "NO DRUG LIBRARY IN USE"
        dev = "" if self._current.info.key_id else " - UNAUTHENTICATED (development flag)"
        return f"Drug library: {self._current.info.identity}{dev}"

    def load(self, path: str | Path, at_ms: int | None = None) -> GateResult:
        try:
            loaded = load_library_file(path, self.key, self._today(), allow_unsigned=self.allow_unsigned)
        except LibraryError as exc:
            return self._refuse(exc.code, str(exc), "library_rejected",
                                {"file": str(path), "code": exc.code, "field": exc.field, "error": str(exc)}, at_ms)
        self._current = loaded  # rule 1: only a fully checked library replaces the one in use
        info = loaded.info
        return self._accept(f"loaded {info.identity}", "library_loaded",
                            {"file": str(path), "identity": info.identity, "digest": info.digest,
                             "version": info.header.version, "key_id": info.key_id,
                             "authenticated": info.key_id is not None,
                             "development_flag": "allow_unsigned" if info.key_id is None else None,
                             "expires": info.header.expires.isoformat(), "entries": len(loaded.library.entries)},
                            at_ms)

    def program(self, request: Mapping[str, object], limits: Limits, at_ms: int | None = None,
                actor: int = Actor.CLINICIAN) -> GateResult:
        """Check a request against the library in use; the program event, or a refusal."""
        try:
            return self._program(request, limits, at_ms, actor)
        except Exception as exc:  # rule 2: fail closed
            return self._refuse("internal", f"request refused: internal error {type(exc).__name__}: {exc}",
                                "program_refused", {"code": "internal", "error": f"{type(exc).__name__}: {exc}"},
                                at_ms, alarm=True)

    def _program(self, request: Mapping[str, object], limits: Limits, at_ms: int | None, actor: int) -> GateResult:
        req = _request_json(request)
        lib = self._current
        has_drug = request.get("drug") is not None
        if lib is None and (has_drug or not self.allow_basic):
            return self._refuse("no_library", "no drug library is loaded: the pump stays stopped",
                                "program_refused", {"code": "no_library", "request": req}, at_ms, alarm=True)
        if lib is not None:
            try:
                check_dates(lib.info.header, self._today(), lib.info.source)
            except LibraryError as exc:
                return self._refuse(exc.code, str(exc), "program_refused",
                                    {"code": exc.code, "identity": lib.info.identity, "request": req}, at_ms,
                                    alarm=True)
        try:
            built = build_program(request, limits, lib.library if lib is not None else None, self.care_area)
        except ConfigurationError as exc:
            unknown = exc.field == "drug"
            return self._refuse("unknown_drug" if unknown else "program", str(exc), "program_refused",
                                {"code": "unknown_drug" if unknown else "program", "field": exc.field,
                                 "error": str(exc), "request": req,
                                 "identity": lib.info.identity if lib else None}, at_ms, alarm=unknown)
        entry = built.entry
        payload = {"identity": lib.info.identity if lib else None, "digest": lib.info.digest if lib else None,
                   "entry": None if entry is None else {"drug": entry.drug, "care_area": entry.care_area,
                                                        "concentration": str(entry.concentration),
                                                        "dose_unit": entry.dose_unit.text},
                   "basic": built.basic, "care_area": built.care_area if built.basic else None,
                   "entry_code": built.program.drug,
                   "soft_limits": [str(s) for s in built.soft], "request": req}
        soft = "; ".join(str(s) for s in built.soft)  # which soft limits, in every entry mode
        result = self._accept("program checked" + (f" (soft limits to confirm: {soft})" if soft else ""),
                              "program_checked", payload, at_ms)
        return GateResult(True, result.message, ev("program", actor, program=built.program), built, None,
                          result.commands, "ok", result.log_error)

    def _log(self, kind: str, payload: dict[str, Any], at_ms: int | None) -> str | None:
        if self.log is None:
            return None
        try:
            self.log.append(kind, payload, at_ms)
        except PumpError as exc:  # rule 3
            return str(exc)
        return None

    def _accept(self, message: str, kind: str, payload: dict[str, Any], at_ms: int | None) -> GateResult:
        cmds: tuple[Command, ...] = ()
        if self._alarm:
            self._alarm = False
            cmds = (ClearAlarm(LIBRARY_ALARM),)
        return GateResult(True, message, commands=cmds, log_error=self._log(kind, payload, at_ms))

    def _refuse(self, code: str, message: str, kind: str, payload: dict[str, Any], at_ms: int | None,
                alarm: bool = True) -> GateResult:
        gate_alarm: GateAlarm | None = None
        cmds: tuple[Command, ...] = ()
        if alarm:
            gate_alarm = GateAlarm(LIBRARY_ALARM, LIBRARY_ALARM_PRIORITY, message)
            raised: tuple[Command, ...] = () if self._alarm else (RaiseAlarm(LIBRARY_ALARM, LIBRARY_ALARM_PRIORITY),)
            cmds = (*raised, Annunciate(LIBRARY_ALARM, LIBRARY_ALARM_PRIORITY, True))
            self._alarm = True
        return GateResult(False, message, None, None, gate_alarm, cmds, code, self._log(kind, payload, at_ms))

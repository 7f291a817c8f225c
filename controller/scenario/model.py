"""Scenario files: what happens to a simulated pump, and what must come out of it.

Theory of operation
-------------------
A scenario is a TOML file (``pumpctl simulate FILE.toml``)::

    name = "occlusion at 25 mL/h"            # required
    duration_s = 600                          # required
    control_period_ms = 100                   # optional (1-2000, default 100)
    seed = 7                                  # optional (default 0)
    sample_interval_s = 1                     # optional (default: ~2000 samples per run)
    watchdog_ms = 3000                        # optional: the shell's loop watchdog
    check_invariants = true                   # optional: specs/invariants.py after every step
    period_by_period = false                  # optional: step the core every control period (default:
                                              # skip quiet periods in blocks, same results; see run.py)
    library = "libraries/icu.toml"            # optional drug library (relative to this file)
    library_key = "keys/pharmacy.key"         # the key a signed library must verify with (required for a
                                              # library file unless library_unsigned = true, a logged
                                              # development flag)
    library_today = 2027-01-15                # optional: the pump's date for library expiry

    [pump]   # pump limits in user units (max_rate_ml_h, kvo_rate_ml_h, near_end_s, ...) and
             # sensing settings (occlusion_threshold_kpa, occlusion_trend, relief, ...)
    [plant]  # physical parameters (compliance_ml_per_kpa, mechanism, ...: see sim_params)
    [[drug]] # inline drug library entries (same schema as library files)

    [[event]]
    at_s = 10
    type = "program"          # see EVENT_TYPES for every type and its fields
    rate_ml_h = 25
    vtbi_ml = 10
    actor = "clinician"       # optional on any event (default: patient for patient_bolus)

    [expect] # see EXPECT_FIELDS: final_state, alarms, not_alarms, refusals, boluses, ...

Events whose ``type`` names a core event (program, start, patient_bolus, ...) go to the
controller as that event; the others change the physical world (occlude_downstream,
air_bubble, mains_loss, sensor_fault, ...) and reach the controller only through its sensors.
A ``program`` event is built (``controller.clinical.programs.build_program``) and validated when the
file is loaded; a program meant to be refused says ``expect_refused = true`` and is then
recorded as a refusal when it happens.

A library file with a ``[library]`` header or an ``[integrity]`` table (a protected library:
digest, signature, expiry; REQ-SEC-001) is not trusted at load time: the scenario keeps its path
(``library_file``), the runner checks it with a ``LibraryGate`` when the run starts and
checks every program event against it at its time (``EventSpec.gated``). Only the program's
field names are checked at load. A plain library (``[[drug]]`` tables only) is read at load
time.

Rules
1. Every refusal is a ``ConfigurationError`` naming the file, the field (``event[3].volume_ml``,
   ``pump.max_rate_ml_h``) and what is allowed. Unknown keys and unknown types are refused.
2. The format is a public interface (``specs/scenarios/README.md``): a field, once named, is
   never renamed or dropped; new fields are additions.
3. Loading has no side effects: a malformed file is refused before anything runs.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from controller.clinical.drugs import Library
from controller.clinical.programs import REQUEST_FIELDS, BuiltProgram, build_program, clinician_bolus_payload
from controller.core import alarms as A
from controller.core.events import Actor
from controller.core.limits import Limits
from controller.core.state import STATES
from controller.core.units import ml_to_vu
from controller.errors import ConfigurationError
from controller.fields import Field, Flag, Num, Text, number, parse_table, parse_value
from controller.library.keys import Key, load_key
from controller.plant.params import PlantParams, plant_params
from controller.scenario.events import CORE_TYPES, EVENT_TYPES, PHYSICAL_TYPES
from controller.scenario.limits import LIMIT_KEYS, build_limits
from controller.sensing.detect import SENSING_FIELDS, SensingConfig, sensing_config

ACTORS: dict[str, int] = {a.name.lower(): int(a) for a in Actor}
SHELL_ALARMS = ("drug_library", "event_log")  # alarms the shell raises itself (library gate, log failure)
TOP_FIELDS: tuple[Field, ...] = (
    Text("name", None),
    Text("description", ""),
    Num("duration_s", 0.001, 31 * 86_400, None, "s"),
    Num("control_period_ms", 1, 2000, 100, "ms", integer=True),
    Num("seed", 0, 2**63 - 1, 0, integer=True),
    Num("sample_interval_s", 0.001, 86_400, None, "s"),
    Num("watchdog_ms", 100, 60_000, 3000, "ms", integer=True),
    Flag("check_invariants", True),
    Flag("period_by_period", False, "step the core every control period instead of skipping quiet periods"),
    Text("library", None),
    Text("library_key", None),
    Flag("library_unsigned", False),
)
LIBRARY_TODAY = "library_today"  # a TOML date or "YYYY-MM-DD", parsed by _today
SECTIONS = ("pump", "plant", "drug", "event", "expect", "requirements")
MAX_SAMPLES = 20_000
# Program checks speak core field names; a scenario author wrote these keys instead.
_USER_NAMES = {
    "vtbi": "vtbi_ml", "reservoir_vol": "reservoir_ml", "pca_vol": "bolus_ml", "pca_rate": "bolus_rate_ml_h",
    "pca_ms": "bolus_ml", "lockout_ms": "lockout_s", "pca_max_h": "max_boluses_per_h",
    "clin_bolus_max": "clinician_bolus_max_ml", "interval_ms": "interval_s", "lim_vol[0]": "limit_ml",
    "lim_vol[1]": "limit2_ml", "lim_bucket_ms[0]": "limit_window_s", "lim_bucket_ms[1]": "limit2_window_s",
    "rate_hard_max": "rate_ml_h",
}


@dataclass(frozen=True, slots=True)
class EventSpec:
    index: int
    at_ms: int
    type: str
    actor: int | None
    values: Mapping[str, object]
    program: BuiltProgram | None = None
    refusal: str | None = None  # a program expected to be refused: why it was
    payload: Mapping[str, int] = field(default_factory=dict)  # core payload (clinician bolus, prime)
    gated: bool = False  # a program checked by the library gate at run time (signed library file)

    @property
    def at_s(self) -> float:
        return self.at_ms / 1000


@dataclass(frozen=True, slots=True)
class Expect:
    final_state: str | None = None
    alarms: tuple[str, ...] = ()
    not_alarms: tuple[str, ...] = ()
    refusals: tuple[str, ...] = ()
    max_refusals: int | None = None
    boluses: Mapping[str, int] = field(default_factory=dict)
    min_delivered_ml: float | None = None
    max_delivered_ml: float | None = None
    max_unintended_bolus_ml: float | None = None
    max_pressure_kpa: float | None = None
    alarm_within_s: Mapping[str, float] = field(default_factory=dict)
    min_occlusion_detections: Mapping[str, int] = field(default_factory=dict)


EXPECT_FIELDS: tuple[Field, ...] = (
    Num("max_refusals", 0, 10**6, None, integer=True),
    Num("min_delivered_ml", 0.0, 1e6, None, "mL"),
    Num("max_delivered_ml", 0.0, 1e6, None, "mL"),
    Num("max_unintended_bolus_ml", 0.0, 1e3, None, "mL"),
    Num("max_pressure_kpa", -100.0, 1e4, None, "kPa"),
)
EXPECT_LISTS = ("final_state", "alarms", "not_alarms", "refusals", "boluses", "alarm_within_s",
                "min_occlusion_detections")


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    path: str
    duration_ms: int
    control_period_ms: int
    seed: int
    sample_ms: int
    watchdog_ms: int
    check_invariants: bool
    limits: Limits
    sensing: SensingConfig
    plant: PlantParams
    library: Library | None
    events: tuple[EventSpec, ...]
    expect: Expect
    requirements: tuple[str, ...] = ()  # the requirement ids this scenario verifies (evidence links)
    library_file: str | None = None  # a library file the runner's LibraryGate checks (see the docstring)
    library_key: Key | None = None
    library_today: date | None = None
    library_unsigned: bool = False  # development flag: a library file no key verifies (logged by the gate)
    period_by_period: bool = False  # the runner's mode: every control period through the core (see run.py)


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file (see the module docstring)."""
    p = Path(path)
    src = str(p)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError("file", src, "a readable scenario file", str(exc), source=src) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError("toml", type(exc).__name__, "valid TOML", str(exc), source=src) from None
    return parse(raw, src, base=p.parent)


def parse(raw: Mapping[str, object], source: str = "<scenario>", base: Path | None = None) -> Scenario:
    top = parse_table({k: v for k, v in raw.items() if k not in SECTIONS and k != LIBRARY_TODAY}, TOP_FIELDS, "",
                      source)
    for key in ("name", "duration_s"):
        if key not in top:
            raise ConfigurationError(key, None, TOP_FIELDS[0].allowed() if key == "name" else "a number of seconds",
                                     "required at the top of the file", source=source)
    pump = raw.get("pump", {})
    if not isinstance(pump, Mapping):
        raise ConfigurationError("pump", pump, "a table", source=source)
    limits = build_limits({k: v for k, v in pump.items() if k in LIMIT_KEYS}, source)
    sensing_keys = {s.name for s in SENSING_FIELDS}
    unknown = [k for k in pump if k not in LIMIT_KEYS and k not in sensing_keys]
    if unknown:
        raise ConfigurationError(f"pump.{unknown[0]}", pump[unknown[0]],
                                 "one of " + ", ".join(sorted([*LIMIT_KEYS, *sensing_keys])), "unknown key (a typo?)",
                                 source=source)
    sensing = sensing_config({k: v for k, v in pump.items() if k in sensing_keys}, source)
    plant_raw = raw.get("plant", {})
    if not isinstance(plant_raw, Mapping):
        raise ConfigurationError("plant", plant_raw, "a table", source=source)
    plant = plant_params(plant_raw, source)
    library_file = _library_file(top.get("library"), base)
    library = None if library_file is not None else _library(raw, top.get("library"), source, base)
    if library_file is None and ("library_key" in top or LIBRARY_TODAY in raw or top.get("library_unsigned")):
        name = "library_key" if "library_key" in top else LIBRARY_TODAY if LIBRARY_TODAY in raw \
            else "library_unsigned"
        raise ConfigurationError(name, top.get(name, raw.get(name)), "only with a library file that has a [library] "
                                 "header or an [integrity] table", "sign the library or drop this key",
                                 source=source)
    lib_key = _key(top.get("library_key"), base, source)
    duration_ms = round(float(top["duration_s"]) * 1000)  # type: ignore[arg-type]
    events = _events(raw.get("event", []), duration_ms, limits, library, plant, source,
                     gated=library_file is not None)
    period = int(top["control_period_ms"])  # type: ignore[call-overload]
    if "sample_interval_s" in top:
        sample_ms = max(period, round(float(top["sample_interval_s"]) * 1000))  # type: ignore[arg-type]
        if duration_ms // sample_ms > MAX_SAMPLES:
            raise ConfigurationError("sample_interval_s", top["sample_interval_s"],
                                     f"at least duration_s / {MAX_SAMPLES} (samples are bounded in memory)",
                                     source=source)
    else:
        sample_ms = max(period, duration_ms // 2000 // period * period, 1000 // period * period)
    return Scenario(
        name=str(top["name"]), description=str(top.get("description", "")), path=source,
        duration_ms=duration_ms, control_period_ms=period, seed=int(top["seed"]),  # type: ignore[call-overload]
        sample_ms=sample_ms, watchdog_ms=int(top["watchdog_ms"]),  # type: ignore[call-overload]
        check_invariants=bool(top["check_invariants"]), limits=limits, sensing=sensing, plant=plant,
        library=library, events=events, expect=_expect(raw.get("expect", {}), source),
        requirements=_requirements(raw.get("requirements", []), source),
        library_file=library_file, library_key=lib_key, library_today=_today(raw.get(LIBRARY_TODAY), source),
        library_unsigned=bool(top["library_unsigned"]), period_by_period=bool(top["period_by_period"]),
    )


def _library_file(lib_path: object, base: Path | None) -> str | None:
    """The path of a protected library file (header or integrity table), or None for a plain one."""
    if lib_path is None:
        return None
    path = (base or Path(".")) / str(lib_path)
    try:
        raw = path.read_bytes()
    except OSError:
        return None  # _library names the file it cannot read
    if path.suffix.lower() == ".json":
        return str(path)  # JSON libraries exist only as protected files (controller.library.file)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        # damaged: a protected file is the gate's to refuse (corrupt, with its alarm), a plain one _library's
        return str(path) if b"[integrity]" in raw or b"[library]" in raw else None
    return str(path) if "library" in data or "integrity" in data else None


def _key(key_path: object, base: Path | None, source: str) -> Key | None:
    if key_path is None:
        return None
    try:
        return load_key((base or Path(".")) / str(key_path))
    except ConfigurationError as exc:
        raise ConfigurationError("library_key", key_path, exc.allowed, str(exc), source=source) from None


def _today(value: object, source: str) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigurationError(LIBRARY_TODAY, value, "a date: 2027-01-15 or \"2027-01-15\"", source=source)


def _requirements(raw: object, source: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(r, str) and r.startswith("REQ-") for r in raw):
        raise ConfigurationError("requirements", raw, 'a list of requirement ids like "REQ-DEL-001"', source=source)
    return tuple(raw)


def _library(raw: Mapping[str, object], lib_path: object, source: str, base: Path | None) -> Library | None:
    inline = raw.get("drug")
    if inline is not None and lib_path is not None:
        raise ConfigurationError("library", lib_path, "either inline [[drug]] tables or library = \"path\"",
                                 "not both", source=source)
    if inline is not None:
        return Library.from_data({"drug": inline}, source=source)
    if lib_path is None:
        return None
    path = (base or Path(".")) / str(lib_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError("library", str(lib_path), "a readable drug library file (TOML)",
                                 str(exc), source=source) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError("library", str(lib_path), "valid TOML", str(exc), source=source) from None
    return Library.from_data(data, source=str(path))


def _events(raw: object, duration_ms: int, limits: Limits, library: Library | None, plant: PlantParams,
            source: str, gated: bool = False) -> tuple[EventSpec, ...]:
    if not isinstance(raw, list):
        raise ConfigurationError("event", type(raw).__name__, "an array of [[event]] tables", source=source)
    out = []
    for i, item in enumerate(raw):
        where = f"event[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigurationError(where, item, "a table", source=source)
        kind = item.get("type")
        if not isinstance(kind, str) or kind not in EVENT_TYPES:
            raise ConfigurationError(f"{where}.type", kind, "one of " + ", ".join(EVENT_TYPES), source=source)
        if "at_s" not in item:
            raise ConfigurationError(f"{where}.at_s", None, "a time in seconds from the start", "required",
                                     source=source)
        at_s = number(item["at_s"], f"{where}.at_s", 0.0, duration_ms / 1000, unit="s (0 to duration_s)",
                      source=source)
        actor = item.get("actor")
        if actor is not None and (not isinstance(actor, str) or actor not in ACTORS):
            raise ConfigurationError(f"{where}.actor", actor, "one of " + ", ".join(ACTORS), source=source)
        body = {k: v for k, v in item.items() if k not in ("type", "at_s", "actor")}
        spec = _event(i, round(at_s * 1000), str(kind), ACTORS.get(str(actor)) if actor is not None else None,
                      body, limits, library, plant, source, gated)
        out.append(spec)
    return tuple(sorted(out, key=lambda e: (e.at_ms, e.index)))


def _event(i: int, at_ms: int, kind: str, actor: int | None, body: Mapping[str, object], limits: Limits,
           library: Library | None, plant: PlantParams, source: str, gated: bool = False) -> EventSpec:
    where = f"event[{i}]"
    if kind == "program":
        extra = set(body) - REQUEST_FIELDS - {"expect_refused"}
        if extra:
            k = sorted(extra)[0]
            raise ConfigurationError(f"{where}.{k}", body[k],
                                     "one of " + ", ".join(sorted([*REQUEST_FIELDS, "expect_refused"])),
                                     "unknown program field (a typo?)", source=source)
        refuse = parse_value(Flag("expect_refused", False), body.get("expect_refused", False), where, source)
        req = {k: v for k, v in body.items() if k != "expect_refused"}
        if gated:  # checked against the library file by the runner's gate, when it happens
            return EventSpec(i, at_ms, kind, actor, req, gated=True)
        try:
            built = build_program(req, limits, library)
        except ConfigurationError as exc:
            if refuse:
                return EventSpec(i, at_ms, kind, actor, req, None, f"invalid_program: {exc}")
            name = _USER_NAMES.get(exc.field, exc.field)
            if exc.field == "step_rate[0]" and req.get("kind", "continuous") == "continuous":
                name = "rate_ml_h"
            raise ConfigurationError(f"{where}.{name}", exc.value, exc.allowed, exc.fix, source=source) from None
        if refuse:
            raise ConfigurationError(f"{where}.expect_refused", True, "false for a program that passes validation",
                                     "the program is valid, so it would not be refused", source=source)
        return EventSpec(i, at_ms, kind, actor, req, built)
    specs, required = EVENT_TYPES[kind]
    values = parse_table(body, specs, where, source)
    for name in required:
        if name not in values:
            spec = next(s for s in specs if s.name == name)
            raise ConfigurationError(f"{where}.{name}", None, spec.allowed(), f"required for type {kind}",
                                     source=source)
    payload: dict[str, int] = {}
    if kind == "clinician_bolus":
        try:
            vol, rate, dur = clinician_bolus_payload(values["volume_ml"], values["duration_s"])
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}.{exc.field}", exc.value, exc.allowed, exc.fix, source=source) from None
        payload = {"volume": vol, "rate": rate, "duration_ms": dur}
    elif kind == "prime":
        payload = {"volume": ml_to_vu(values["volume_ml"], f"{where}.volume_ml")}
    elif kind == "occlude_upstream" and plant.mechanism != "cassette":
        raise ConfigurationError(f"{where}.type", kind, "an event a syringe pump can have",
                                 "a syringe has no upstream line: set [plant] mechanism = \"cassette\"", source=source)
    assert kind in CORE_TYPES or kind in PHYSICAL_TYPES
    return EventSpec(i, at_ms, kind, actor, values, payload=payload)


def _expect(raw: object, source: str) -> Expect:
    if not isinstance(raw, Mapping):
        raise ConfigurationError("expect", raw, "a table", source=source)
    values = parse_table(raw, EXPECT_FIELDS, "expect", source, extra=EXPECT_LISTS)
    state = values.get("final_state")
    if state is not None and state not in STATES:
        raise ConfigurationError("expect.final_state", state, "one of " + ", ".join(STATES), source=source)
    alarms = _ids(values.get("alarms", []), "expect.alarms", source)
    not_alarms = _ids(values.get("not_alarms", []), "expect.not_alarms", source)
    refusals = values.get("refusals", [])
    if not isinstance(refusals, list) or not all(isinstance(r, str) and r for r in refusals):
        raise ConfigurationError("expect.refusals", refusals, "a list of refusal reason codes (e.g. \"lockout\")",
                                 source=source)
    boluses = _counts(values.get("boluses", {}), "expect.boluses", ("patient", "clinician"), source)
    detections = _counts(values.get("min_occlusion_detections", {}), "expect.min_occlusion_detections",
                         ("static", "trend", "sensor_invalid", "sensor_stuck"), source)
    within = values.get("alarm_within_s", {})
    if not isinstance(within, Mapping):
        raise ConfigurationError("expect.alarm_within_s", within, "a table alarm id = seconds", source=source)
    for k, v in within.items():
        if k not in A.IDS:
            raise ConfigurationError(f"expect.alarm_within_s.{k}", v, "alarm ids: " + ", ".join(A.IDS), source=source)
        number(v, f"expect.alarm_within_s.{k}", 0.0, 1e9, unit="s", source=source)
    return Expect(
        final_state=str(state) if state is not None else None, alarms=alarms, not_alarms=not_alarms,
        refusals=tuple(refusals), max_refusals=values.get("max_refusals"),  # type: ignore[arg-type]
        boluses=boluses, min_delivered_ml=values.get("min_delivered_ml"),  # type: ignore[arg-type]
        max_delivered_ml=values.get("max_delivered_ml"),  # type: ignore[arg-type]
        max_unintended_bolus_ml=values.get("max_unintended_bolus_ml"),  # type: ignore[arg-type]
        max_pressure_kpa=values.get("max_pressure_kpa"),  # type: ignore[arg-type]
        alarm_within_s={str(k): float(v) for k, v in within.items()}, min_occlusion_detections=detections,
    )


def _ids(v: object, where: str, source: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ConfigurationError(where, v, "a list of alarm ids", source=source)
    for x in v:
        if x not in A.IDS and x not in SHELL_ALARMS:
            raise ConfigurationError(where, x, "alarm ids: " + ", ".join((*A.IDS, *SHELL_ALARMS)), source=source)
    return tuple(v)


def _counts(v: object, where: str, keys: tuple[str, ...], source: str) -> dict[str, int]:
    if not isinstance(v, Mapping):
        raise ConfigurationError(where, v, f"a table with keys {', '.join(keys)}", source=source)
    out = {}
    for k, n in v.items():
        if k not in keys:
            raise ConfigurationError(f"{where}.{k}", n, f"keys {', '.join(keys)}", source=source)
        out[str(k)] = int(number(n, f"{where}.{k}", 0, 10**6, integer=True, source=source))
    return out

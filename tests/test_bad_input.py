"""Bad input is refused before anything moves (issue 8): property-based tests.

Any lab config (structured TOML built by mutating the shipped configs, random documents, raw
text and bytes) and any procedure parameter (`--set name=value`, for every registered
procedure, then its `check()` against a simulated bench) is either accepted or refused with
avlab's own error types — ConfigError naming the file and the key, ParameterError / AvlabError
naming the parameter — never another exception. Each crash hypothesis found is pinned with an
`@example`.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import io
import json
import math
import tempfile
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import experiments
from avlab.cli import main
from avlab.config import ConfigError, load_config, parse_config, with_sample_overrides
from avlab.errors import AvlabError, ParameterError
from avlab.procedure import Float, Int
from avlab.registry import load_procedure, procedure_names
from avlab.resources import host_port, is_loopback, ni_channel, ni_device, serial_number, visa
from avlab.roles import KINDS
from avlab.specs import driver_specs

LABS = Path(experiments.__file__).parent / "labs"
BASE_CONFIGS = {p.name: tomllib.loads(p.read_text("utf-8")) for p in sorted(LABS.glob("*.toml"))}
SPECS = driver_specs()
#: Words that steer mutations into the parser's deeper checks (known drivers, kinds, roles,
#: fault names, options, resources of every syntax).
WORDS = sorted({"sim", "TCPIP0::127.0.0.1::50000::SOCKET", "ASRL3::INSTR", "Dev1", "Dev1/ctr0",
                "first", "not a resource", "", " ", "pump_1064", "pump_852", "detector",
                "power_meter", "cryostat", "tm8_1064", "pryb_852", "no_such_preset",
                *SPECS, *KINDS,
                *(f for s in SPECS.values() if s.twin for f in s.twin.fault_names()),
                *(o for s in SPECS.values() for o in s.options)})
#: Problems that belong to the whole file rather than to a key.
FILE_LEVEL = ("not valid TOML", "not UTF-8", "cannot read")

# --- TOML documents -------------------------------------------------------------------------


def _toml_string(text: str) -> str:
    escaped = []
    for ch in text:
        if ch in '"\\':
            escaped.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            escaped.append(f"\\u{ord(ch):04x}")
        else:
            escaped.append(ch)
    return '"' + "".join(escaped) + '"'


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value)
        return text if any(c in text for c in ".e") else text + ".0"
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    raise TypeError(value)


def to_toml(document: dict) -> str:
    """A TOML document for `document` (every table inline: one line per top-level key)."""
    return "".join(f"{_toml_string(k)} = {_toml_value(v)}\n" for k, v in document.items())


numbers = st.one_of(st.integers(-2**63, 2**63 - 1), st.floats(),
                    st.sampled_from([0, -1, 0.5, 1e308, -1e308, 5e-324, 1e-300, 10**6]))
scalars = st.one_of(numbers, st.booleans(), st.text(max_size=20), st.sampled_from(WORDS),
                    st.datetimes(), st.dates(), st.times())
keys = st.one_of(st.sampled_from(WORDS), st.text(max_size=10))
toml_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=8)


def _paths(node: object, prefix: tuple = ()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_configs(draw: st.DrawFn) -> dict:
    """A shipped lab config with one to three edits, mostly deep ones: a value replaced by
    any TOML value or number or known word, a key deleted, an unknown key or table added."""
    document = copy.deepcopy(BASE_CONFIGS[draw(st.sampled_from(sorted(BASE_CONFIGS)))])
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(document) if p]
        if not paths:
            break
        deep = [p for p in paths if len(p) >= 3] or paths
        path = draw(st.sampled_from(deep if draw(st.integers(0, 3)) else paths))
        parent = document
        for k in path[:-1]:
            parent = parent[k]
        edit = draw(st.sampled_from(["value", "number", "number", "word", "delete", "add"]))
        if edit == "delete":
            del parent[path[-1]]
        elif edit == "add":
            target = parent[path[-1]] if isinstance(parent[path[-1]], dict) else parent
            if isinstance(target, dict):
                target[draw(keys)] = draw(toml_values)
        else:
            parent[path[-1]] = draw({"value": toml_values, "number": numbers,
                                     "word": st.sampled_from(WORDS)}[edit])
    return document


def assert_accepted_or_refused(text: str, source: str = "lab.toml") -> None:
    try:
        config = parse_config(text, source)
    except ConfigError as exc:
        assert str(exc).startswith(f"{source}: ")
        assert exc.key or exc.problem.startswith(FILE_LEVEL), str(exc)
        if exc.key:
            assert str(exc).startswith(f"{source}: {exc.key}: ")
        return
    for inst in config.instruments.values():  # what is accepted is usable
        assert all(math.isfinite(v) and v > 0 for v in inst.limits.values()), inst


@settings(max_examples=300)
@given(mutated_configs())
@example({**BASE_CONFIGS["simulated.toml"], "simulation": {"faults": [{"role": "pump_1064",
          "fault": "exploded", "at_s": 1.0}]}})
@example({**BASE_CONFIGS["simulated.toml"], "lab": {"name": "x", "bad": {"nested": []}}})
@example({**BASE_CONFIGS["simulated.toml"],  # OverflowError before the fix
          "simulation": {"sample": {"core_diameter_nm": 6.8e102}}})
def test_any_mutated_config_is_accepted_or_refused_naming_the_key(document):
    assert_accepted_or_refused(to_toml(document))


@settings(max_examples=100)
@given(st.dictionaries(st.one_of(st.sampled_from(["lab", "optics", "instruments", "simulation"]),
                                 keys), toml_values, max_size=5))
@example({"": []})  # refused without naming the key ('') before the fix
@example({"instruments": {"my pump": {"driver": 1}}})
def test_any_toml_document_is_accepted_or_refused(document):
    assert_accepted_or_refused(to_toml(document))


@settings(max_examples=100)
@given(st.text(max_size=300))
@example("[optics\nnumerical_aperture = 1")
@example("[instruments.pump_1064]\ndriver = 1\n")
def test_any_text_is_accepted_or_refused(text):
    assert_accepted_or_refused(text)


@settings(max_examples=60)
@given(st.binary(max_size=300))
@example(b"[lab]\nname = \"caf\xe9\"\n")
def test_any_file_bytes_are_accepted_or_refused(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lab.toml"
        path.write_bytes(data)
        try:
            load_config(path)
        except ConfigError as exc:
            assert str(exc).startswith(f"{path}: ")


@settings(max_examples=100)
@given(st.text(max_size=60))
def test_resource_checks_answer_none_or_a_sentence(resource):
    for check in (visa, host_port, ni_device, ni_channel, serial_number):
        answer = check(resource)
        assert answer is None or (isinstance(answer, str) and answer)
    assert isinstance(is_loopback(resource), bool)


@settings(max_examples=60)
@given(st.lists(st.one_of(st.text(max_size=20), st.tuples(
    st.sampled_from(["concentration", "core_diameter_nm", "temperature_K", "T", "x", ""]),
    st.one_of(st.floats().map(repr), st.text(max_size=8))).map("=".join)), max_size=3))
def test_sample_overrides_are_accepted_or_refused(assignments):
    config = load_config()
    try:
        with_sample_overrides(config, assignments)
    except ConfigError as exc:
        assert str(exc).startswith("--sample: ")


# --- procedure parameters --------------------------------------------------------------------

PROCEDURES = {name: load_procedure(name) for name in procedure_names()}
ALL_PARAMETERS = sorted({p for cls in PROCEDURES.values() for p in cls.parameters()})
BENCH_CONFIGS = sorted(p.name for p in LABS.glob("*sim*.toml"))

number_text = st.one_of(
    st.integers(-10**30, 10**30).map(str), st.floats().map(repr), st.floats(-10, 10).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "-0", "0", "1_000", "0x10", "１２", "1e-320",
                     "9" * 5000]))
number_list = st.lists(number_text, max_size=4).map(",".join)
value_range = st.tuples(number_text, number_text, number_text).map(":".join)
text_values = st.one_of(
    number_text, number_list, value_range,
    st.tuples(st.sampled_from([*ALL_PARAMETERS, "temperature_K", "x_um", "y_um", ""]),
              st.one_of(number_list, value_range)).map("=".join),  # series `over`
    st.lists(st.tuples(st.text(max_size=5), number_text, number_text).map(
        lambda t: f"{t[0]}:{t[1]}-{t[2]}"), max_size=3).map(";".join),  # spectrum `bands`
    st.lists(st.tuples(st.sampled_from(ALL_PARAMETERS), number_text).map("=".join),
             max_size=3).map(";".join),  # series / thermometry `inner`
    st.text(max_size=12),
    st.sampled_from(["true", "off", "stop", "continue", "", " ", "/nonexistent.json",
                     "pyproject.toml", "README.md", "/", *PROCEDURES]))


@st.composite
def assignments(draw: st.DrawFn, cls: type) -> list[str]:
    """`--set` strings for `cls`: mostly its own parameter names, values often in range (so
    that check() is reached), else any text."""
    parameters = cls.parameters()
    out = []
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.integers(0, 30)) == 0:
            out.append(draw(st.text(max_size=10)))  # no '=' (usually)
            continue
        name = draw(st.one_of(st.sampled_from(sorted(parameters)), st.text(max_size=6)))
        par = parameters.get(name)
        kind = par.type_name if par is not None else ""
        if kind == "float" and draw(st.booleans()):
            value = repr(draw(st.floats(min_value=par.minimum, max_value=par.maximum)))
        elif kind == "int" and draw(st.booleans()):
            value = str(draw(st.integers(min_value=par.minimum, max_value=par.maximum)))
        elif kind == "bool" and draw(st.booleans()):
            value = draw(st.sampled_from(["true", "false", "on", "0"]))
        else:
            value = draw(text_values)
        out.append(f"{name}={value}")
    return out


@pytest.fixture(scope="module")
def benches(tmp_path_factory):
    """Every simulated lab config's bench, connected once, and a well-formed calibration file
    (thermometry refuses to check without one)."""
    from avlab.bench import Bench

    calibration = tmp_path_factory.mktemp("cal") / "cal.json"
    calibration.write_text(json.dumps({
        "feature": "rate_cps", "intensity_kW_cm2": 5.0, "temperatures_K": [100.0, 200.0, 300.0],
        "features": [1e4, 2e4, 4e4], "feature_sigmas": [1e2, 1e2, 1e2],
        "coefficients": [0.0069, 8.52], "residual_K": 1.0}))
    with contextlib.ExitStack() as stack:
        yield ({name: stack.enter_context(Bench(load_config(LABS / name)))
                for name in BENCH_CONFIGS}, str(calibration))


def assert_parameters_accepted_or_refused(benches, name: str, bench_name: str,
                                          strings: list[str], calibration: bool) -> None:
    benches, calibration_path = benches
    procedure = PROCEDURES[name]()
    if calibration and "calibration" in procedure.parameters():
        procedure.set("calibration", calibration_path)
    try:
        procedure.set_from_strings(strings)
    except ParameterError as exc:
        named = {s.partition("=")[0].strip() for s in strings}
        assert any(n[:20] in str(exc) or repr(n)[1:20] in str(exc) for n in named if n) \
            or "--set expects" in str(exc), str(exc)
        return
    bench = benches[bench_name]
    try:
        procedure.check(bench)
    except AvlabError as exc:
        assert str(exc)
    assert not any(laser.is_emitting for laser in bench.lasers), "check() moved a laser"


@settings(max_examples=250, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_parameter_strings_are_accepted_or_refused(benches, data):
    name = data.draw(st.sampled_from(sorted(PROCEDURES)), label="procedure")
    bench_name = data.draw(st.sampled_from(BENCH_CONFIGS), label="bench")
    strings = data.draw(assignments(PROCEDURES[name]), label="assignments")
    calibration = data.draw(st.booleans(), label="with calibration")
    assert_parameters_accepted_or_refused(benches, name, bench_name, strings, calibration)


@pytest.mark.parametrize("name, bench_name, strings", [
    # Crashes hypothesis found (input -> exception before the fix):
    ("spectrum", "attenuator_sim.toml", []),  # KeyError: no spectrometer role
    ("spectrum", "two_diodes_sim.toml", ["pump_role=0"]),  # KeyError: no role '0'
    ("spectrum", "rise_sim.toml", ["spectrometer_role=modulator"]),  # KeyError: wrong kind
    ("series", "attenuator_sim.toml", []),  # KeyError: no cryostat
    ("series", "cryostat_sim.toml", ["over=x_um=1"]),  # KeyError: no scanner
    ("series", "cryostat_sim.toml", ["over=points=nan"]),  # ValueError: NaN to integer
    ("series", "cryostat_sim.toml", ["over=points=5.5"]),  # silently rounded
    ("series", "cryostat_sim.toml", ["over=temperature_K=1:2:99999999999"]),  # MemoryError
    ("series", "cryostat_sim.toml", ["over=temperature_K=10:300:100000"]),  # ran for minutes
    ("series", "cryostat_sim.toml", ["over=temperature_K=nan,inf"]),
    ("thermometry", "simulated.toml", ["calibration=pyproject.toml"]),
    ("thermometry", "attenuator_sim.toml", ["inner=points=1"]),  # checked only mid-run
    ("thermometry", "confocal_sim.toml", []),  # KeyError: no detector
    ("spectrum", "spectrometer_sim.toml", ["powers_W=nan"]),
])
def test_crashes_found_by_hypothesis_are_refused(benches, name, bench_name, strings):
    procedure = PROCEDURES[name]()
    if name == "thermometry" and not any(s.startswith("calibration=") for s in strings):
        procedure.set("calibration", benches[1])
    with pytest.raises(AvlabError):
        procedure.set_from_strings(strings)
        procedure.check(benches[0][bench_name])


@pytest.mark.parametrize("content, problem", [
    ("[1, 2]", "not a calibration"),
    ('{"feature": "f", "intensity_kW_cm2": 5, "temperatures_K": "abc", "features": [], '
     '"feature_sigmas": [], "coefficients": [1], "residual_K": 0}', "temperatures_K"),
    ('{"feature": "f", "intensity_kW_cm2": NaN, "temperatures_K": [1, 2], "features": [1, 2], '
     '"feature_sigmas": [1, 1], "coefficients": [1], "residual_K": 0}', "intensity_kW_cm2"),
])
def test_a_malformed_calibration_file_is_refused_at_check(benches, tmp_path, content, problem):
    path = tmp_path / "cal.json"
    path.write_text(content)
    procedure = PROCEDURES["thermometry"](calibration=str(path))
    with pytest.raises(ParameterError, match=problem):
        procedure.check(benches[0]["cryostat_sim.toml"])


@pytest.mark.parametrize("parameter, value", [
    (Float(1.0), 10**400),  # OverflowError before the fix
    (Float(1.0), "9" * 5000),
    (Int(1, maximum=10), "9" * 5000),
    (Int(1, maximum=10), 10**5000),  # the message's repr raised ValueError
], ids=["float-10**400", "float-5000-digit-text", "int-5000-digit-text", "int-10**5000"])
def test_parameter_validation_refuses_huge_values_with_a_short_message(parameter, value):
    parameter.name = "x"
    with pytest.raises(ParameterError, match="^parameter x: ") as info:
        parameter.validate(value)
    assert len(str(info.value)) < 200


@settings(max_examples=200)
@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary(),
                 st.complex_numbers(), st.lists(st.integers(), max_size=2)))
@example(10**400)
def test_float_and_int_validate_anything(value):
    for parameter in (Float(1.0, minimum=0.0, maximum=5.0), Int(1, minimum=0, maximum=5)):
        parameter.name = "x"
        try:
            parameter.validate(value)
        except ParameterError as exc:
            assert str(exc).startswith("parameter x: ")


# --- the command line --------------------------------------------------------------------------

@settings(max_examples=15)
@given(name=st.one_of(st.sampled_from(sorted(PROCEDURES["scurve"].parameters())),
                      st.text(max_size=8)),
       value=st.one_of(text_values, st.sampled_from(["3", "100", "-1", "0"])))
@example(name="power_max_W", value="100")
@example(name="pump_role", value="detector")
@example(name="points", value="1e999")
def test_cli_refuses_bad_set_with_exit_2_and_creates_nothing(name, value):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "runs" / "r.h5"
        out.parent.mkdir()
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["run", "scurve", "--config", str(LABS / "simulated.toml"),
                         "--out", str(out), "--no-plot",
                         "--set", "points=5", "--set", "refine=no", "--set", "sweep_down=no",
                         "--set", "dark_gate_s=0.01", f"--set={name}={value}"])
        assert code in (0, 2), err.getvalue()
        if code == 2:
            assert err.getvalue().startswith("avlab: ")
            assert list(out.parent.iterdir()) == [], "a refused run left a file"


def test_a_key_that_is_not_a_bare_key_is_quoted_in_the_message():
    with pytest.raises(ConfigError) as info:
        parse_config(to_toml({"": []}), "lab.toml")
    assert info.value.key == '""'
    with pytest.raises(ConfigError, match=r'instruments\."my pump"\.kind'):
        parse_config(to_toml({**BASE_CONFIGS["simulated.toml"], "instruments": {
            "my pump": {"driver": "ipg_ylr", "resource": "sim"}}}), "lab.toml")


@pytest.mark.parametrize("assignment", ["core_diameter_nm=6.8e102", "shell_thickness_nm=1e300"])
def test_a_sample_size_beyond_any_nanoparticle_is_refused(assignment):
    with pytest.raises(ConfigError, match="--sample: .*nm"):
        with_sample_overrides(load_config(), [assignment])

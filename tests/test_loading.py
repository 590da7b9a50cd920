"""Reading stack files: the engine's YAML semantics, one-line reasons for unreadable files, errors at the key,
long values cut short, and never a traceback from the CLIs."""

from __future__ import annotations

import io
import math
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesh_rollout.checks.__main__ import main as checks_main
from mesh_rollout.show import main as show_main
from mesh_rollout.spec import ConfigError, UnreadableFile, engine_yaml, load_stack_file, read_stack_file
from yaml_cases import ACCEPTED, REFUSED


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_yaml_is_read_as_the_engine_reads_it(case):
    text, expected = ACCEPTED[case]
    got = engine_yaml.load(text)
    assert got == expected
    # Types matter too: 1000 (the engine's int) is not "1000", True is not "true".
    assert {key: type(value) for key, value in got.items()} == {key: type(value) for key, value in expected.items()}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_yaml_the_engine_refuses_is_refused_with_the_line(case):
    text, reason = REFUSED[case]
    with pytest.raises(engine_yaml.YamlError) as raised:
        engine_yaml.load(text)
    assert reason in str(raised.value)
    assert "\n" not in str(raised.value)


def stack(tmp_path: Path, body: str | bytes, name: str = "Pulumi.t.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    return path


MESH = "config:\n  mesh-rollout:mesh:\n    controlPlane: {install: false}\n"
#: Files no tool may answer with a traceback: (body, fragment of the one-line reason).
UNREADABLE = {
    "yaml-syntax": ("config:\n  mesh-rollout:mesh: {a: [\n", "line 3: invalid YAML"),
    "several-documents": (MESH + "---\nconfig: {}\n", "line 4: several YAML documents"),
    "not-utf8": (b"config:\n  mesh-rollout:mesh:\n    environment: \"\xff\xfe\"\n", "not UTF-8 text (byte 0xff"),
    "too-deep": ("config:\n  mesh-rollout:mesh: " + "[" * 5000 + "]" * 5000 + "\n", "nesting deeper than 200"),
    "duplicate-key": (MESH + "    environment: a\n    environment: b\n", "line 5: mapping key 'environment' "
                                                                           "already defined at line 4"),
    "root-is-a-list": ("- config\n", "a stack file must be a mapping"),
    "config-is-a-number": ("config: 5\n", "config: must be a mapping of settings, not a number"),
    "infinity": (MESH + "    production: .inf\n", "'.inf' is not a number"),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_unreadable_stack_files_are_one_line_exit_2_in_both_clis(tmp_path, case):
    body, reason = UNREADABLE[case]
    path = stack(tmp_path, body)
    with pytest.raises(UnreadableFile) as raised:
        read_stack_file(path)
    assert str(raised.value) == f"{path}: {raised.value.reason}" and reason in str(raised.value)

    out = io.StringIO()
    assert checks_main([str(path)], out=out) == 2
    assert out.getvalue().splitlines() == [str(raised.value)]

    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        assert show_main([str(path)]) == 2
    assert err.getvalue().splitlines() == [str(raised.value)]


def test_a_missing_stack_file_or_a_directory_is_one_line(tmp_path):
    out = io.StringIO()
    assert checks_main([str(tmp_path / "nope.yaml"), str(tmp_path)], out=out) == 2
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "cannot read: No such file" in lines[0] and "cannot read: Is a directory" in lines[1]


def test_python_tags_are_never_executed_they_are_text_as_for_the_engine(tmp_path):
    marker = tmp_path / "executed"
    path = stack(tmp_path, f"config:\n  mesh-rollout:mesh: !!python/object/apply:os.system [\"touch {marker}\"]\n")
    with pytest.raises(ConfigError, match="mesh: must be a mapping of mesh settings, got 'list'"):
        load_stack_file(path)
    assert not marker.exists()


@pytest.mark.parametrize("body, path, fragment", [
    # Names are reported at the key that is wrong, not at the root of the mesh.
    ("    namespaces: {under_score: {}}\n", "mesh.namespaces.under_score", "must be a DNS label"),
    ("    services: {Pay: {namespace: shop}}\n", "mesh.services.Pay", "must be a DNS label"),
    ("    mtls: {namespaces: {Bad_NS: STRICT}}\n", "mesh.mtls.namespaces.Bad_NS", "must be a DNS label"),
    # Unicode digits are not ASCII digits (Python's int() and a pattern's \d would take them).
    ("    mtls: {workloads: {a: {ports: {\"١٢\": DISABLE}}}}\n", "mesh.mtls.workloads.a.ports.١٢",
     "valid integer"),
])
def test_bad_names_and_keys_are_reported_at_the_key(tmp_path, body, path, fragment):
    with pytest.raises(ConfigError) as raised:
        load_stack_file(stack(tmp_path, MESH + body))
    assert [problem.path for problem in raised.value.problems] == [path]
    assert fragment in raised.value.problems[0].message


def test_a_version_made_of_unicode_digits_is_refused(tmp_path):
    body = "config:\n  mesh-rollout:mesh:\n    controlPlane: {install: false, version: \"١.٢٦.٠\"}\n"
    with pytest.raises(ConfigError) as raised:
        load_stack_file(stack(tmp_path, body))
    assert raised.value.problems[0].path == "mesh.controlPlane.version"


def test_very_long_values_are_cut_short_in_messages(tmp_path):
    long_name = "x_" * 10_000
    # An explicit key (?): PyYAML and Go's YAML both cap implicit keys at 1024 characters.
    body = MESH + f"    namespaces:\n      ? {long_name}\n      : {{}}\n    clusterDomain: {'y' * 20_000}\n"
    out = io.StringIO()
    assert checks_main([str(stack(tmp_path, body))], out=out) == 2
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and max(map(len, lines)) < 1000, [len(line) for line in lines]
    assert "(20000 characters)" in out.getvalue()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("ab1:-[]{}&*!<>|'\"#\n ~.eE+_0x\t%@`?,١")), max_size=40))
def test_any_text_is_engine_yaml_or_a_one_line_yaml_error(text):
    try:
        value = engine_yaml.load(text)
    except engine_yaml.YamlError as error:
        assert "\n" not in str(error)
        return
    _assert_json_like(value)


def _assert_json_like(value: object) -> None:
    """What a program gets from the engine: JSON types only (no dates, no NaN, string keys)."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str)
            _assert_json_like(item)
    elif isinstance(value, list):
        for item in value:
            _assert_json_like(item)
    else:
        assert value is None or isinstance(value, (bool, int, str)) or (isinstance(value, float)
                                                                          and math.isfinite(value))

"""YAML snippets where PyYAML (YAML 1.1) and the Pulumi engine (Go, YAML 1.2) disagree, or that the engine refuses.

Each ACCEPTED case holds what the engine hands a program (observed with `pulumi config --json`); the unit tests
check mesh_rollout.spec.engine_yaml against these values, tests/integration/test_engine_yaml.py checks the values
against the real engine, so a wrong expectation here cannot hide.
"""

ACCEPTED: dict[str, tuple[str, object]] = {
    "yes-no-on-off-are-strings": ("a: yes\nb: no\nc: on\nd: off\ne: Y\nf: n\ng: [yes, no]\n",
                                  {"a": "yes", "b": "no", "c": "on", "d": "off", "e": "Y", "f": "n",
                                   "g": ["yes", "no"]}),
    "yes-as-a-key": ("yes: 1\nno: 2\non: 3\n", {"yes": 1, "no": 2, "on": 3}),
    "booleans": ("a: true\nb: True\nc: TRUE\nd: false\ne: fAlse\n",
                 {"a": True, "b": True, "c": True, "d": False, "e": "fAlse"}),
    "nulls": ("a: ~\nb: null\nc: NULL\nd:\n~: x\n", {"a": None, "b": None, "c": None, "d": None, "<nil>": "x"}),
    "sexagesimal-is-a-string": ("a: 1:30\nb: 190:20:30\n", {"a": "1:30", "b": "190:20:30"}),
    "integers": ("a: 0777\nb: 0o17\nc: 0x1F\nd: 0b101\ne: 1_000\nf: +12\ng: -0\nh: 09\ni: 0x_1F\nj: _1\n",
                 {"a": 511, "b": 15, "c": 31, "d": 5, "e": 1000, "f": 12, "g": 0, "h": 9, "i": 31, "j": "_1"}),
    "numbers-beyond-int64-pass-through-float64": (
        "a: 9007199254740993\nb: 99999999999999999999999\nc: 18446744073709551616\nd: 1e3\ne: 1.5e3\nf: 1.\n"
        "g: 0.5\nh: 1e21\ni: 1e20\nj: 123456789.123456789\nk: 1e400\nl: 1e-400\nm: 9223372036854775807\n"
        "n: 9223372036854775808\no: -9223372036854775808\n",
        {"a": 9007199254740993, "b": 1e23, "c": 18446744073709552000, "d": 1000, "e": 1500, "f": 1, "g": 0.5,
         "h": 1e21, "i": 100000000000000000000, "j": 123456789.12345679, "k": "1e400", "l": 0, "m": 9223372036854775807,
         "n": 9223372036854776000, "o": -9223372036854775808}),
    "timestamps-become-go-time-strings": (
        "a: 2001-12-14\nb: 2002-1-1\nc: 2001-12-14T21:59:43Z\nd: 2001-12-14t21:59:43.10-05:00\n"
        "e: 2001-12-14 21:59:43.10\nf: 2001-12-14 21:59:43.10 -5\ng: \"2001-12-14\"\nh: !!str 2001-12-14\n",
        {"a": "2001-12-14 00:00:00 +0000 UTC", "b": "2002-01-01 00:00:00 +0000 UTC",
         "c": "2001-12-14 21:59:43 +0000 UTC", "d": "2001-12-14 21:59:43.1 -0500 -0500",
         "e": "2001-12-14 21:59:43.1 +0000 UTC", "f": "2001-12-14 21:59:43.10 -5", "g": "2001-12-14",
         "h": "2001-12-14"}),
    "keys-are-printed-like-go": ("1: a\ntrue: b\n1.5: c\n0x10: d\n1000000.0: e\n!!str 5: f\n",
                                 {"1": "a", "true": "b", "1.5": "c", "16": "d", "1e+06": "e", "5": "f"}),
    "tags": ("a: !custom 5\nb: !!python/object/apply:os.system [\"echo hi\"]\nc: !!python/name:os.system\n"
             "d: !!int \"12\"\ne: !!float 3\nf: !!bool \"true\"\ng: !!binary aGVsbG8=\nh: !!str 0777\n",
             {"a": "5", "b": ["echo hi"], "c": "", "d": 12, "e": 3, "f": True, "g": "hello", "h": "0777"}),
    "anchors-and-merge-keys": ("a: &a {x: 1}\nb: &b {y: 2}\nc:\n  <<: [*a, *b]\n  x: 3\nd: *a\n",
                               {"a": {"x": 1}, "b": {"y": 2}, "c": {"x": 3, "y": 2}, "d": {"x": 1}}),
    "unicode-digits-stay-strings": ("a: ١٢\nb: ５s\n", {"a": "١٢", "b": "５s"}),
}

#: Snippets the engine refuses, with a fragment of our one-line reason.
REFUSED: dict[str, tuple[str, str]] = {
    "duplicate-key": ("a: 1\nb: 2\na: 3\n", "line 3: mapping key 'a' already defined at line 1"),
    "duplicate-key-in-flow-mapping": ("a: {x: 1, x: 2}\n", "mapping key 'x' already defined at line 1"),
    "duplicate-yes-key": ("yes: 1\n\"yes\": 2\n", "mapping key 'yes' already defined at line 1"),
    "infinity": ("a: .inf\n", "line 1: '.inf' is not a number"),
    "nan": ("a: .nan\n", "line 1: '.nan' is not a number"),
    "collection-key": ("[a]: 1\n", "a mapping key must be a scalar"),
    "wrong-explicit-tag": ("a: !!int 5.5\n", "cannot read '5.5' as int"),
}

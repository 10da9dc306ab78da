#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Unit tests for bundle/uv-bundle.py: PEP 440 requires-python checks as a
# table (every operator, comma lists, wildcards, pre-, post-, dev-releases,
# local labels, epochs), project name normalisation, default module names,
# --script validation and pyproject.toml errors.
import importlib.machinery
import importlib.util
import os
import sys
import tempfile
import unittest

SRC = os.environ.get("FL_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
_loader = importlib.machinery.SourceFileLoader("uv_bundle", os.path.join(SRC, "bundle", "uv-bundle.py"))
_spec = importlib.util.spec_from_loader("uv_bundle", _loader)
ub = importlib.util.module_from_spec(_spec)
_loader.exec_module(ub)

# (specifier set, version, expected)
TABLE = [
    # >= > <= <
    (">=3.9", "3.11.2", True), (">=3.11", "3.11.0", True), (">=3.11.2", "3.11.2", True),
    (">=3.12", "3.11.2", False), (">3.11", "3.11.2", True), (">3.11.2", "3.11.2", False),
    (">3.11", "3.11.0", False), ("<=3.11", "3.11.0", True), ("<=3.11", "3.11.2", False),
    ("<=3.11.2", "3.11.2", True), ("<3.12", "3.11.2", True), ("<3.11", "3.11.2", False),
    ("<3.11.2", "3.11.2", False), ("<4", "3.11.2", True),
    # == and != with zero padding, wildcards
    ("==3.11.2", "3.11.2", True), ("==3.11", "3.11.0", True), ("==3.11", "3.11.2", False),
    ("==3.11.*", "3.11.2", True), ("==3.*", "3.11.2", True), ("==3.1.*", "3.11.2", False),
    ("==3.11.2.*", "3.11.2", True), ("==3.11.0.0.*", "3.11", True), ("==3.12.*", "3.11.2", False),
    ("!=3.11.2", "3.11.2", False), ("!=3.11.1", "3.11.2", True), ("!=3.11.*", "3.11.2", False),
    ("!=3.10.*", "3.11.2", True), ("==3.11.*", "3.11.0rc1", True), ("==3.11.2", "3.11.2+local", True),
    ("==3.11.2+local", "3.11.2", False), ("==3.11.2+local", "3.11.2+local", True),
    # ~=
    ("~=3.9", "3.11.2", True), ("~=3.11", "3.11.0", True), ("~=3.11.1", "3.11.2", True),
    ("~=3.11.3", "3.11.2", False), ("~=3.10.0", "3.11.2", False), ("~=3.12", "3.11.2", False),
    ("~=3.0", "4.0", False), ("~=3.11.2.0", "3.11.2", True),
    # ===
    ("===3.11.2", "3.11.2", True), ("===3.11", "3.11.0", False), ("===3.11.2", "3.11.2.0", False),
    ("===foobar", "3.11.2", False),
    # comma lists, whitespace
    (">=3.8,<4", "3.11.2", True), (">=3.8, <3.11", "3.11.2", False), (" >= 3.8 , != 3.11.2 ", "3.11.2", False),
    (">=3.8,!=3.9.*,<3.13", "3.11.2", True), (">=3.8,!=3.11.*", "3.11.2", False),
    ("", "3.11.2", True),
    # pre-releases of the interpreter: allowed, but "<V" excludes pre-releases of V
    (">=3.11", "3.12.0rc1", True), (">=3.12", "3.12.0rc1", False), (">=3.12.0rc1", "3.12.0rc1", True),
    ("<3.12", "3.12.0rc1", False), ("<3.12", "3.12.0b2", False), ("<3.12.0rc2", "3.12.0rc1", True),
    ("<3.12", "3.11.9", True), (">=3.12.0a1", "3.12.0b1", True), (">=3.12.0b1", "3.12.0a7", False),
    ("<3.12.0", "3.12.0.dev1", False), ("<3.12.0a1", "3.12.0.dev1", True),
    (">3.12.0a1", "3.12.0a2", True), ("==3.12.0rc1", "3.12.0c1", True),
    # post-releases: ">V" excludes post-releases of V
    (">3.11.2", "3.11.2.post1", False), (">3.11.2.post1", "3.11.2.post2", True),
    (">=3.11.2", "3.11.2.post1", True), ("<=3.11.2", "3.11.2.post1", False),
    # epochs and ordering of suffixes
    (">=1!1.0", "3.11.2", False), ("<1!0", "3.11.2", True),
    ("<1.0", "1.0.dev1", False), (">1.0a1", "1.0.dev1", False), ("<1.0a1", "1.0.dev1", True),
    (">1.0", "1.0+local", False), (">=1.0", "1.0+local", True),
]

SORTED = ["1.0.dev1", "1.0a1.dev1", "1.0a1", "1.0a2", "1.0b1", "1.0rc1", "1.0", "1.0+abc",
          "1.0+5", "1.0.post1.dev1", "1.0.post1", "1.1.dev1", "1.1", "1!0.1"]


class Pep440(unittest.TestCase):
    def test_table(self):
        for spec, ver, want in TABLE:
            with self.subTest(spec=spec, version=ver):
                self.assertIs(ub.specifier_set_contains(spec, ub.Version(ver)), want)

    def test_ordering(self):
        vs = [ub.Version(v) for v in SORTED]
        for a, b in zip(vs, vs[1:]):
            with self.subTest(a=str(a), b=str(b)):
                self.assertTrue(a < b)

    def test_normal_forms(self):
        for text, want in [("3.11.2", "3.11.2"), ("v3.12.0-RC.1", "3.12.0rc1"),
                           ("1.0alpha2", "1.0a2"), ("1.0-1", "1.0.post1"), ("1.0r", "1.0.post0"),
                           ("1.0.dev", "1.0.dev0"), ("2!1.0+Ub.5", "2!1.0+ub.5"),
                           ("1.0preview3", "1.0rc3")]:
            self.assertEqual(str(ub.Version(text)), want)

    def test_malformed(self):
        for spec in ["3.11", ">=", ">=abc", "~=3", ">=3.*", "<3.11.*", "~=3.11.*", "=>3.11",
                     ">=3.8,", ">=3.8,,<4", "==3.11.*.2", ">=3.11+local", "~=3.11+local"]:
            with self.subTest(spec=spec):
                with self.assertRaises(ValueError):
                    ub.specifier_set_contains(spec, ub.Version("3.11.2"))


class Names(unittest.TestCase):
    def test_normalize(self):
        for name, want, mod in [("hello", "hello", "hello"), ("Hello.World_App", "hello-world-app",
                                 "hello_world_app"), ("A--B__C..D", "a-b-c-d", "a_b_c_d"),
                                ("x1", "x1", "x1"), ("Pkg-9", "pkg-9", "pkg_9")]:
            self.assertEqual(ub.normalize_name(name), want)
            self.assertEqual(ub.default_module(name), mod)

    def test_invalid_names(self):
        for name in ["", "-a", "a-", "a b", "a/b", ".", "ü"]:
            with self.assertRaises(ValueError, msg=name):
                ub.normalize_name(name)

    def test_modules(self):
        self.assertTrue(ub.valid_module("pkg.sub_mod"))
        for bad in ["", "a-b", "1a", "a..b", "a.", "a/b"]:
            self.assertFalse(ub.valid_module(bad), bad)

    def test_script(self):
        ub.check_script("greet", {"greet": "m:f", "other": "m:g"})
        with self.assertRaises(ub.Failure) as c:
            ub.check_script("nope", {"greet": "m:f", "other": "m:g"})
        self.assertEqual(str(c.exception),
                         "--script=nope: not in [project.scripts] (declared: greet, other)")
        with self.assertRaises(ub.Failure) as c:
            ub.check_script("nope", {})
        self.assertEqual(str(c.exception),
                         "--script=nope: not in [project.scripts] (declared: none declared)")


class Pyproject(unittest.TestCase):
    def load(self, text):
        with tempfile.TemporaryDirectory() as d:
            if text is not None:
                with open(os.path.join(d, "pyproject.toml"), "w") as f:
                    f.write(text)
            try:
                return ub.load_project(d)
            except ub.Failure as e:
                return str(e).replace(d, "D")

    def test_good(self):
        p = self.load('[project]\nname = "My.App"\nrequires-python = ">=3.9"\n'
                      '[project.scripts]\ngo = "my_app:main"\n')
        self.assertEqual((p["name"], p["requires_python"], p["scripts"]),
                         ("My.App", ">=3.9", {"go": "my_app:main"}))

    def test_errors(self):
        self.assertEqual(self.load(None), "--project=D: no pyproject.toml there")
        self.assertRegex(self.load('[project\nname = "x"\n'), r"^D/pyproject.toml: malformed TOML: ")
        self.assertEqual(self.load('[tool.x]\na = 1\n'), "D/pyproject.toml: no [project] table")
        self.assertEqual(self.load('[project]\nversion = "1"\n'), "D/pyproject.toml: [project] has no name")
        self.assertEqual(self.load('[project]\nname = "a b"\n'),
                         "D/pyproject.toml: not a valid project name: 'a b'")
        self.assertEqual(self.load('[project]\nname = "a"\nrequires-python = 3\n'),
                         "D/pyproject.toml: requires-python must be a string")


if __name__ == "__main__":
    unittest.main(verbosity=1)

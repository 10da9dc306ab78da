#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# uv-bundle: pack a uv-managed Python project into one self-executing file
# (SPEC §10).  In a fuselage run with --dynamic-empty=/run/fuselage/NAME, uv
# sync installs the project, non-editable, against the system Python into
# /run/fuselage/NAME/.venv; mksquashfs captures it; fuselage-bundle packs it.
# Everything is checked (pyproject.toml, requires-python, the tools) before
# any build work.  Written in Python because it needs the system Python
# anyway and stdlib tomllib parses pyproject.toml (doc/decisions.md).  It
# never needs privilege and never touches the project directory itself.

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

VERSION = "@PACKAGE_VERSION@"
PROG = "uv-bundle"


class Failure(Exception):
    """A failure reported as one line 'uv-bundle: MESSAGE', exit status 1;
    an empty message when that line was already printed (by the build run)."""


def warn(msg):
    print(f"{PROG}: warning: {msg}", file=sys.stderr)


# --- PEP 440 versions and specifiers --------------------------------------
# https://peps.python.org/pep-0440/ ; the regular expression is the
# specification's own (its appendix), the ordering its "Summary of permitted
# suffixes and relative ordering".

_VERSION_RE = re.compile(
    r"""^\s*v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?
    (?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    \s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_PRE_NORMAL = {"a": "a", "alpha": "a", "b": "b", "beta": "b", "c": "rc", "pre": "rc",
               "preview": "rc", "rc": "rc"}
_PRE_RANK = {"a": 0, "b": 1, "rc": 2}


class Version:
    """A parsed PEP 440 version; ValueError when the text is not one."""

    def __init__(self, text):
        m = _VERSION_RE.match(text)
        if not m:
            raise ValueError(f"not a PEP 440 version: {text!r}")
        self.text = text.strip()
        self.epoch = int(m["epoch"] or 0)
        self.release = tuple(int(x) for x in m["release"].split("."))
        self.pre = (_PRE_NORMAL[m["pre_l"].lower()], int(m["pre_n"] or 0)) if m["pre"] else None
        if m["post"]:
            self.post = int(m["post_n1"] or m["post_n2"] or 0)
        else:
            self.post = None
        self.dev = int(m["dev_n"] or 0) if m["dev"] else None
        self.local = tuple(int(p) if p.isdigit() else p.lower()
                           for p in re.split(r"[-_.]", m["local"])) if m["local"] else None

    @property
    def is_prerelease(self):
        return self.pre is not None or self.dev is not None

    def public(self):
        """The same version without its local label."""
        v = Version.__new__(Version)
        v.__dict__.update(self.__dict__, local=None)
        return v

    def key(self, release_len=None):
        rel = list(self.release)
        while len(rel) > 1 and rel[-1] == 0:
            rel.pop()
        # A dev release of a final sorts before its pre-releases: 1.0.dev1 < 1.0a1.
        if self.pre is None and self.post is None and self.dev is not None:
            pre = (-1,)
        elif self.pre is None:
            pre = (1,)
        else:
            pre = (0, _PRE_RANK[self.pre[0]], self.pre[1])
        post = (-1,) if self.post is None else (0, self.post)
        dev = (1,) if self.dev is None else (0, self.dev)
        # Local labels: absent sorts first; numeric segments after alphanumeric ones.
        local = (-1,) if self.local is None else (0,) + tuple(
            (1, p, "") if isinstance(p, int) else (0, 0, p) for p in self.local)
        return (self.epoch, tuple(rel), pre, post, dev, local)

    def __str__(self):
        s = (f"{self.epoch}!" if self.epoch else "") + ".".join(map(str, self.release))
        if self.pre:
            s += f"{self.pre[0]}{self.pre[1]}"
        if self.post is not None:
            s += f".post{self.post}"
        if self.dev is not None:
            s += f".dev{self.dev}"
        if self.local:
            s += "+" + ".".join(map(str, self.local))
        return s

    def __eq__(self, other):
        return self.key() == other.key()

    def __lt__(self, other):
        return self.key() < other.key()

    def __le__(self, other):
        return self.key() <= other.key()


_SPEC_RE = re.compile(r"^\s*(===|~=|==|!=|<=|>=|<|>)\s*(\S+?)\s*$")


def _prefix_match(cand, prefix_text):
    """== V.*: cand's release (padded with zeros) starts with V's segments."""
    pv = Version(prefix_text)
    if pv.local is not None:
        raise ValueError("a local label cannot be used with .*")
    if pv.epoch != cand.epoch:
        return False
    n = len(pv.release)
    rel = (cand.release + (0,) * n)[:n]
    if rel != pv.release:
        return False
    # Segments after the release in the prefix (1.0rc1.*, 1.0.post1.*) must match too.
    if pv.pre is not None and cand.pre != pv.pre:
        return False
    if pv.post is not None and cand.post != pv.post:
        return False
    if pv.dev is not None and cand.dev != pv.dev:
        return False
    return True


def specifier_contains(spec, version):
    """Whether Version @version satisfies one specifier such as '>=3.9'.

    Pre-release interpreters are allowed (as pip and uv do for
    requires-python), but '<V' still excludes pre-releases of V itself and
    '>V' post-releases and local versions of V (PEP 440 "Exclusive ordered
    comparison").  ValueError for a malformed specifier."""
    m = _SPEC_RE.match(spec)
    if not m:
        raise ValueError(f"not a version specifier: {spec!r}")
    op, text = m.groups()
    if op == "===":
        # Arbitrary equality: the version exactly as written, case aside.
        return version.text.lower() == text.lower()
    wildcard = text.endswith(".*")
    if wildcard and op not in ("==", "!="):
        raise ValueError(f"'.*' is allowed only with == and !=: {spec!r}")
    if wildcard:
        hit = _prefix_match(version.public(), text[:-2])
        return hit if op == "==" else not hit
    v = Version(text)
    cand = version if (op in ("==", "!=") and v.local is not None) else version.public()
    if op in ("==", "!="):
        hit = cand.key() == v.key()
        return hit if op == "==" else not hit
    if op == "~=":
        if len(v.release) < 2:
            raise ValueError(f"~= needs at least two release segments: {spec!r}")
        if v.local is not None:
            raise ValueError(f"~= cannot use a local version: {spec!r}")
        prefix = ".".join(map(str, v.release[:-1]))
        if v.epoch:
            prefix = f"{v.epoch}!{prefix}"
        return cand >= v and _prefix_match(cand, prefix)
    if v.local is not None:
        raise ValueError(f"{op} cannot use a local version: {spec!r}")
    if op == "<=":
        return cand <= v
    if op == ">=":
        return cand >= v
    if op == "<":
        if not cand < v:
            return False
        same_release = cand.epoch == v.epoch and cand.key()[1] == v.key()[1]
        return v.is_prerelease or not (cand.is_prerelease and same_release)
    # op == ">"; local versions of V are already excluded: cand is public.
    if not v < cand:
        return False
    return not (cand.post is not None and v.post is None and _base(cand) == _base(v))


def _base(v):
    return (v.epoch, v.key()[1])


def specifier_set_contains(text, version):
    """A comma list of specifiers: all must hold.  An empty list holds."""
    parts = [p for p in text.split(",")]
    if text.strip() == "":
        return True
    if any(p.strip() == "" for p in parts):
        raise ValueError(f"empty specifier in {text!r}")
    return all(specifier_contains(p, version) for p in parts)


# --- the project ---------------------------------------------------------------

def normalize_name(name):
    """PEP 503 normalisation: lower case, runs of -_. become one '-'."""
    if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", name):
        raise ValueError(f"not a valid project name: {name!r}")
    return re.sub(r"[-_.]+", "-", name).lower()


def default_module(name):
    """The default module: the normalised name with '-' (and '.') as '_'."""
    return normalize_name(name).replace("-", "_").replace(".", "_")


def valid_module(mod):
    return all(part.isidentifier() for part in mod.split("."))


def load_project(project_dir, given=None):
    import tomllib

    path = os.path.join(project_dir, "pyproject.toml")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise Failure(f"--project={given or project_dir}: no pyproject.toml there") from None
    except OSError as e:
        raise Failure(f"{path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise Failure(f"{path}: malformed TOML: {e}") from None
    project = data.get("project")
    if not isinstance(project, dict):
        raise Failure(f"{path}: no [project] table")
    name = project.get("name")
    if not isinstance(name, str):
        raise Failure(f"{path}: [project] has no name")
    try:
        normalize_name(name)
    except ValueError as e:
        raise Failure(f"{path}: {e}") from None
    rp = project.get("requires-python")
    if rp is not None and not isinstance(rp, str):
        raise Failure(f"{path}: requires-python must be a string")
    scripts = project.get("scripts", {})
    if not isinstance(scripts, dict):
        raise Failure(f"{path}: [project.scripts] must be a table")
    return {"path": path, "name": name, "requires_python": rp, "scripts": scripts}


def check_script(script, scripts):
    if script not in scripts:
        declared = ", ".join(sorted(scripts)) if scripts else "none declared"
        raise Failure(f"--script={script}: not in [project.scripts] (declared: {declared})")


# --- the system Python and the tools ----------------------------------------------

def system_python():
    """python3 in PATH, asked for its real executable and its version."""
    found = shutil.which("python3")
    if not found:
        raise Failure("cannot find python3 in PATH (the system Python to build against)")
    code = ("import sys; v = sys.version_info; "
            "l = {'alpha': 'a', 'beta': 'b', 'candidate': 'rc'}.get(v.releaselevel, ''); "
            "print(sys.executable); "
            "print('%d.%d.%d' % v[:3] + (l + str(v.serial) if l else ''))")
    try:
        out = subprocess.run([found, "-c", code], capture_output=True, text=True, check=True)
        exe, ver = out.stdout.split("\n")[:2]
    except (OSError, subprocess.CalledProcessError, ValueError):
        raise Failure(f"cannot ask {found} for its version") from None
    return os.path.realpath(exe), Version(ver)


def check_python(project, exe, version, ignore):
    rp = project["requires_python"]
    if rp is None:
        return
    try:
        ok = specifier_set_contains(rp, version)
    except ValueError as e:
        raise Failure(f"{project['path']}: malformed requires-python {rp!r}: {e}") from None
    if ok:
        return
    msg = (f"the system Python {exe} is {version}, but {project['path']} has "
           f"requires-python = {rp!r}")
    if ignore:
        warn(msg + " (building anyway: --ignore-version-mismatch)")
    else:
        raise Failure(msg + " (use --ignore-version-mismatch to build anyway)")


def find_tools():
    """fuselage ($FUSELAGE, else PATH), fuselage-bundle, uv, mksquashfs."""
    tools, missing = {}, []
    env_fuselage = os.environ.get("FUSELAGE")
    for name in ("fuselage", "fuselage-bundle", "uv", "mksquashfs"):
        if name == "fuselage" and env_fuselage:
            path = shutil.which(env_fuselage)
        else:
            extra = os.pathsep + "/usr/sbin" + os.pathsep + "/sbin" if name == "mksquashfs" else ""
            path = shutil.which(name, path=os.environ.get("PATH", os.defpath) + extra)
        if path:
            tools[name] = os.path.abspath(path)
        else:
            missing.append(f"$FUSELAGE={env_fuselage}" if name == "fuselage" and env_fuselage
                           else name)
    if missing:
        raise Failure("cannot find " + ", ".join(missing) + " in PATH (uv-bundle needs "
                      "fuselage, fuselage-bundle, uv and mksquashfs)")
    return tools


# --- building ----------------------------------------------------------------------

def print_tree(root):
    """The venv's tree with sizes, and the totals (for --verbose)."""
    files = total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            print(f"{'':>10}  {rel}/")
        for fn in sorted(filenames):
            p = os.path.join(dirpath, fn)
            r = os.path.normpath(os.path.join(rel, fn))
            if os.path.islink(p):
                print(f"{'':>10}  {r} -> {os.readlink(p)}")
                continue
            size = os.lstat(p).st_size
            files += 1
            total += size
            print(f"{size:>10}  {r}")
    print(f"{PROG}: {files} files, {total} bytes before compression")
    return total


def stage(spec):
    """Inside the fuselage run: uv sync into the fixed path, then mksquashfs."""
    env = dict(os.environ)
    env["UV_PROJECT_ENVIRONMENT"] = spec["venv"]
    env["UV_PYTHON_PREFERENCE"] = "system"
    # uv's cache and the run's tmpfs are different filesystems: copy, no warning.
    env.setdefault("UV_LINK_MODE", "copy")
    cmd = [spec["uv"], "sync", "--project", spec["project"], "--python", spec["python"],
           "--no-editable", "--compile-bytecode"]
    if not spec["dev"]:
        cmd.append("--no-dev")
    cmd += spec["uv_args"]
    if spec["verbose"]:
        print(f"{PROG}: running {' '.join(cmd)}", flush=True)
    r = subprocess.run(cmd, env=env)
    if r.returncode != 0:
        raise Failure(f"uv sync failed (exit status {r.returncode})")
    if not os.path.isfile(os.path.join(spec["venv"], "pyvenv.cfg")):
        raise Failure(f"uv sync made no virtual environment at {spec['venv']}")
    module = spec.get("module")
    if module is not None:
        # The bundle would run "python -m MODULE": fail now, not at its first start.
        probe = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec(sys.argv[1]) else 3)"
        r = subprocess.run([os.path.join(spec["venv"], "bin", "python"), "-c", probe, module],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            raise Failure(f"module {module} is not importable from the environment uv sync made "
                          "(use --module=NAME, or --script=NAME for a [project.scripts] entry)")
    if spec["verbose"]:
        print_tree(spec["root"])
    cmd = [spec["mksquashfs"], spec["root"], spec["image"], "-noappend", "-comp", "zstd",
           "-quiet", "-no-progress"]
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        raise Failure(f"mksquashfs failed (exit status {r.returncode})")


def run_checked(cmd, what, quiet_status=None):
    r = subprocess.run(cmd)
    if r.returncode == quiet_status:
        raise Failure("")
    if r.returncode != 0:
        raise Failure(f"{what} failed (exit status {r.returncode})")


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise Failure(f"{message} (try --help)")


def parse_args(argv):
    p = Parser(prog=PROG, add_help=False,
               usage="uv-bundle --project=DIR --output=FILE [--module=MOD | --script=NAME] "
                     "[--dev]\n                 [--squashfs=PATH] [--uv-arg=ARG]... "
                     "[--verbose] [--ignore-version-mismatch]",
               description="Pack a uv-managed Python project into one self-executing file.",
               epilog="See uv-bundle(1).")
    p.add_argument("--project", metavar="DIR", required=True, help="the project (pyproject.toml)")
    p.add_argument("--output", "-o", metavar="FILE", required=True, help="the bundle to write")
    p.add_argument("--module", metavar="MOD",
                   help="run python -m MOD (default: the project name with - and . as _)")
    p.add_argument("--script", metavar="NAME", help="run the [project.scripts] entry NAME")
    p.add_argument("--dev", action="store_true", help="include the dev dependencies")
    p.add_argument("--squashfs", metavar="PATH", help="keep the squashfs image at PATH")
    p.add_argument("--uv-arg", metavar="ARG", action="append", default=[],
                   help="pass ARG to uv sync (repeatable; write --uv-arg=--flag)")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="print the steps, the image's tree and the sizes")
    p.add_argument("--ignore-version-mismatch", action="store_true",
                   help="only warn when the system Python misses requires-python")
    p.add_argument("--help", "-h", action="help", help="display this help and exit")
    p.add_argument("--version", "-V", action="version", version=f"{PROG} {VERSION}",
                   help="output version information and exit")
    a = p.parse_args(argv)
    if a.module is not None and a.script is not None:
        raise Failure("--module and --script are mutually exclusive")
    if a.module is not None and not valid_module(a.module):
        raise Failure(f"--module={a.module}: not a Python module name")
    if a.script is not None and (not a.script or "/" in a.script or a.script in (".", "..")):
        raise Failure(f"--script={a.script}: not a script name")
    return a


def build(a):
    project_dir = os.path.abspath(a.project)
    if not os.path.isdir(project_dir):
        raise Failure(f"--project={a.project}: not a directory")
    project = load_project(project_dir, a.project)
    if a.script is not None:
        check_script(a.script, project["scripts"])
    exe, version = system_python()
    check_python(project, exe, version, a.ignore_version_mismatch)
    tools = find_tools()

    name = normalize_name(project["name"])
    root = f"/run/fuselage/{name}"
    venv = f"{root}/.venv"
    module = None
    if a.script is not None:
        run = [f"{venv}/bin/{a.script}"]
    else:
        module = a.module or default_module(project["name"])
        run = [f"{venv}/bin/python", "--", "-m", module]
    output = os.path.abspath(a.output)
    for opt, path in (("--output", a.output), ("--squashfs", a.squashfs)):
        if path is None:
            continue
        if os.path.isdir(path):
            raise Failure(f"{opt}={path}: is a directory")
        if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise Failure(f"{opt}={path}: its directory does not exist")
    tmp = tempfile.mkdtemp(prefix="uv-bundle.")
    try:
        image = os.path.abspath(a.squashfs) if a.squashfs else os.path.join(tmp, name + ".sfs")
        spec = {"uv": tools["uv"], "mksquashfs": tools["mksquashfs"], "project": project_dir,
                "python": exe, "dev": a.dev, "uv_args": a.uv_arg, "verbose": a.verbose,
                "root": root, "venv": venv, "image": image, "module": module}
        if a.verbose:
            print(f"{PROG}: project {project['name']} ({name}), Python {version} ({exe})")
        run_checked([tools["fuselage"], f"--dynamic-empty={root}", "--", sys.executable,
                     os.path.abspath(__file__), "--internal-stage", json.dumps(spec)],
                    "the build run (fuselage)", quiet_status=1)  # 1: the stage said why
        run_checked([tools["fuselage-bundle"], f"--archive={image}", f"--output={output}",
                     "--", f"--static={root}:/proc/self/exe", "--run"] + run,
                    "fuselage-bundle", quiet_status=1)
        if a.verbose:
            print(f"{PROG}: image {os.path.getsize(image)} bytes, "
                  f"bundle {output} {os.path.getsize(output)} bytes")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv):
    try:
        if len(argv) == 2 and argv[0] == "--internal-stage":
            stage(json.loads(argv[1]))
        else:
            build(parse_args(argv))
    except Failure as e:
        if str(e):
            print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

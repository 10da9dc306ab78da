#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §10: uv-bundle end to end, with a stand-in uv (tests/func/fake-uv) that
# implements uv sync for exactly what uv-bundle passes and fails loudly on
# anything else: the default module (name normalised), --module, --script
# (validated against [project.scripts]), --dev, --uv-arg, --squashfs,
# --verbose; requires-python both ways and --ignore-version-mismatch; missing
# tools and pyproject.toml errors; the bundle runs from anywhere after the
# project directory is deleted.
. "$FL_SRCDIR/tests/func/lib.sh"
. "$FL_SRCDIR/tests/func/bundle-lib.sh"
fl_init
[ -d /run/fuselage ] || skip "/run/fuselage does not exist (mkdir -m 0755 /run/fuselage as root)"
need_mksquashfs
UVB=$FL_BUILDDIR/uv-bundle
[ -x "$UVB" ] || skip "uv-bundle not built"
"$FL_SYSPY" -c 'import venv, tomllib, setuptools, wheel, pip' 2>/dev/null ||
	skip "$FL_SYSPY lacks venv/setuptools/wheel/pip (python3-venv python3-setuptools python3-wheel python3-pip)"
ls /usr/share/python-wheels/pip-*.whl >/dev/null 2>&1 || skip "no pip wheel (python3-pip-whl)"

# Each build makes a venv and builds a wheel with setuptools: give it time on
# a loaded machine (the timeout only guards against hangs).
FL_TIMEOUT=$((FL_TIMEOUT * 5))

pyexe=$("$FL_SYSPY" -c 'import os, sys; print(os.path.realpath(sys.executable))')
pyver=$("$FL_SYSPY" -c 'import platform; print(platform.python_version())')
# The stand-in through a wrapper: the source tree may be read-only and lose
# modes (make distcheck).
mkdir uvbin && printf '#!/bin/sh\nexec %s %s "$@"\n' "$FL_SYSPY" "$FL_SRCDIR/tests/func/fake-uv" >uvbin/uv &&
	chmod 0755 uvbin/uv
export PATH="$T/uvbin:$FL_BUILDDIR:/usr/bin:/bin"
export FAKE_UV_LOG=$T/uv.log

# Two tiny wheels in a local directory (UV_FIND_LINKS, as real uv reads it):
# a dependency and a dev dependency.
"$FL_SYSPY" - "$T/wheels" <<'PY'
import os, sys, zipfile
os.makedirs(sys.argv[1])
for name in ("hwdep", "hwdevdep"):
    di = f"{name}-1.0.dist-info"
    files = {f"{name}/__init__.py": f"VALUE = {name!r}\n",
             f"{di}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
             f"{di}/WHEEL": "Wheel-Version: 1.0\nGenerator: t-uv-bundle\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{di}/RECORD"] = "".join(f"{p},,\n" for p in files) + f"{di}/RECORD,,\n"
    with zipfile.ZipFile(os.path.join(sys.argv[1], f"{name}-1.0-py3-none-any.whl"), "w") as z:
        for p, text in files.items():
            z.writestr(p, text)
PY
export UV_FIND_LINKS=$T/wheels

# --- the project: a normalised name, a dependency, a dev group, two scripts ---
mkdir -p proj/hello_world_app
cat >proj/pyproject.toml <<'TOML'
[project]
name = "Hello.World_App"
version = "1.0"
requires-python = ">=3.8, !=3.0.*"
dependencies = ["hwdep"]

[project.scripts]
greet = "hello_world_app.cli:main"
shout = "hello_world_app.cli:shout"

[dependency-groups]
dev = ["hwdevdep"]

[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"
TOML
cat >proj/hello_world_app/__init__.py <<'PY'
PY
cat >proj/hello_world_app/__main__.py <<'PY'
import importlib.util, os, sys
print("main " + " ".join("[%s]" % a for a in sys.argv[1:]))
print("prefix=" + sys.prefix)
print("file=" + __file__)
print("hwdep=%s hwdevdep=%s" % tuple(bool(importlib.util.find_spec(m)) for m in ("hwdep", "hwdevdep")))
sys.exit(int(os.environ.get("HELLO_EXIT", "0")))
PY
cat >proj/hello_world_app/cli.py <<'PY'
import sys
def main():
    print("greet " + " ".join("[%s]" % a for a in sys.argv[1:]))
def shout():
    print("SHOUT")
if __name__ == "__main__":
    import importlib.util
    print("cli as module, hwdevdep=%s" % bool(importlib.util.find_spec("hwdevdep")))
    main()
PY
venv=/run/fuselage/hello-world-app/.venv
site=$venv/lib/python$("$FL_SYSPY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')/site-packages

# --- default: python -m <normalised name with _> ---
mkdir out
b_run "$UVB" --project=proj --output=out/hw
assert_eq "uv-bundle succeeds" "0" "$FL_RC"
assert_eq "uv sync got exactly what real uv needs" "arg sync
arg --project
arg $T/proj
arg --python
arg $pyexe
arg --no-editable
arg --compile-bytecode
arg --no-dev
env UV_PROJECT_ENVIRONMENT=$venv
env UV_PYTHON_PREFERENCE=system
env UV_LINK_MODE=copy
env UV_FIND_LINKS=$T/wheels" "$(cat uv.log)"
assert_eq "the bundle is mode 0755, nothing else left in out/" "755 hw" "$(stat -c %a out/hw) $(ls -A out)"
b_run env -C / "$T/out/hw" 'a b' '' --flag
assert_eq "the default module runs, from /, with the user's arguments" "main [a b] [] [--flag]
prefix=$venv
file=$site/hello_world_app/__main__.py
hwdep=True hwdevdep=False" "$FL_OUT"
HELLO_EXIT=3 b_run out/hw
assert_eq "its exit status" "3" "$FL_RC"

# --- --script, --verbose, --squashfs, --uv-arg ---
: >uv.log
b_run "$UVB" --project "$T/proj" --output=out/greet --script=greet --verbose --squashfs=greet.sfs \
	--uv-arg=--offline --uv-arg=--no-cache
assert_eq "--script --verbose --squashfs --uv-arg succeeds" "0" "$FL_RC"
assert_eq "--uv-arg values follow uv-bundle's own" "arg --no-dev
arg --offline
arg --no-cache" "$(grep '^arg' uv.log | tail -n 3)"
assert_match "--verbose prints the image's tree with sizes" "[0-9]+  \.venv/pyvenv\.cfg" "$FL_OUT"
assert_match "... the console script" "  \.venv/bin/greet" "$FL_OUT"
assert_match "... and the sizes" "uv-bundle: image [0-9]+ bytes, bundle $T/out/greet [0-9]+ bytes" "$FL_OUT"
assert_eq "--squashfs keeps the image" "hsqs" "$(head -c 4 greet.sfs)"
size=$(stat -c %s greet.sfs)
tail -c "$size" out/greet >tail.sfs
assert_true "... which is the one in the bundle" cmp -s tail.sfs greet.sfs
b_run out/greet x 'y z' --help
assert_eq "--script=greet runs .venv/bin/greet (a -- before the user's arguments)" "greet [x] [y z] [--help]" "$FL_OUT"
b_run "$UVB" --project=proj --output=out/nope --script=nope
assert_tool_error "--script must be declared" uv-bundle "--script=nope: not in \[project.scripts\] \(declared: greet, shout\)$"
b_run "$UVB" --project=proj --output=out/nope --script=greet --module=x
assert_tool_error "--module and --script are mutually exclusive" uv-bundle "mutually exclusive"

# --- --module, --dev ---
: >uv.log
b_run "$UVB" --project=proj --output=out/cli --module=hello_world_app.cli --dev
assert_eq "--module --dev succeeds" "0" "$FL_RC"
assert_eq "--dev: no --no-dev for uv" "" "$(grep -x 'arg --no-dev' uv.log)"
b_run out/cli q
assert_eq "--module=hello_world_app.cli; --dev installed the dev group" "cli as module, hwdevdep=True
greet [q]" "$FL_OUT"
b_run "$UVB" --project=proj --output=out/nomod --module=no_such_module_here
assert_eq "--module naming nothing importable fails the build (after uv sync's own output)" \
	"1 uv-bundle: module no_such_module_here is not importable from the environment uv sync made (use --module=NAME, or --script=NAME for a [project.scripts] entry)" \
	"$FL_RC $(printf '%s\n' "$FL_ERR" | tail -n 1)"
assert_false "... and writes no output" test -e out/nomod
b_run "$UVB" --project=proj --output=out/bad --uv-arg=--bogus
assert_eq "a failing uv sync fails the build: uv's message, then one line of ours" "1
fake uv: unsupported argument '--bogus'
uv-bundle: uv sync failed (exit status 2)" "$FL_RC
$FL_ERR"
assert_false "... and writes no output" test -e out/bad

# --- requires-python, both ways ---
for rp in ">=3.99" "<3" "==$pyver.1" "~=2.7"; do
	mkdir -p "vp/$rp" && cp -r proj/hello_world_app "vp/$rp/"
	sed "s/^requires-python = .*/requires-python = \"$rp\"/" proj/pyproject.toml >"vp/$rp/pyproject.toml"
	: >uv.log
	b_run "$UVB" --project="vp/$rp" --output="out/v"
	assert_tool_error "requires-python $rp refused" uv-bundle \
		"the system Python $pyexe is $pyver, but $T/vp/$rp/pyproject.toml has requires-python = '$rp' \(use --ignore-version-mismatch to build anyway\)$"
	assert_eq "... before any build work" "" "$(cat uv.log)"
done
# --ignore-version-mismatch turns uv-bundle's refusal into a warning and goes
# on to uv sync, which (real uv as well as the stand-in's pip) then applies
# requires-python itself.
: >uv.log
b_run "$UVB" --project="vp/>=3.99" --output=out/v --ignore-version-mismatch
assert_eq "--ignore-version-mismatch: a warning first" \
	"uv-bundle: warning: the system Python $pyexe is $pyver, but $T/vp/>=3.99/pyproject.toml has requires-python = '>=3.99' (building anyway: --ignore-version-mismatch)" \
	"$(printf '%s\n' "$FL_ERR" | head -n 1)"
assert_eq "... then the build work: uv sync runs" "arg sync" "$(head -n 1 uv.log)"
mkdir -p vp/bad && cp proj/pyproject.toml vp/bad/ && sed -i 's/^requires-python = .*/requires-python = ">=3.8,,<4"/' vp/bad/pyproject.toml
b_run "$UVB" --project=vp/bad --output=out/v2
assert_tool_error "a malformed requires-python" uv-bundle "malformed requires-python '>=3.8,,<4'"

# --- pyproject.toml and tool errors ---
mkdir empty
b_run "$UVB" --project=empty --output=out/e
assert_tool_error "no pyproject.toml" uv-bundle "--project=empty: no pyproject.toml there$"
mkdir broken && printf '[project\nname = "x"\n' >broken/pyproject.toml
b_run "$UVB" --project=broken --output=out/e
assert_tool_error "malformed pyproject.toml" uv-bundle "$T/broken/pyproject.toml: malformed TOML: "
b_run "$UVB" --project=nodir --output=out/e
assert_tool_error "a missing project directory" uv-bundle "--project=nodir: not a directory"
b_run "$UVB" --project=proj
assert_tool_error "--output is required" uv-bundle "required: --output"
: >uv.log
b_run "$UVB" --project=proj --output=nodir/x
assert_tool_error "an --output in a missing directory, before any build work" uv-bundle "--output=nodir/x: its directory does not exist"
b_run "$UVB" --project=proj --output=out/x --squashfs=out
assert_tool_error "a --squashfs that is a directory" uv-bundle "--squashfs=out: is a directory"
assert_eq "... neither ran uv" "" "$(cat uv.log)"
for tool in fuselage fuselage-bundle uv mksquashfs; do
	d=tools-$tool
	mkdir "$d"
	ln -s "$FL_SYSPY" "$d/python3"
	ln -s "$FUSELAGE" "$d/fuselage"
	ln -s "$FL_BUILDDIR/fuselage-bundle" "$d/fuselage-bundle"
	ln -s "$T/uvbin/uv" "$d/uv"
	ln -s "$MKSQUASHFS" "$d/mksquashfs"
	rm "$d/$tool"
	: >uv.log
	b_run env -u FUSELAGE PATH="$T/$d" "$FL_SYSPY" "$UVB" --project=proj --output=out/t
	assert_tool_error "missing $tool is named" uv-bundle "cannot find $tool in PATH"
	assert_false "... before any build work" test -s uv.log -o -e out/t
done
b_run env FUSELAGE="$T/no/fuselage" "$UVB" --project=proj --output=out/t
assert_tool_error "a \$FUSELAGE that does not exist is named" uv-bundle "cannot find \\\$FUSELAGE=$T/no/fuselage in PATH"

# --- the bundles keep working without the project directory ---
rm -rf proj vp
for b in hw greet cli; do
	b_run env -C / "$T/out/$b" after
	assert_eq "out/$b runs after the project directory is gone" "0" "$FL_RC"
done
assert_match "... the default one still imports from the image" "^main \[after\]" "$(env -C / "$T/out/hw" after)"

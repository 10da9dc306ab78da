#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §9: fuselage-bundle.  A Python app (a venv made with python3 -m venv
# inside --dynamic-empty=/run/fuselage/NAME, captured with mksquashfs) bundled
# into one file that runs from anywhere, moved, renamed, through a symlink and
# a relative path; the layout (ELF extent rule, unsquashfs -o, image
# unchanged); baked arguments byte for byte; /proc/self/exe replaced by the
# real absolute path; fuselage from $FUSELAGE or PATH; the -- rule; the exit
# status; --dynamic=NAME:/proc/self/exe; every refusal before anything is
# written; --keep, --build-dir, --exist-ok; atomic 0755 output.
. "$FL_SRCDIR/tests/func/lib.sh"
. "$FL_SRCDIR/tests/func/bundle-lib.sh"
fl_init
[ -d /run/fuselage ] || skip "/run/fuselage does not exist (mkdir -m 0755 /run/fuselage as root)"
need_mksquashfs
need unsquashfs
[ -x "$FL_BUNDLE" ] || skip "fuselage-bundle not built"
"$FL_SYSPY" -c 'import venv' 2>/dev/null || skip "$FL_SYSPY has no venv module (python3-venv)"

# --- the app: a venv made inside the fixed path, captured with mksquashfs ---
mkdir src
cat >src/__main__.py <<'PY'
import os, sys
print("prefix=" + sys.prefix)
print("uid=%d" % os.getuid())
for a in sys.argv[1:]:
    print("[" + a + "]")
print(open(os.path.join(os.path.dirname(__file__), "data.txt")).read().strip())
sys.exit(int(os.environ.get("HELLO_EXIT", "0")))
PY
echo "data from the image" >src/data.txt
fl_run --dynamic-empty=/run/fuselage/pyapp -- sh -ec '
	"$1" -m venv --without-pip /run/fuselage/pyapp/.venv
	site=$(/run/fuselage/pyapp/.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()[\"purelib\"])")
	mkdir "$site/hello" && cp src/__main__.py src/data.txt "$site/hello/"
	"$2" /run/fuselage/pyapp app.sfs -noappend -quiet -no-progress >/dev/null' sh "$FL_SYSPY" "$MKSQUASHFS"
assert_ok "venv built in --dynamic-empty=/run/fuselage/pyapp and captured with mksquashfs"

mkdir bin
b_run "$FL_BUNDLE" --archive=app.sfs --output=bin/pyapp -- \
	--static=/run/fuselage/pyapp:/proc/self/exe --run /run/fuselage/pyapp/.venv/bin/python -- -m hello
assert_eq "fuselage-bundle succeeds silently" "0::" "$FL_RC:$FL_OUT:$FL_ERR"
assert_eq "the bundle is mode 0755" "755" "$(stat -c %a bin/pyapp)"
assert_eq "no temporary file left beside the output" "pyapp" "$(ls -A bin)"

# --- layout ---
off=$(b_image_offset bin/pyapp)
size=$(stat -c %s app.sfs)
assert_eq "the image starts at the ELF extent rounded up to 4096" "0" "$((off % 4096))"
assert_eq "the bundle is exactly launcher+args+padding+image" "$((off + size))" "$(stat -c %s bin/pyapp)"
tail -c "$size" bin/pyapp >tail.sfs
assert_true "the image is appended unchanged" cmp -s tail.sfs app.sfs
b_run unsquashfs -o "$off" -l bin/pyapp
assert_match "unsquashfs -o OFFSET reads the image" "squashfs-root/\.venv/pyvenv\.cfg" "$FL_OUT"
fl_run --static=x:bin/pyapp -- sh -c 'ls "$FUSELAGE_STATIC/x/.venv/bin"'
assert_match "fuselage --static=x:BUNDLE serves the image" "^python" "$FL_OUT"

# --- running it: from another directory, arguments verbatim, status ---
nl='
'
me=$(id -u)
b_run env -C / "$T/bin/pyapp" 'a b' '' "it's \"q\"" 'back\slash' "new${nl}line" 'ü名🚀' --help -- -m
assert_eq "runs from / with every argument verbatim" "prefix=/run/fuselage/pyapp/.venv
uid=$me
[a b]
[]
[it's \"q\"]
[back\\slash]
[new
line]
[ü名🚀]
[--help]
[--]
[-m]
data from the image" "$FL_OUT"
assert_eq "and nothing on stderr" "" "$FL_ERR"
HELLO_EXIT=7 b_run bin/pyapp
assert_eq "the exit status of the run is returned" "7" "$FL_RC"

# moved, renamed, through a symlink and a relative path, the image file gone
rm app.sfs tail.sfs
mkdir -p elsewhere/deeper
mv bin/pyapp "elsewhere/deeper/my app"
ln -s "../elsewhere/deeper/my app" bin/link
for how in "$T/elsewhere/deeper/my app" "elsewhere/deeper/my app" "./bin/link" "$T/bin/link"; do
	b_run "$how" moved
	assert_eq "runs as '$how' after a move and a rename" "0 [moved]" "$FL_RC $(printf '%s\n' "$FL_OUT" | sed -n 3p)"
done
(cd elsewhere/deeper && b_run "./my app" rel && printf '%s\n' "$FL_RC $FL_OUT" >"$T/rel.out")
assert_match "runs as ./NAME from its own directory" "^0 prefix=" "$(cat rel.out)"

# --- /proc/self/exe becomes the bundle's real absolute path, everywhere ---
"$MKSQUASHFS" src small.sfs -noappend -quiet -no-progress >/dev/null
b_run "$FL_BUNDLE" --archive=small.sfs --output=self -- \
	--static=/run/fuselage/self:/proc/self/exe -- sh -c 'printf "%s|%s|" "$0" "$1"; cat /run/fuselage/self/data.txt' \
	/proc/self/exe "x/proc/self/exe:/proc/self/exe"
assert_ok "a bundle whose command names /proc/self/exe"
mkdir sub && ln -s ../self sub/lnk
real=$(readlink -f self)
(cd sub && b_run ./lnk && printf '%s' "$FL_OUT" >"$T/self.out")
assert_eq "every /proc/self/exe is the real absolute path, also through a relative symlink" \
	"$real|x$real:$real|data from the image" "$(cat self.out)"

# --- --dynamic=NAME:/proc/self/exe: the bundle's own image, writable ---
b_run "$FL_BUNDLE" --archive=small.sfs --output=dyn -- --dynamic=app:/proc/self/exe -- sh -ec '
	cd "$FUSELAGE_DYNAMIC/app"
	cat data.txt
	echo changed >data.txt && echo new >new.txt
	cat data.txt new.txt'
assert_ok "a bundle with --dynamic=app:/proc/self/exe"
cp dyn dyn.orig
b_run env -C / "$T/dyn"
assert_eq "its image is writable inside the run" "0 data from the image
changed
new" "$FL_RC $FL_OUT"
b_run ./dyn
assert_eq "the changes vanish with the run" "data from the image" "$(printf '%s\n' "$FL_OUT" | head -n 1)"
assert_true "the bundle file itself is never modified" cmp -s dyn dyn.orig

# --- finding fuselage ---
mkdir fbin && ln -s "$FUSELAGE" fbin/fuselage
b_run env -u FUSELAGE PATH="$T/fbin:/usr/bin:/bin" ./self
assert_eq "fuselage found in PATH when \$FUSELAGE is unset" "0 $real|x$real:$real|data from the image" "$FL_RC $FL_OUT"
b_run env FUSELAGE= PATH="/nonexistent:$T/fbin:/usr/bin:/bin" ./self
assert_eq "an empty \$FUSELAGE also means PATH" "0" "$FL_RC"
b_run env -u FUSELAGE PATH=/nonexistent:/usr/bin ./self
assert_eq "no fuselage in PATH: 127" "127" "$FL_RC"
assert_eq "... with one line naming what is missing" \
	"fuselage-launcher: cannot find fuselage: not in PATH (/nonexistent:/usr/bin); install fuselage or set FUSELAGE=/path/to/fuselage" "$FL_ERR"
b_run env FUSELAGE="$T/no/such/fuselage" ./self
assert_eq "a \$FUSELAGE that does not exist: 127 and one line" \
	"127 fuselage-launcher: cannot find fuselage: \$FUSELAGE=$T/no/such/fuselage: No such file or directory" "$FL_RC $FL_ERR"
b_run timeout -k 2 30 env FUSELAGE="$T/self" ./self
assert_eq "\$FUSELAGE naming the bundle itself: 125 and one line, no exec loop" \
	"125 fuselage-launcher: $T/self is this bundle, not fuselage; set FUSELAGE=/path/to/fuselage" "$FL_RC $FL_ERR"
mkdir loopbin && ln -s "$T/self" loopbin/fuselage
b_run timeout -k 2 30 env -u FUSELAGE PATH="$T/loopbin:/usr/bin:/bin" ./self
assert_eq "... the same for a \"fuselage\" in PATH that is the bundle" \
	"125 fuselage-launcher: $T/loopbin/fuselage is this bundle, not fuselage; set FUSELAGE=/path/to/fuselage" "$FL_RC $FL_ERR"
b_run "$FL_BUILDDIR/fuselage-launcher" x
assert_eq "the bare launcher says it is no bundle" \
	"125 fuselage-launcher: no baked arguments (this is the bare launcher; make a bundle with fuselage-bundle)" "$FL_RC $FL_ERR"

# --- refusals, before anything is written ---
printf 'PK\005\006%018d' 0 | tr 0 '\0' >empty.zip
printf 'just text\n' >text
: >nothing
for bad in empty.zip text nothing self "$FL_BUILDDIR/fuselage-launcher"; do
	b_run "$FL_BUNDLE" --archive="$bad" --output=out --build-dir=bd -- --static=a:/proc/self/exe
	assert_tool_error "--archive=$bad is refused" fuselage-bundle "not a squashfs image"
	assert_false "... and neither the output nor the build directory exists" test -e out -o -e bd
done
head -c 200 small.sfs >trunc.sfs
b_run "$FL_BUNDLE" --archive=trunc.sfs --output=out -- -s a:/proc/self/exe
assert_tool_error "a truncated image is refused" fuselage-bundle "truncated squashfs image"
b_run "$FL_BUNDLE" --archive=missing.sfs --output=out -- -s a:/proc/self/exe
assert_tool_error "a missing image" fuselage-bundle "missing.sfs: No such file or directory"
b_run "$FL_BUNDLE" --output=out -- -s a:/proc/self/exe
assert_tool_error "--archive is required" fuselage-bundle "--archive=IMAGE is required"
b_run "$FL_BUNDLE" --archive=small.sfs -- -s a:/proc/self/exe
assert_tool_error "--output is required" fuselage-bundle "--output=FILE is required"
b_run "$FL_BUNDLE" --archive=small.sfs --output=out
assert_tool_error "fuselage arguments are required" fuselage-bundle "no fuselage arguments after --"
b_run "$FL_BUNDLE" --archive=small.sfs --output=out -s a:/proc/self/exe
assert_tool_error "fuselage arguments must follow --" fuselage-bundle "unknown option -s"
b_run "$FL_BUNDLE" --archive=small.sfs --output=out word
assert_tool_error "a stray word" fuselage-bundle "unexpected argument 'word'"
b_run "$FL_BUNDLE" --archive=small.sfs --output=bin -- -s a:/proc/self/exe
assert_tool_error "an output that is a directory" fuselage-bundle "--output=bin: is a directory"
b_run "$FL_BUNDLE" --archive=small.sfs --output=nodir/out -- -s a:/proc/self/exe
assert_tool_error "an output in a missing directory" fuselage-bundle "does not exist"
b_run "$FL_BUNDLE" --archive=small.sfs --build-dir=bd --output=bd/out -- -s a:/proc/self/exe
assert_tool_error "an output inside a build directory that is deleted at the end" fuselage-bundle "lies inside --build-dir=bd"
b_run "$FL_BUNDLE" --archive=small.sfs --build-dir=bd --output=./bd/../bd/x/../out -- -s a:/proc/self/exe
assert_tool_error "... also when spelled differently" fuselage-bundle "lies inside"
ln -s bd bdlink
b_run "$FL_BUNDLE" --archive=small.sfs --build-dir=bd --output=bdlink/out -- -s a:/proc/self/exe
assert_tool_error "... also through a symlink" fuselage-bundle "lies inside"
assert_false "nothing was written by the refusals" test -e out -o -e bd -o -e nodir
b_run "$FL_BUNDLE" --help
assert_match "--help" "^Usage: fuselage-bundle --archive=IMAGE --output=FILE" "$FL_OUT"
b_run "$FL_BUNDLE" --version
assert_match "--version" "^fuselage-bundle [0-9]" "$FL_OUT"

# --- --keep, --build-dir, --exist-ok ---
b_run "$FL_BUNDLE" --archive=small.sfs --keep --build-dir=bd --output=bd/out -- -s 'a:/proc/self/exe' "two${nl}lines" 'b\s'
assert_eq "--keep keeps the build directory (and so an output inside it is fine)" \
	"0 fuselage-bundle: kept the build directory $T/bd" "$FL_RC $FL_ERR"
assert_eq "the staged parts" "args.bin args.txt launcher layout.txt out" "$(ls bd | tr '\n' ' ' | sed 's/ $//')"
assert_eq "args.txt shows one argument a line, escaped" '-s
a:/proc/self/exe
two\x0alines
b\\s' "$(cat bd/args.txt)"
assert_true "the staged launcher is the installed stub" cmp -s bd/launcher "$FL_BUILDDIR/fuselage-launcher"
assert_eq "layout.txt puts the image at the rule's offset" "$(b_image_offset bd/out) $(stat -c %s small.sfs)" \
	"$(awk '$1 == "image" { print $2, $3 }' bd/layout.txt)"
b_run "$FL_BUNDLE" --archive=small.sfs --build-dir=bd --output=out2 -- -s a:/proc/self/exe
assert_tool_error "an existing --build-dir is refused" fuselage-bundle "already exists \(add --exist-ok"
b_run "$FL_BUNDLE" --archive=small.sfs --archive=other.sfs --output=out3 -- -s a:/proc/self/exe
assert_tool_error "--archive twice is refused" fuselage-bundle "--archive given twice"
b_run "$FL_BUNDLE" --archive=small.sfs --exist-ok --output=out3 -- -s a:/proc/self/exe
assert_tool_error "--exist-ok without --build-dir is refused" fuselage-bundle "--exist-ok is about --build-dir"
assert_false "... and nothing was written" test -e out3
echo mine >bd/mine
b_run "$FL_BUNDLE" --archive=small.sfs --build-dir=bd --exist-ok --output=bd/out -- -s b:/proc/self/exe
assert_eq "--exist-ok reuses it; only our parts are removed" "0|mine out" "$FL_RC|$(ls bd | tr '\n' ' ' | sed 's/ $//')"
b_run "$FL_BUNDLE" --archive=small.sfs --build-dir=newbd --output=out -- -s b:/proc/self/exe
assert_false "a --build-dir we made is removed without --keep" test -e newbd

# --- atomic replacement, mode 0755 whatever the umask ---
cp self replaced && chmod 0600 replaced
exec 7<replaced
(umask 077 && "$FL_BUNDLE" --archive=small.sfs --output=replaced -- -s /run/fuselage/r:/proc/self/exe -- cat /run/fuselage/r/data.txt)
assert_eq "the output replaces the old file, mode 0755 under umask 077" "755" "$(stat -c %a replaced)"
assert_true "a reader of the old file still reads the old file (rename, not rewrite)" cmp -s /dev/fd/7 self
exec 7<&-
b_run ./replaced
assert_eq "the replaced bundle runs" "0 data from the image" "$FL_RC $FL_OUT"
assert_eq "no temporary files" "" "$(ls -A | grep '^\.' | grep -v '^\.fl-' || true)"

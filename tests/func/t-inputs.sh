#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §4 inputs beyond plain zip and squashfs: an AppImage-layout ELF with an
# appended squashfs, a python zipapp imported from, a JAR behind a shell
# launcher, an empty zip, base64 text (a self-running herescript with `#:`
# lines, CRLF, one long line, an ELF inside), and the one-line errors for
# bad base64 and ELF files without an image.  Then a proof that decoded
# base64 never reaches a disk: the server holds it in a memfd, holds no disk
# file open, and no file with its content appears anywhere writable.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need zip unzip python3 base64
need_mksquashfs

# a small tree: hello.txt, bin/prog (prints its argv)
mkdir -p tree/bin
printf 'hello from the tree\n' >tree/hello.txt
printf '#!/bin/sh\necho "prog: $*"\n' >tree/bin/prog
chmod 0755 tree/bin/prog
(cd tree && zip -q -r -y ../tree.zip .)
fx_sqfs tree tree.sqfs gzip

# --- ELF + appended squashfs (AppImage type 2 layout) ---
cp /bin/true app.AppImage
truncate -s %4096 app.AppImage
elf_end=$(stat -c %s app.AppImage)
cat tree.sqfs >>app.AppImage
assert_true "the AppImage-layout file still runs as the ELF it is" ./app.AppImage
fl_run -s x:app.AppImage sh -c 'cat "$FUSELAGE_STATIC/x/hello.txt"'
assert_ok "ELF + squashfs: served"
assert_eq "ELF + squashfs: content" "hello from the tree" "$FL_OUT"
fl_run -v -s x:app.AppImage --run x/bin/prog a 'b c'
assert_eq "ELF + squashfs: --run" "prog: a b c" "$FL_OUT"
assert_match "ELF + squashfs: -v says squashfs" "serving .*app.AppImage \(squashfs\)" "$FL_ERR"
# the image starts exactly at the padded end of /bin/true
assert_eq "the image is at the 4096-aligned end of the ELF" "hsqs" \
	"$(tail -c +$((elf_end + 1)) app.AppImage | head -c 4)"

# --- a zipapp with a #! line, imported from ---
mkdir -p pyapp
printf 'VALUE = "imported from the zipapp"\n' >pyapp/mymod.py
printf 'import mymod\nprint(mymod.VALUE)\n' >pyapp/__main__.py
python3 -m zipapp pyapp -p '/usr/bin/env python3' -o app.pyz
assert_eq "the .pyz starts with its #! line" "#!/usr/bin/env python3" "$(head -n 1 app.pyz)"
fl_run -s x:app.pyz sh -c 'PYTHONPATH="$FUSELAGE_STATIC/x" python3 -c "import mymod; print(mymod.VALUE); print(mymod.__file__)"'
assert_ok "zipapp: served"
assert_eq "zipapp: a module imported from the mount" "imported from the zipapp" "$(sed -n 1p <<<"$FL_OUT")"
assert_match "zipapp: ... from inside the mount" "/static/x/mymod\.py$" "$(sed -n 2p <<<"$FL_OUT")"

# --- a JAR behind a shell launcher ---
jar=$(ls /usr/share/java/commons-cli-*.jar 2>/dev/null | head -n 1)
if [ -z "$jar" ]; then
	[ "$FL_TEST_STRICT" = 1 ] && fl_fail "no /usr/share/java/commons-cli-*.jar (Debian: libcommons-cli-java)"
	note "no commons-cli JAR: a zip of the tree stands in for it"
	jar=tree.zip
fi
printf '#!/bin/sh\nexec java -jar "$0" "$@"\n' >launcher.sh
cat launcher.sh "$jar" >cli-launcher
chmod +x cli-launcher
fl_run -s cli:cli-launcher sh -c 'cd "$FUSELAGE_STATIC/cli" && find . -type f | sed "s|^\./||" | LC_ALL=C sort'
assert_ok "JAR behind a launcher: served"
assert_text_eq "JAR behind a launcher: every file" "$(unzip -Z1 "$jar" | grep -v '/$' | LC_ALL=C sort)" "$FL_OUT"
f=$(unzip -Z1 "$jar" | grep -v '/$' | tail -n 1)
unzip -p "$jar" "$f" >expected.member
timeout 30 "$FUSELAGE" -s cli:cli-launcher sh -c 'cat "$FUSELAGE_STATIC/cli/$1"' sh "$f" >got.member
assert_files_eq "JAR behind a launcher: $f equals unzip -p" expected.member got.member

# --- an empty zip, plain and in base64 ---
python3 -c 'import zipfile; zipfile.ZipFile("empty.zip", "w").close()'
base64 empty.zip >empty.b64
for f in empty.zip empty.b64; do
	fl_run -s "e:$f" sh -c 'ls -A "$FUSELAGE_STATIC/e" | wc -l'
	assert_ok "$f: served"
	assert_eq "$f: an empty directory" "0" "$FL_OUT"
done

# --- base64 ---
# a herescript: runs itself through fuselage, its zip after '#:' lines
{
	printf '%s\n' "#!/usr/bin/env -S sh -c 'exec \"\$FUSELAGE\" -s \"app:\$0\" --run app/bin/prog -- \"\$@\"'"
	printf '#: a fuselage herescript: the zip below is base64;\n#: lines starting with # are skipped\n'
	base64 -w 64 tree.zip
	printf '#: end of the payload\n'
} >herescript
chmod +x herescript
timeout 30 ./herescript one 'two three' >here.out 2>here.err
assert_status "the herescript runs itself" 0 "$?" "$(cat here.err)"
assert_eq "the herescript runs bin/prog from its own zip" "prog: one two three" "$(cat here.out)"
fl_run -s app:herescript --run app/bin/prog -- x
assert_eq "the herescript as -s app:FILE with --run" "prog: x" "$FL_OUT"
# CRLF line ends and trailing blanks; one long line; an ELF in base64
base64 tree.zip | sed 's/$/ \r/' >crlf.b64
assert_match "crlf.b64 has CRLF line ends" $'\r$' "$(head -n 1 crlf.b64)"
base64 -w 0 tree.sqfs >oneline.b64
{ printf '# an AppImage, base64\n'; base64 -w 76 app.AppImage; } >appimage.b64
for f in crlf.b64 oneline.b64 appimage.b64; do
	fl_run -s "b:$f" sh -c 'cat "$FUSELAGE_STATIC/b/hello.txt"; "$FUSELAGE_STATIC/b/bin/prog" ok'
	assert_ok "$f: served"
	assert_eq "$f: content and a program" "hello from the tree
prog: ok" "$FL_OUT"
done

# --- errors: one line, 125, the command never runs ---
base64 tree.zip | sed '3s/^./!/' >bad.b64
fl_run -s x:bad.b64 echo ran
assert_fl_error "a bad character" "^fuselage: bad\.b64: invalid base64 on line 3: bad character '!'$"
base64 -w 0 tree.zip | head -c -2 >cut.b64
fl_run -s x:cut.b64 echo ran
assert_fl_error "truncated base64" "cut\.b64: truncated base64: [0-9]+ characters, not a multiple of 4"
{ base64 tree.zip | head -n 2; echo 'YQ=='; echo 'YWJj'; } >pad.b64
fl_run -s x:pad.b64 echo ran
assert_fl_error "data after the padding" "pad\.b64: invalid base64 on line 4: data after the '=' padding$"
printf 'this is just some text\nover two lines\n' | base64 >text.b64
fl_run -s x:text.b64 echo ran
assert_fl_error "base64 of something else" "text\.b64: base64 text that decodes to something that is not an archive$"
base64 crlf.b64 >twice.b64
fl_run -s x:twice.b64 echo ran
assert_fl_error "base64 of base64" "twice\.b64: base64 text that decodes to base64 text again \(only one level of base64 is decoded\)$"
cp /bin/true plain-elf
fl_run -s x:plain-elf echo ran
assert_fl_error "an ELF without an image" "plain-elf: ELF file with no squashfs image at offset $elf_end$"
head -c 40 /bin/true >short-elf
fl_run -s x:short-elf echo ran
assert_fl_error "a truncated ELF header" "short-elf: truncated ELF header$"
printf 'hello world\n' >plain.txt
fl_run -s x:plain.txt echo ran
assert_fl_error "an unrecognised file names what was tried" "plain\.txt: not a recognised archive \(tried: squashfs, zip and ELF signatures at the start, a zip end record at the end, base64 text\)$"

# --- decoded bytes never reach a disk ---
export TMPDIR=${TMPDIR:-$FL_TEST_TMP}
tmpbase=$(dirname "$FL_TEST_TMP")
# A stored zip holding a random marker; once base64-encoded, the build files
# are removed, so the marker exists on disk nowhere (its base64 form differs).
marker="fuselage-marker-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p build/m
printf '%s\n' "$marker" >build/m/marker.txt
(cd build/m && zip -q -0 ../m.zip marker.txt)
{ printf '#!/bin/sh\n#: the marker zip\n'; base64 build/m.zip; } >marker.b64
# where a leaked copy could go: entries owned by UID (the server's), under
# $HOME (fuselage's own home excluded: its procdirs hold the mounts), /tmp,
# /var/tmp and $TMPDIR, except SKIP (this scenario's own files) and the
# temp dirs of concurrent scenarios (driver.sh: TMPBASE/fl-func.*, run by the
# same test user).  Run before, during (by the command, once the archive is
# decoded and served) and after.
# listing UID SKIP TMPBASE
listing()
{
	{
		find "$HOME" -xdev -path "$HOME/.fuselage" -prune -o -user "$1" -print
		find /tmp /var/tmp -xdev -path "$TMPDIR" -prune -o -path "$3/fl-func.*" -prune \
			-o -user "$1" -print
		find "$TMPDIR" -xdev -path "$2" -prune -o -user "$1" -print
	} 2>/dev/null | LC_ALL=C sort
}
# marker_files MARKER UID DIR...: regular files owned by UID holding MARKER
marker_files()
{
	local m=$1 u=$2
	shift 2
	find "$@" -xdev -path "$HOME/.fuselage" -prune -o -type f -user "$u" -print0 2>/dev/null |
		xargs -0 -r grep -lF -- "$m" 2>/dev/null
}
assert_match "control: the marker search finds a plain copy" "build/m/marker\.txt" "$(marker_files "$marker" "$(id -u)" "$T/build")"
rm -rf build
server_uid=$(id -u)
[ "$FL_MODE" = root ] && server_uid=65534 # the server runs as nobody in root mode
listing "$server_uid" "$T" "$tmpbase" >list.before
# the command: the marker served (compared, never printed: stdout is
# captured to a file), the server's uid and descriptors, then the listing
# and the marker search while the decoded archive is being served
probe="$(declare -f listing marker_files)
$FL_FIND_PIDS"'
read s k srv < "$1"
grep -qxF -- "$2" "$FUSELAGE_STATIC/m/marker.txt" && echo "marker served"
echo "uid $(awk "/^Uid:/ { print \$2 }" /proc/$srv/status)"
for f in /proc/$srv/fd/*; do echo "fd $(readlink "$f")"; done
listing "$3" "$4" "$5" > "$FUSELAGE_TMPDIR/during"
LC_ALL=C comm -13 "$4/list.before" "$FUSELAGE_TMPDIR/during" | sed "s/^/new /"
marker_files "$2" "$3" "$HOME" /tmp /var/tmp "$TMPDIR" | sed "s/^/leak /"'
fl_run -s m:marker.b64 bash -c "$probe" bash "$T/pids" "$marker" "$server_uid" "$T" "$tmpbase"
assert_ok "the marker zip in base64 is served"
assert_eq "the marker is read from the mount" "marker served" "$(grep '^marker served$' <<<"$FL_OUT")"
assert_eq "the server runs as uid $server_uid" "uid $server_uid" "$(grep '^uid ' <<<"$FL_OUT")"
fds=$(grep '^fd ' <<<"$FL_OUT")
if [ "$FL_MODE" = setuid ] && ! grep -q '^fd /' <<<"$fds"; then
	# a process that changed credentials is not dumpable: /proc/PID/fd is
	# root's; the listing and content checks still apply
	note "setuid mode: the server's /proc/PID/fd is not readable by the caller"
else
	assert_match "the server holds the decoded bytes in a memfd" "^fd /memfd:fuselage-b64 \(deleted\)$" "$fds"
	assert_eq "the server holds no file of any filesystem open (only /dev, pipes, sockets, anon inodes, the memfd)" "" \
		"$(grep -v -E '^fd (/dev/|pipe:|socket:|anon_inode:|/memfd:fuselage-b64 \(deleted\)$)' <<<"$fds")"
fi
assert_eq "during the run: no new file owned by the server under \$HOME, /tmp, /var/tmp, \$TMPDIR" "" \
	"$(grep '^new ' <<<"$FL_OUT")"
assert_eq "during the run: the marker is in no file of the server's under \$HOME, /tmp, /var/tmp, \$TMPDIR" "" \
	"$(grep '^leak ' <<<"$FL_OUT")"
listing "$server_uid" "$T" "$tmpbase" >list.after
assert_eq "after the run: no new file owned by the server" "" "$(LC_ALL=C comm -13 list.before list.after)"
assert_eq "after the run: the marker is in no file of the server's" "" "$(marker_files "$marker" "$server_uid" "$HOME" /tmp /var/tmp "$TMPDIR")"

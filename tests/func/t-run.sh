#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §2.3: --run PATH — NAME/rest, search in every archive, ambiguity,
# not found, not executable, directory, absolute paths, argv.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init

mkdir -p app/bin app/data other/bin tools/bin tools/app/bin
printf '#!/bin/sh\nprintf "argv0=%%s\\n" "$0"\nfor a in "$@"; do printf "arg=%%s\\n" "$a"; done\n' >app/bin/server
printf '#!/bin/sh\necho other-server\n' >other/bin/server
printf '#!/bin/sh\necho tool\n' >tools/bin/tool
printf '#!/bin/sh\necho tools-app-bin-x\n' >tools/app/bin/x
printf 'data\n' >app/data/plain
printf '#!/bin/sh\necho no-x\n' >app/bin/noexec
chmod 0755 app/bin/server other/bin/server tools/bin/tool tools/app/bin/x
chmod 0644 app/bin/noexec app/data/plain
fx_zip app app.zip
fx_zip other other.zip
fx_zip tools tools.zip

# NAME/rest
fl_run -s app.zip --run app/bin/server one 'two words' -x
assert_ok "--run NAME/rest"
S=$(sed -n 's/^argv0=//p' <<<"$FL_OUT")
assert_match "argv[0] is the resolved absolute path" '^/.*/procdirs/[0-9]+/static/app/bin/server$' "$S"
assert_eq "the words after PATH are passed" "arg=one
arg=two words
arg=-x" "$(grep '^arg=' <<<"$FL_OUT")"
fl_run -s app.zip --run app/bin/server -- -v --help
assert_eq "words after '--' are passed, option-like ones too" "arg=-v
arg=--help" "$(grep '^arg=' <<<"$FL_OUT")"
# "Every word after PATH (after an optional --) is passed to the program"
fl_run -s app.zip --run app/bin/server -v --static=x
assert_eq "option-like words right after PATH are the program's" "arg=-v
arg=--static=x" "$(grep '^arg=' <<<"$FL_OUT")"
fl_run -s app.zip --run app/bin/server
assert_eq "no words: only argv[0]" "" "$(grep '^arg=' <<<"$FL_OUT")"

# PATH looked up inside every archive root
fl_run -s app.zip -s tools.zip --run bin/tool
assert_ok "--run PATH found inside one archive's root"
assert_eq "... runs it" "tool" "$FL_OUT"
# ambiguous: bin/server in app and other
fl_run -s app.zip -s other.zip --run bin/server
assert_fl_error "ambiguous PATH" "ambiguous"
assert_match "the ambiguity error lists both archives" "app.*other|other.*app" "$FL_ERR"
# NAME/rest wins over nothing else: app/bin/x exists only as tools/app/bin/x
fl_run -s app.zip -s tools.zip --run app/bin/x
assert_ok "app/bin/x: found inside tools' root (the app archive has no bin/x)"
assert_eq "... runs tools/app/bin/x" "tools-app-bin-x" "$FL_OUT"
fl_run -s app.zip -s other.zip --run other/bin/server
assert_eq "NAME/rest picks that archive" "other-server" "$FL_OUT"

# not found: lists where it looked
fl_run -s app.zip -s tools.zip --run bin/nothere
assert_fl_error "not found" "not found"
assert_match "not found lists where it looked (app)" "static/app/bin/nothere" "$FL_ERR"
assert_match "not found lists where it looked (tools)" "static/tools/bin/nothere" "$FL_ERR"
fl_run -s app.zip --run nosuch/bin/x
assert_fl_error "not found with an unknown NAME" "not found"

# not executable, directory
fl_run -s app.zip --run app/bin/noexec
assert_fl_error "a file without x permission" "not executable|[Pp]ermission"
fl_run -s app.zip --run app/data/plain
assert_fl_error "a data file" "not executable|[Pp]ermission"
fl_run -s app.zip --run app/bin
assert_fl_error "a directory" "not a regular file|directory"
fl_run -s app.zip --run app
assert_fl_error "the archive root alone is not a program" "not found|not a regular file|directory"
fl_run -s app.zip --run app/../app/bin/server
assert_fl_error "'..' in a relative PATH" "\.\."

# absolute paths: inside a served archive only
fl_run -s app.zip --run /bin/sh -- -c 'echo ran'
assert_fl_error "absolute PATH outside the archives" "absolute|inside"
fl_run -s app.zip --run /usr/bin/env true
assert_fl_error "absolute PATH to a real system binary" "absolute|inside"
# inside $FUSELAGE_STATIC: the procdir is named after fuselage's pid, which is
# the pid of a shell that execs it
home=${FUSELAGE_HOME:-$HOME/.fuselage}
[ "$FL_MODE" = setuid ] && home=$(fl_pw_home)/.fuselage
fl_run sh -c 'exec "$FUSELAGE" -s "$1" --run "$2/procdirs/$$/static/app/bin/server" hi' sh "$T/app.zip" "$home"
assert_ok "absolute PATH inside \$FUSELAGE_STATIC is accepted"
assert_match "... and runs with argv[0] = that path" "^argv0=$home/procdirs/[0-9]+/static/app/bin/server" "$FL_OUT"
fl_run sh -c 'exec "$FUSELAGE" -s "$1" --run "$2/procdirs/$$/static/app/../app/bin/server"' sh "$T/app.zip" "$home"
assert_fl_error "absolute PATH with '..' is refused" "absolute|inside|\.\."
fl_run sh -c 'exec "$FUSELAGE" -s "$1" --run "$2/procdirs/$$/tmp/x"' sh "$T/app.zip" "$home"
assert_fl_error "absolute PATH in the scratch dir is refused" "absolute|inside"
# inside a fixed path
if [ -d /run/fuselage ]; then
	fl_run -s /run/fuselage/fxapp:app.zip --run /run/fuselage/fxapp/bin/server z
	assert_ok "absolute PATH inside a fixed path"
	assert_eq "... argv" "argv0=/run/fuselage/fxapp/bin/server
arg=z" "$FL_OUT"
	fl_run -s /run/fuselage/fxapp:app.zip --run fxapp/bin/server
	assert_eq "NAME/rest with a fixed-path archive" "argv0=/run/fuselage/fxapp/bin/server" "$FL_OUT"
	fl_run -s /run/fuselage/fxapp:app.zip --run /run/fuselage/fxapp/../fxapp/bin/server
	assert_fl_error "fixed path with '..' refused" "absolute|inside|\.\."
	fl_run -s /run/fuselage/fxapp:app.zip --run /run/fuselage/other/bin/server
	assert_fl_error "another fixed path refused" "absolute|inside"
else
	skip "/run/fuselage does not exist (mkdir -m 0755 /run/fuselage as root)"
fi

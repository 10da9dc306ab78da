#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §2: the command line — --opt=V and --opt V, short options, "--",
# options after the command belong to it, unknown options, help, version.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init

fx_small a.zip hello-a
fx_small b.zip hello-b

# --help / -h / --version / -V
fl_run --help
assert_status "--help exits 0" 0 "$FL_RC"
assert_match "--help prints the usage on stdout" '^Usage:' "$FL_OUT"
assert_match "--help names --static" '--static' "$FL_OUT"
assert_eq "--help prints nothing on stderr" "" "$FL_ERR"
fl_run -h
assert_status "-h exits 0" 0 "$FL_RC"
assert_match "-h prints the usage" '^Usage:' "$FL_OUT"
fl_run --version
assert_status "--version exits 0" 0 "$FL_RC"
assert_match "--version prints 'fuselage VERSION'" '^fuselage [0-9]+\.[0-9]+' "$FL_OUT"
fl_run -V
assert_match "-V prints the version" '^fuselage [0-9]' "$FL_OUT"

# every spelling of an option with a value
for spelling in "--static=a.zip" "--static a.zip" "-s a.zip" "-sa.zip"; do
	# shellcheck disable=SC2086 # word splitting wanted
	fl_run $spelling sh -c 'cat "$FUSELAGE_STATIC/a/hello.txt"'
	assert_ok "$spelling works"
	assert_eq "$spelling serves the archive" "hello-a" "$FL_OUT"
done
fl_run --static=x:a.zip --static y:b.zip sh -c 'cat "$FUSELAGE_STATIC/x/hello.txt" "$FUSELAGE_STATIC/y/hello.txt"'
assert_eq "--static=N:F and --static N:F together" "hello-a
hello-b" "$FL_OUT"
fl_run --dynamic-empty=w1 --dynamic-empty w2 sh -c 'ls "$FUSELAGE_DYNAMIC"; touch "$FUSELAGE_DYNAMIC/w1/f" && echo written'
assert_eq "--dynamic-empty=N and --dynamic-empty N" "w1
w2
written" "$FL_OUT"
fl_run -s a.zip --run=a/bin/prog
assert_ok "--run=PATH works"
assert_match "--run=PATH runs the program" 'argv0=.*/a/bin/prog' "$FL_OUT"
fl_run -s a.zip --run a/bin/prog
assert_match "--run PATH runs the program" 'argv0=.*/a/bin/prog' "$FL_OUT"
fl_run -v -s a.zip true
assert_ok "-v works"
assert_match "-v says which mode" 'mode' "$FL_ERR"
fl_run --verbose true
assert_match "--verbose says which mode" 'mode' "$FL_ERR"
fl_run true
assert_eq "without -v fuselage prints nothing" "" "$FL_ERR"

# the first non-option starts the command; later words are the command's
fl_run -s a.zip printf '%s|' -s --static=zzz -v --help --bogus -- x
assert_ok "options after the command are not fuselage's"
assert_eq "every word after the command reaches it" "-s|--static=zzz|-v|--help|--bogus|--|x|" "$FL_OUT"
assert_eq "fuselage did not take -v after the command" "" "$FL_ERR"
fl_run -- printf '%s|' a -v
assert_eq "'--' then the command" "a|-v|" "$FL_OUT"
fl_run -s a.zip -- sh -c 'echo "$0 $1"' -s x
assert_eq "'--' then a command with option-like words" "-s x" "$FL_OUT"
fl_run -- -s a.zip true
assert_status "after '--' even '-s' is the command (not found)" 127 "$FL_RC" "$FL_ERR"
fl_run -s a.zip -- -- true
assert_status "a second '--' is the command (not found)" 127 "$FL_RC" "$FL_ERR"

# fuselage's own failures: 125 and one line, the command never runs
fl_run --bogus echo ran
assert_fl_error "unknown long option" "bogus"
fl_run -Q echo ran
assert_fl_error "unknown short option" "Q"
fl_run --static
assert_fl_error "--static without its value" "static"
fl_run -s
assert_fl_error "-s without its value" "requires an argument|-s"
fl_run --static= echo ran
assert_fl_error "--static with an empty value" "static"
fl_run
assert_fl_error "no command" "command"
fl_run -s a.zip
assert_fl_error "archives but no command" "command"
fl_run --run bin/prog
assert_fl_error "--run without an archive option" "--run"
fl_run --map-root=yes true
assert_fl_error "--map-root takes no value" "map-root"
fl_run --no-such-option=1 echo ran
assert_fl_error "unknown long option with a value" "no-such-option"

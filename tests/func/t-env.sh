#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §2.2: the command's environment — FUSELAGE_TMPDIR always, STATIC and
# DYNAMIC only when used (inherited values removed), nothing else changes,
# a nested fuselage sees only its own values.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init

fx_small a.zip
# TMPDIR is one of the variables the loader strips from setuid programs:
# t-env-loader.sh covers those on their own.
unset TMPDIR
show='for v in FUSELAGE_TMPDIR FUSELAGE_STATIC FUSELAGE_DYNAMIC; do
	if [ "${!v+set}" = set ]; then echo "$v=${!v}"; else echo "$v unset"; fi
done'

# no archive options, inherited values present
FUSELAGE_STATIC=/bogus/s FUSELAGE_DYNAMIC=/bogus/d FUSELAGE_TMPDIR=/bogus/t fl_run bash -c "$show"
assert_ok "no archive options"
assert_match "FUSELAGE_TMPDIR is set to the run's scratch dir" '^FUSELAGE_TMPDIR=/.*/procdirs/[0-9]+/tmp$' "$(sed -n 1p <<<"$FL_OUT")"
assert_eq "inherited FUSELAGE_STATIC is removed" "FUSELAGE_STATIC unset" "$(sed -n 2p <<<"$FL_OUT")"
assert_eq "inherited FUSELAGE_DYNAMIC is removed" "FUSELAGE_DYNAMIC unset" "$(sed -n 3p <<<"$FL_OUT")"

# the scratch dir: a private, empty, writable directory
fl_run sh -c 'cd "$FUSELAGE_TMPDIR" && ls -A | wc -l && echo data > f && cat f && stat -c %a .'
assert_eq "FUSELAGE_TMPDIR is empty, writable, mode 700" "0
data
700" "$FL_OUT"

# --static only
FUSELAGE_DYNAMIC=/bogus/d fl_run -s a.zip bash -c "$show"
assert_match "with --static: FUSELAGE_STATIC set" '^FUSELAGE_STATIC=/.*/procdirs/[0-9]+/static$' "$(sed -n 2p <<<"$FL_OUT")"
assert_eq "with --static only: inherited FUSELAGE_DYNAMIC removed" "FUSELAGE_DYNAMIC unset" "$(sed -n 3p <<<"$FL_OUT")"
# --dynamic-empty only
FUSELAGE_STATIC=/bogus/s fl_run --dynamic-empty=w bash -c "$show"
assert_eq "with --dynamic-empty only: inherited FUSELAGE_STATIC removed" "FUSELAGE_STATIC unset" "$(sed -n 2p <<<"$FL_OUT")"
assert_match "with --dynamic-empty: FUSELAGE_DYNAMIC set" '^FUSELAGE_DYNAMIC=/.*/procdirs/[0-9]+/dynamic$' "$(sed -n 3p <<<"$FL_OUT")"
# both
fl_run -s a.zip --dynamic-empty=w bash -c "$show"
assert_eq "with both: all three set" "3" "$(grep -c '=' <<<"$FL_OUT")"

# nothing else changes (including odd values); fuselage's own variables and
# bash's "_" aside
export FL_ODD_NEWLINE=$'line1\nline2' FL_ODD_EMPTY= FL_ODD_EQ='a=b=c' FL_ODD_UTF8='ü名🚀'
export LANG=C.UTF-8 TZ=Europe/Paris FL_PATHLIKE=/x:/y
env -0 | grep -zv -e '^_=' -e '^FUSELAGE_' | sort -z | tr '\0' '\n' >outside.env
fl_run sh -c 'env -0 | grep -zv -e "^_=" -e "^FUSELAGE_" | sort -z | tr "\0" "\n"'
printf '%s\n' "$FL_OUT" >inside.env
assert_files_eq "the environment is passed unchanged" outside.env inside.env
fl_run -s a.zip --dynamic-empty=w sh -c 'env -0 | grep -zv -e "^_=" -e "^FUSELAGE_" | sort -z | tr "\0" "\n"'
printf '%s\n' "$FL_OUT" >inside2.env
assert_files_eq "the environment is passed unchanged (with archives)" outside.env inside2.env
# an unset variable stays unset
fl_run sh -c 'echo "${FL_NEVER_SET-unset}"'
assert_eq "an unset variable stays unset" "unset" "$FL_OUT"

# nested fuselage: sees none of the parent's values, gets its own
fl_run -s a.zip --dynamic-empty=w bash -c '
outer_tmp=$FUSELAGE_TMPDIR
"$FUSELAGE" bash -c '"'$show'"'
echo "outer=$outer_tmp"
echo "outer still=$FUSELAGE_STATIC"'
assert_ok "nested fuselage runs"
inner_tmp=$(sed -n 's/^FUSELAGE_TMPDIR=//p' <<<"$FL_OUT")
outer_tmp=$(sed -n 's/^outer=//p' <<<"$FL_OUT")
assert_match "nested: its own FUSELAGE_TMPDIR" '/procdirs/[0-9]+/tmp$' "$inner_tmp"
assert_ne "nested: FUSELAGE_TMPDIR differs from the parent's" "$outer_tmp" "$inner_tmp"
assert_match "nested: the parent's FUSELAGE_STATIC removed" 'FUSELAGE_STATIC unset' "$FL_OUT"
assert_match "nested: the parent's FUSELAGE_DYNAMIC removed" 'FUSELAGE_DYNAMIC unset' "$FL_OUT"
assert_match "nested: the parent's mount still there after the inner run" 'outer still=/.*/static' "$FL_OUT"
# nested with its own archive
fx_small b.zip inner-hello
fl_run -s a.zip bash -c '"$FUSELAGE" -s "$1" sh -c "ls \$FUSELAGE_STATIC; cat \$FUSELAGE_STATIC/b/hello.txt"' sh "$T/b.zip"
assert_ok "nested fuselage with its own archive"
assert_eq "nested run sees only its own archive" "b
inner-hello" "$FL_OUT"

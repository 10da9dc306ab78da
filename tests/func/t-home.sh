#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §3: $FUSELAGE_HOME — default ~/.fuselage, override (not in setuid mode:
# there it always comes from the password database), created 0700, refused
# when it (or procdirs) is a symlink or not owned by the caller.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init

fx_small a.zip
tmpdir_of() { fl_run sh -c 'echo "$FUSELAGE_TMPDIR"'; printf '%s' "$FL_OUT"; }
pw_home=$(fl_pw_home)

if [ "$FL_MODE" = setuid ]; then
	# everything the caller says is ignored: the password database decides
	unset FUSELAGE_HOME
	assert_match "setuid: default under the passwd home" "^$pw_home/\.fuselage/procdirs/[0-9]+/tmp$" "$(tmpdir_of)"
	FUSELAGE_HOME=$T/h1 assert_match "setuid: \$FUSELAGE_HOME is ignored" "^$pw_home/\.fuselage/procdirs/[0-9]+/tmp$" "$(FUSELAGE_HOME=$T/h1 tmpdir_of)"
	assert_false "setuid: \$FUSELAGE_HOME was not created" test -e "$T/h1"
	assert_match "setuid: \$HOME is ignored" "^$pw_home/\.fuselage/" "$(HOME=$T tmpdir_of)"
	assert_false "setuid: \$HOME/.fuselage was not created" test -e "$T/.fuselage"
	assert_eq "setuid: the home is mode 0700, the caller's" "700 $(id -u)" "$(stat -c '%a %u' "$pw_home/.fuselage")"
	note "setuid mode: the symlink / foreign-owner refusals are tested in root and user mode only (here the home comes from the password database and the test user's real home is shared with parallel scenarios)"
	exit 0
fi

unset FUSELAGE_HOME
assert_match "default: \$HOME/.fuselage" "^$HOME/\.fuselage/procdirs/[0-9]+/tmp$" "$(tmpdir_of)"
mkdir fakehome
assert_match "default follows \$HOME" "^$T/fakehome/\.fuselage/procdirs/[0-9]+/tmp$" "$(HOME=$T/fakehome tmpdir_of)"
assert_eq "created with mode 0700" "700" "$(stat -c %a fakehome/.fuselage)"
assert_match "an empty \$FUSELAGE_HOME means the default" "^$T/fakehome/\.fuselage/" "$(HOME=$T/fakehome FUSELAGE_HOME= tmpdir_of)"

export FUSELAGE_HOME=$T/h1
assert_match "override: \$FUSELAGE_HOME" "^$T/h1/procdirs/[0-9]+/tmp$" "$(tmpdir_of)"
assert_eq "override: created 0700, owned by the caller" "700 $(id -u)" "$(stat -c '%a %u' "$T/h1")"
assert_eq "override: procdirs is empty on the host" "" "$(fl_procdirs_left "$T/h1")"
FUSELAGE_HOME=relhome assert_match "a relative \$FUSELAGE_HOME is taken from the cwd" "^$T/relhome/procdirs/" "$(FUSELAGE_HOME=relhome tmpdir_of)"

# refused: a symlink
mkdir -p real
ln -s real linkhome
FUSELAGE_HOME=$T/linkhome fl_run -s a.zip echo ran
assert_fl_error "\$FUSELAGE_HOME that is a symlink is refused" "symlink"
mkdir -p h2 elsewhere
chmod 0700 h2
ln -s ../elsewhere h2/procdirs
FUSELAGE_HOME=$T/h2 fl_run echo ran
assert_fl_error "\$FUSELAGE_HOME/procdirs that is a symlink is refused" "procdirs.*symlink|symlink"
printf 'x' >notadir
FUSELAGE_HOME=$T/notadir fl_run echo ran
assert_fl_error "\$FUSELAGE_HOME that is a file is refused" "notadir"

# refused: not owned by the caller
if [ "$(id -u)" = 0 ]; then
	mkdir -p foreign
	chown 65534:65534 foreign
	chmod 0777 foreign
	FUSELAGE_HOME=$T/foreign fl_run echo ran
	assert_fl_error "root: a \$FUSELAGE_HOME owned by someone else is refused" "not owned"
else
	FUSELAGE_HOME=/tmp fl_run echo ran
	assert_fl_error "a \$FUSELAGE_HOME owned by root (/tmp) is refused" "not owned"
	FUSELAGE_HOME=/tmp fl_run --map-root echo ran
	assert_fl_error "... also with --map-root" "not owned"
fi

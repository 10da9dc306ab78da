#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §2.4/§8 (deny): namespaces unavailable -> 125 and a diagnostic that
# says why.  Made real with the per-user-namespace limits: inside a user
# namespace we own, /proc/sys/user/max_user_namespaces or max_mnt_namespaces
# is set to 0 (needs CAP_SYS_RESOURCE there: unshare --keep-caps or
# --map-root-user) and fuselage is run inside it:
#   user mode: --map-current-user, max_user_namespaces=0 -> no user namespace;
#              max_mnt_namespaces=0 -> no mount namespace either
#   root mode: --map-root-user, max_mnt_namespaces=0 -> fuselage runs as
#              (namespaced) root and cannot make its mount namespace
# Setuid mode: not applicable (the setuid bit is ignored in such a namespace).
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
fl_only_modes root user
need unshare

fx_small a.zip
export FUSELAGE
limited()
{
	local knob=$1 how=$2
	shift 2
	# shellcheck disable=SC2086
	timeout 30 unshare --user $how bash -c '
echo 0 > /proc/sys/user/'"$knob"' || { echo "cannot set '"$knob"'" >&2; exit 99; }
exec "$FUSELAGE" "$@"' sh "$@" >"$T/out" 2>"$T/err"
	FL_RC=$?
	FL_OUT=$(cat "$T/out")
	FL_ERR=$(cat "$T/err")
	[ "$FL_RC" = 99 ] && skip "this kernel does not let a user namespace lower $knob: $FL_ERR"
}
case $FL_MODE in
user)
	limited max_user_namespaces "--map-current-user --keep-caps" -s a.zip echo ran
	assert_fl_error "no user namespaces: 125, one line" "user namespace"
	assert_match "... with a hint" "max_user_namespaces|setuid" "$FL_ERR"
	limited max_user_namespaces "--map-current-user --keep-caps" echo ran
	assert_fl_error "no user namespaces, no archives: still 125" "user namespace"
	limited max_mnt_namespaces "--map-current-user --keep-caps" -s a.zip echo ran
	assert_fl_error "no mount namespaces (unprivileged): 125, one line" "namespace"
	;;
root)
	limited max_mnt_namespaces "--map-root-user" -s a.zip echo ran
	assert_fl_error "no mount namespaces (root): 125, one line" "mount namespace"
	;;
esac

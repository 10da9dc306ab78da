#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §8: namespaces unavailable, each --extract policy, with the capability
# really taken away:
#   - per-user-namespace limits: inside a user namespace we own,
#     /proc/sys/user/max_user_namespaces or max_mnt_namespaces set to 0 (needs
#     CAP_SYS_RESOURCE there: unshare --keep-caps or --map-root-user), then
#     fuselage run inside.  user mode: --map-current-user, so fuselage is
#     still unprivileged; root mode: --map-root-user, fuselage runs as
#     (namespaced) root and cannot make its mount namespace;
#   - a seccomp filter (tests/func/fl-seccomp, raw BPF) that makes unshare
#     and namespace clones fail with EPERM, as container runtimes do;
#   - a seccomp filter that lets namespaces be made but refuses every mount,
#     which is what Ubuntu's AppArmor user-namespace policy amounts to.
# deny: 125, one line naming the cause and what to try; allow: one warning
# line, then extract-and-run works; prefer: unprivileged extracts without
# trying (no warning), root tries first (warning); force: extracts, silent.
# Setuid mode: not applicable (a setuid bit is ignored under no_new_privs and
# in a user namespace; setuid with --extract is in t-extract).
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
fl_only_modes root user
need unshare
SECCOMP=$FL_BUILDDIR/tests/func/fl-seccomp
[ -x "$SECCOMP" ] || skip "$SECCOMP is not built (make check builds it)"

fx_small a.zip no-ns-data
export FUSELAGE FL_HOME=$T/home
# The command: reads the archive, says where it was, tries to write to it.
CMD=(sh -c 'cat "$FUSELAGE_STATIC/a/hello.txt"; echo "$FUSELAGE_STATIC"')

# limited KNOB UNSHARE-OPTS ARGS: fuselage ARGS inside a user namespace whose
# KNOB is 0.
limited()
{
	local knob=$1 how=$2
	shift 2
	# shellcheck disable=SC2086
	timeout 60 unshare --user $how bash -c '
echo 0 > /proc/sys/user/'"$knob"' || { echo "cannot set '"$knob"'" >&2; exit 99; }
export FUSELAGE_HOME=$FL_HOME
exec "$FUSELAGE" "$@"' sh "$@" >"$T/out" 2>"$T/err"
	FL_RC=$?
	FL_OUT=$(cat "$T/out")
	FL_ERR=$(cat "$T/err")
	[ "$FL_RC" = 99 ] && skip "this kernel does not let a user namespace lower $knob: $FL_ERR"
}

# filtered MODE ARGS: fuselage ARGS under fl-seccomp MODE.
filtered()
{
	local how=$1
	shift
	FUSELAGE_HOME=$FL_HOME timeout 60 "$SECCOMP" "$how" "$FUSELAGE" "$@" >"$T/out" 2>"$T/err"
	FL_RC=$?
	FL_OUT=$(cat "$T/out")
	FL_ERR=$(cat "$T/err")
	[ "$FL_RC" = 77 ] && skip "fl-seccomp does not know this architecture"
}

extracted_ok()
{
	assert_ok "$1: runs"
	assert_eq "$1: the archive's content" "no-ns-data" "$(head -n 1 <<<"$FL_OUT")"
	assert_match "$1: extracted on disk" "^$FL_HOME/procdirs/x\..*/static$" "$(tail -n 1 <<<"$FL_OUT")"
	assert_eq "$1: nothing left after exit" "" "$(find "$FL_HOME/procdirs" -mindepth 1 2>/dev/null)"
}

# policies CASE WHY-ERE PREFER-WARNS RUNNER [RUNNER-ARGS]: all four policies.
policies()
{
	local case=$1 why=$2 prefer_warns=$3
	shift 3
	"$@" -s a.zip "${CMD[@]}"
	assert_fl_error "$case, deny (default): 125, one line" "$why"
	assert_match "$case, deny: says what to try" "--extract=allow" "$FL_ERR"
	"$@" --extract=allow -s a.zip "${CMD[@]}"
	extracted_ok "$case, allow"
	assert_eq "$case, allow: one warning line" "1" "$(grep -c . <<<"$FL_ERR")"
	assert_match "$case, allow: the warning names the cause" "^fuselage: warning: .*($why).*extracting the archives to disk instead" "$FL_ERR"
	"$@" --extract=prefer -s a.zip "${CMD[@]}"
	extracted_ok "$case, prefer"
	if [ "$prefer_warns" = yes ]; then
		assert_match "$case, prefer ($FL_MODE: a namespace is tried first): the warning" "^fuselage: warning: " "$FL_ERR"
	else
		assert_eq "$case, prefer (unprivileged: not even tried): silent" "" "$FL_ERR"
	fi
	"$@" --extract=force -s a.zip "${CMD[@]}"
	extracted_ok "$case, force"
	assert_eq "$case, force: silent" "" "$FL_ERR"
}

case $FL_MODE in
user)
	policies "max_user_namespaces=0" "user namespace.*max_user_namespaces=0" no \
		limited max_user_namespaces "--map-current-user --keep-caps"
	limited max_user_namespaces "--map-current-user --keep-caps" -s a.zip echo ran
	assert_match "... deny hints at a setuid install" "setuid-root install" "$FL_ERR"
	limited max_user_namespaces "--map-current-user --keep-caps" echo ran
	assert_fl_error "no user namespaces, no archives: still 125" "user namespace"
	limited max_user_namespaces "--map-current-user --keep-caps" --extract=allow sh -c 'test -d "$FUSELAGE_TMPDIR" && echo ran'
	assert_eq "no user namespaces, no archives, allow: runs" "ran" "$FL_OUT"
	limited max_mnt_namespaces "--map-current-user --keep-caps" -s a.zip echo ran
	assert_fl_error "no mount namespaces (unprivileged): 125, one line" "namespace"
	policies "seccomp on unshare" "seccomp" no filtered unshare
	policies "mounting refused (AppArmor-like)" "mount" no filtered mount
	;;
root)
	policies "max_mnt_namespaces=0" "mount namespace.*max_mnt_namespaces" yes \
		limited max_mnt_namespaces "--map-root-user"
	policies "seccomp on unshare" "seccomp" yes filtered unshare
	policies "mounting refused" "mount" yes filtered mount
	;;
esac

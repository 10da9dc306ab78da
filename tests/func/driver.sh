# SPDX-License-Identifier: MIT
#
# LOG_COMPILER for the functional scenarios (tests/func/t-*.sh): runs ONE
# scenario in every privilege mode this machine allows, each as a separate
# sub-run with its own header, fresh temp dir and clean environment:
#
#   root    make check runs as root: the scenario runs as root
#   user    as the unprivileged test user (user namespaces); when make check
#           itself runs as a non-root user, as that user
#   setuid  as the test user, against a root:root 4755 copy of fuselage
#
# Exit: 0 all runnable modes passed, 1 any failed, 77 every mode skipped.
# A mode that cannot run is a skip with a reason; with FL_TEST_STRICT=1 (CI)
# every skip is a failure, except a scenario's own "not applicable in this
# mode" (lib.sh fl_only_modes / not_applicable), which never hides a tool.
#
# Knobs (environment): FL_TEST_USER (default fltest), FL_MODES (subset of
# "root user setuid"), FL_TEST_TIMEOUT (seconds per mode, default 900),
# FL_TEST_TMPBASE (where temp dirs go, default /tmp; must be reachable by the
# test user), FL_SETUID_DIR (root-owned dir for the setuid copy, default
# $FL_BUILDDIR/tests/func/setuid), FL_TEST_STRICT.
#
# This file is run by $(SHELL), which may be dash: re-exec with bash.
if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi
set -u

if [ $# -lt 1 ]; then
	echo "usage: driver.sh tests/func/t-NAME.sh" >&2
	exit 99
fi
case "$1" in
/*) script=$1 ;;
*) script=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") ;;
esac
name=$(basename "$script")
if [ ! -r "$script" ]; then
	echo "driver: cannot read $script" >&2
	exit 99
fi

: "${FL_SRCDIR:=$(cd "$(dirname "$script")/../.." && pwd)}"
: "${FL_BUILDDIR:=$(pwd)}"
: "${FUSELAGE:=$FL_BUILDDIR/fuselage}"
: "${MKSQUASHFS:=$(command -v mksquashfs || echo /usr/bin/mksquashfs)}"
: "${FL_TEST_USER:=fltest}"
: "${FL_MODES:=root user setuid}"
: "${FL_TEST_TIMEOUT:=900}"
: "${FL_TEST_TMPBASE:=/tmp}"
: "${FL_TEST_STRICT:=0}"
: "${FL_SETUID_DIR:=$FL_BUILDDIR/tests/func/setuid}"
case "$FUSELAGE" in /*) ;; *) FUSELAGE=$(pwd)/$FUSELAGE ;; esac

STD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
me=$(id -u)

if [ ! -x "$FUSELAGE" ]; then
	echo "driver: $FUSELAGE is not built" >&2
	exit 99
fi

# as_user CMD...: run CMD as the test user (only called when we are root).
as_user()
{
	if command -v runuser >/dev/null 2>&1; then
		runuser -u "$FL_TEST_USER" -- "$@"
	else
		setpriv --reuid="$FL_TEST_USER" --regid="$FL_TEST_USER" --init-groups -- "$@"
	fi
}

# The modes' preconditions.  Each prints nothing and returns 0 when the mode
# can run, or prints the reason it cannot.
check_fuse_for()
{
	# $1: "self" or "user"
	if [ ! -c /dev/fuse ]; then
		echo "/dev/fuse does not exist"
		return 1
	fi
	if [ "$1" = user ]; then
		local perm
		perm=$(stat -c %a /dev/fuse)
		if [ "$perm" != 666 ]; then
			echo "/dev/fuse is mode $perm, not 0666 (chmod 0666 /dev/fuse)"
			return 1
		fi
	fi
	return 0
}

check_test_user()
{
	if ! id -u "$FL_TEST_USER" >/dev/null 2>&1; then
		echo "no test user '$FL_TEST_USER' (create it, or set FL_TEST_USER)"
		return 1
	fi
	if ! as_user test -x "$FUSELAGE" -a -r "$script" -a -r "$FL_SRCDIR/tests/func/lib.sh"; then
		echo "the test user '$FL_TEST_USER' cannot read the source and build trees" \
			"(make every directory above them world-searchable)"
		return 1
	fi
	if ! as_user test -w "$FL_TEST_TMPBASE" -a -x "$FL_TEST_TMPBASE"; then
		echo "the test user cannot write $FL_TEST_TMPBASE (set FL_TEST_TMPBASE)"
		return 1
	fi
	return 0
}

check_userns()
{
	# $@: how to run a command as the unprivileged user
	if ! "$@" unshare --user --mount true >/dev/null 2>&1; then
		echo "user namespaces are disabled for unprivileged users (unshare --user fails)"
		return 1
	fi
	return 0
}

# The setuid copy: made once per binary (re-made when the binary changed),
# under a lock, published with rename(2) so that parallel scenarios never see
# a half-written or not-yet-setuid file.
make_setuid_copy()
{
	local dir=$FL_SETUID_DIR opts
	mkdir -p "$dir" || { echo "cannot create $dir"; return 1; }
	chown root:root "$dir" && chmod 0755 "$dir" || { echo "cannot own $dir"; return 1; }
	opts=$(findmnt -n -o OPTIONS -T "$dir" 2>/dev/null)
	case ",$opts," in
	*,nosuid,*)
		echo "$dir is on a nosuid filesystem (set FL_SETUID_DIR)"
		return 1
		;;
	esac
	(
		flock 9 || exit 1
		if ! cmp -s "$FUSELAGE" "$dir/fuselage" || [ ! -u "$dir/fuselage" ] ||
			[ "$(stat -c %u:%g "$dir/fuselage")" != 0:0 ]; then
			rm -f "$dir/fuselage.new"
			cp "$FUSELAGE" "$dir/fuselage.new" &&
				chown root:root "$dir/fuselage.new" &&
				chmod 4755 "$dir/fuselage.new" &&
				mv -f "$dir/fuselage.new" "$dir/fuselage" || exit 1
		fi
	) 9>"$dir/.lock" || { echo "cannot make the setuid copy in $dir"; return 1; }
	if ! as_user test -x "$dir/fuselage"; then
		echo "the test user cannot reach $dir/fuselage"
		return 1
	fi
	return 0
}

# Root-owned fixtures next to the setuid copy, for scenarios that need files
# the test user cannot write (t-loop: --loop in setuid mode).  Made as root,
# once (a stamp names the version), under the same lock, each published with
# rename(2).  Best effort: without mksquashfs there are none, and a scenario
# that needs them says so.
#   root-owned.sqfs    root:root 0644: hello.txt "root-owned image",
#                      bin/id-suid (a copy of id, root 4755)
#   root-writable.sqfs the same image, root:root 0666 (anybody may write it)
#   root-group.sqfs    the same image, root:<a supplementary group of the test
#                      user's, else its primary group> 0664
#   root-acl.sqfs      the same image, root:root 0644 plus an ACL entry that
#                      lets the test user write (only where the filesystem
#                      takes POSIX ACLs)
#   root-owned.zip     root:root 0644, a zip holding hello.txt
make_setuid_fixtures()
{
	local dir=$FL_SETUID_DIR stamp=fixtures.v2 mk grp uid
	mk=$(command -v "$MKSQUASHFS" 2>/dev/null) || return 0
	(
		flock 9 || exit 1
		[ -e "$dir/$stamp" ] && exit 0
		rm -rf "$dir/fixtures.tmp"
		mkdir -p "$dir/fixtures.tmp/tree/bin" || exit 1
		printf 'root-owned image\n' >"$dir/fixtures.tmp/tree/hello.txt"
		chmod 0755 "$dir/fixtures.tmp/tree" "$dir/fixtures.tmp/tree/bin" &&
			chmod 0644 "$dir/fixtures.tmp/tree/hello.txt" || exit 1
		cp "$(command -v id)" "$dir/fixtures.tmp/tree/bin/id-suid" &&
			chown root:root "$dir/fixtures.tmp/tree/bin/id-suid" &&
			chmod 4755 "$dir/fixtures.tmp/tree/bin/id-suid" &&
			"$mk" "$dir/fixtures.tmp/tree" "$dir/fixtures.tmp/img" -noappend -no-progress \
				-quiet >/dev/null &&
			python3 -c 'import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("hello.txt", "root-owned zip\n")' "$dir/fixtures.tmp/zip" || exit 1
		cd "$dir/fixtures.tmp" || exit 1
		grp=$(id -G "$FL_TEST_USER" | tr ' ' '\n' | grep -vx "$(id -g "$FL_TEST_USER")" | head -n 1)
		[ -n "$grp" ] || grp=$(id -g "$FL_TEST_USER")
		uid=$(id -u "$FL_TEST_USER")
		cp img owned && cp img writable && cp img group && cp img acl || exit 1
		chown root:root owned writable acl zip && chmod 0644 owned acl zip &&
			chmod 0666 writable && chown "root:$grp" group && chmod 0664 group || exit 1
		# system.posix_acl_access, version 2: user::rw- user:UID:rw-
		# group::r-- mask::rw- other::r--
		python3 -c 'import os, struct, sys
e = [(1, 6, 0xFFFFFFFF), (2, 6, int(sys.argv[2])), (4, 4, 0xFFFFFFFF), (0x10, 6, 0xFFFFFFFF), (0x20, 4, 0xFFFFFFFF)]
os.setxattr(sys.argv[1], "system.posix_acl_access", struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *x) for x in e))' \
			acl "$uid" 2>/dev/null || rm -f acl
		mv -f owned ../root-owned.sqfs && mv -f writable ../root-writable.sqfs &&
			mv -f group ../root-group.sqfs && mv -f zip ../root-owned.zip || exit 1
		rm -f ../root-acl.sqfs
		[ ! -e acl ] || mv -f acl ../root-acl.sqfs || exit 1
		rm -f ../fixtures.v1
		cd .. && rm -rf fixtures.tmp && : >"$stamp"
	) 9>"$dir/.lock" || { echo "cannot make the root-owned fixtures in $dir"; return 1; }
	return 0
}

# mode_reason MODE: print why MODE cannot run here (empty: it can).
mode_reason()
{
	case "$1" in
	root)
		[ "$me" = 0 ] || { echo "make check is not running as root"; return; }
		check_fuse_for self || return
		;;
	user)
		if [ "$me" = 0 ]; then
			check_test_user || return
			check_fuse_for user || return
			check_userns as_user || return
		else
			check_fuse_for user || return
			check_userns env || return
		fi
		;;
	setuid)
		[ "$me" = 0 ] || {
			echo "make check is not running as root (needed to make a setuid-root copy)"
			return
		}
		check_fuse_for self || return
		check_test_user || return
		make_setuid_copy || return
		make_setuid_fixtures || return
		;;
	*)
		echo "unknown mode '$1'"
		;;
	esac
}

# run_mode MODE TMP: run the scenario; returns its exit status.
run_mode()
{
	local mode=$1 tmp=$2 bin=$FUSELAGE user home
	[ "$mode" = setuid ] && bin=$FL_SETUID_DIR/fuselage
	if [ "$mode" = root ] || [ "$me" != 0 ]; then
		user=$(id -un)
		home=$(getent passwd "$user" | cut -d: -f6)
	else
		user=$FL_TEST_USER
		home=$(getent passwd "$user" | cut -d: -f6)
		chown "$user:" "$tmp"
	fi
	local env=(env -i "HOME=$home" "USER=$user" "LOGNAME=$user" "PATH=$STD_PATH"
		"LANG=C.UTF-8" "SHELL=/bin/sh" "TMPDIR=$tmp"
		"FUSELAGE=$bin" "FL_MODE=$mode" "FL_SRCDIR=$FL_SRCDIR"
		"FL_BUILDDIR=$FL_BUILDDIR" "FL_TEST_TMP=$tmp" "MKSQUASHFS=$MKSQUASHFS"
		"FL_TEST_STRICT=$FL_TEST_STRICT" "FL_TEST_USER=$FL_TEST_USER"
		"FL_SETUID_DIR=$FL_SETUID_DIR"
		timeout -k 10 "$FL_TEST_TIMEOUT" bash "$script")
	if [ "$me" = 0 ] && [ "$mode" != root ]; then
		(cd "$tmp" && as_user "${env[@]}")
	else
		(cd "$tmp" && "${env[@]}")
	fi
}

declare -a summary=()
npass=0 nfail=0 nskip=0
for mode in $FL_MODES; do
	echo "=================================================================="
	echo "== $name  [mode: $mode]"
	echo "=================================================================="
	reason=$(mode_reason "$mode")
	if [ -n "$reason" ]; then
		if [ "$FL_TEST_STRICT" = 1 ]; then
			echo "-- $name [$mode]: FAIL (FL_TEST_STRICT=1 and the mode cannot run: $reason)"
			summary+=("$mode: FAIL (cannot run: $reason)")
			nfail=$((nfail + 1))
		else
			echo "-- $name [$mode]: SKIP ($reason)"
			summary+=("$mode: SKIP ($reason)")
			nskip=$((nskip + 1))
		fi
		continue
	fi
	tmp=$(mktemp -d "$FL_TEST_TMPBASE/fl-func.XXXXXX") || exit 99
	chmod 0755 "$tmp"
	start=$(date +%s)
	if [ "$mode" = setuid ]; then
		# Setuid scenarios share the test user's real home (the password
		# database's); one marked "fl-setuid-home: exclusive" (it races on
		# ~/.fuselage) runs alone.  The lock is per test user, not per
		# build tree: trees built side by side share that home too.  Its
		# descriptor is not inherited.
		lockmode=-s
		grep -q '^# fl-setuid-home: exclusive' "$script" && lockmode=-x
		(
			flock "$lockmode" 8 || exit 99
			run_mode "$mode" "$tmp" 8>&-
		) 8>"/tmp/.fuselage-setuid-home-$FL_TEST_USER.lock"
	else
		run_mode "$mode" "$tmp"
	fi
	rc=$?
	secs=$(($(date +%s) - start))
	na=
	[ -f "$tmp/.fl-not-applicable" ] && na=$(head -n 1 "$tmp/.fl-not-applicable")
	skipwhy=
	[ -f "$tmp/.fl-skip" ] && skipwhy=$(head -n 1 "$tmp/.fl-skip")
	rm -rf "$tmp"
	case $rc in
	0)
		echo "-- $name [$mode]: PASS (${secs}s)"
		summary+=("$mode: PASS")
		npass=$((npass + 1))
		;;
	77)
		if [ -n "$na" ]; then
			echo "-- $name [$mode]: NOT APPLICABLE ($na)"
			summary+=("$mode: n/a ($na)")
			nskip=$((nskip + 1))
		elif [ "$FL_TEST_STRICT" = 1 ]; then
			echo "-- $name [$mode]: FAIL (skipped under FL_TEST_STRICT=1: ${skipwhy:-no reason given})"
			summary+=("$mode: FAIL (skipped: ${skipwhy:-no reason given})")
			nfail=$((nfail + 1))
		else
			echo "-- $name [$mode]: SKIP (${skipwhy:-no reason given})"
			summary+=("$mode: SKIP (${skipwhy:-no reason given})")
			nskip=$((nskip + 1))
		fi
		;;
	124 | 137)
		echo "-- $name [$mode]: FAIL (timed out after ${FL_TEST_TIMEOUT}s)"
		summary+=("$mode: FAIL (timeout)")
		nfail=$((nfail + 1))
		;;
	*)
		echo "-- $name [$mode]: FAIL (exit status $rc, ${secs}s)"
		summary+=("$mode: FAIL (status $rc)")
		nfail=$((nfail + 1))
		;;
	esac
done

echo "=================================================================="
echo "== $name summary:"
for s in "${summary[@]}"; do
	echo "==   $s"
done
if [ "$nfail" -gt 0 ]; then
	exit 1
fi
if [ "$npass" -eq 0 ]; then
	exit 77
fi
exit 0

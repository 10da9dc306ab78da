#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §7.2: "sudo inside works as outside" (DESIGN.md: keep it safe, and
# test it).  The command runs without no_new_privs in setuid and root mode,
# so the host's sudo works inside exactly as outside; nothing the caller
# controls is mounted where sudo looks.  In user mode the command is in a
# user namespace where root is not mapped: sudo cannot gain root there (as
# in any unprivileged namespace), and must fail without giving anything.
# Needs: sudo, and for the test user a sudoers entry allowing
# `sudo -n /usr/bin/id` (.ci/run writes /etc/sudoers.d/fuselage-tests).
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need sudo

fx_small a.zip
outside=$(sudo -n /usr/bin/id -u 2>&1)
case $FL_MODE in
root|setuid)
	if [ "$outside" != 0 ]; then
		if [ "$FL_TEST_STRICT" = 1 ]; then
			fl_fail "sudo -n /usr/bin/id works outside fuselage for $(id -un)" "got: $outside" \
				"(.ci/run writes the sudoers entry; see tests/func/README.md)"
			exit 1
		fi
		skip "sudo -n /usr/bin/id does not work for $(id -un) outside fuselage: $outside"
	fi
	fl_run -s a.zip -- sudo -n /usr/bin/id -u
	assert_ok "sudo inside exits 0"
	assert_eq "sudo inside gives root, as outside" 0 "$FL_OUT"
	fl_run -s a.zip -- sh -c 'grep "^NoNewPrivs:" /proc/self/status | tr -d "\t "'
	assert_eq "the command has no no_new_privs" "NoNewPrivs:0" "$FL_OUT"
	fl_run -s /run/fuselage/sudotest:a.zip -d b:a.zip --dynamic-empty=/run/fuselage/sudoscratch -- \
		sh -c 'sudo -n /usr/bin/id -u; id -u'
	assert_eq "with fixed paths and --dynamic too: root through sudo, the caller otherwise" \
		"0
$(id -u)" "$FL_OUT"
	# What a privileged program could be steered by is not the caller's:
	# sudo's configuration and the system directories are the host's own.
	fl_run -s a.zip -- sh -c 'stat -c "%u %n" /etc/sudoers /etc/sudoers.d /usr/bin/sudo /usr/lib /etc'
	assert_eq "sudo's files and the system directories are root's inside" \
		"0 /etc/sudoers
0 /etc/sudoers.d
0 /usr/bin/sudo
0 /usr/lib
0 /etc" "$FL_OUT"
	;;
user)
	fl_run -s a.zip -- sudo -n /usr/bin/id -u
	assert_ne "user mode: sudo inside a user namespace fails" 0 "$FL_RC"
	assert_no_match "... and never prints root's uid" "(^|$(printf '\n'))0($|$(printf '\n'))" "$FL_OUT"
	fl_run -s a.zip -- sh -c 'id -u'
	assert_eq "... the command is still the caller" "$(id -u)" "$FL_OUT"
	;;
esac

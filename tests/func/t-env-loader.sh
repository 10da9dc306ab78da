#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §2.2 "Nothing else in the environment changes", for the variables
# that the dynamic loader removes from a setuid program's environment
# (LD_LIBRARY_PATH, LD_PRELOAD, TMPDIR, GCONV_PATH, ...): the command must
# still get them, in every mode.  (Separate from t-env.sh so that this
# setuid-specific problem is reported on its own.)
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init

mkdir -p libdir
export LD_LIBRARY_PATH=$T/libdir TMPDIR=$T GCONV_PATH=/nonexistent/gconv \
	LOCALDOMAIN=example.invalid NLSPATH=/nonexistent/nls TZDIR=/usr/share/zoneinfo \
	MALLOC_TRACE=/dev/null LD_BIND_NOW=1
for v in LD_LIBRARY_PATH TMPDIR GCONV_PATH LOCALDOMAIN NLSPATH TZDIR MALLOC_TRACE LD_BIND_NOW; do
	fl_run sh -c "printf '%s' \"\${$v-unset}\""
	assert_eq "$v reaches the command" "${!v}" "$FL_OUT"
done

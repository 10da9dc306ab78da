# SPDX-License-Identifier: MIT
# FL_LIB_SONAME(DEFINE, PKG, LIB)
# Find the soname of libLIB.so as pkg-config module PKG installs it (the
# library the headers just found belong to) and AC_DEFINE it as DEFINE, for
# a dlopen() on first use (fusefs/dl.h).  Fails when it cannot be found.
AC_DEFUN([FL_LIB_SONAME], [
	AC_REQUIRE([PKG_PROG_PKG_CONFIG])
	AC_CHECK_TOOL([OBJDUMP], [objdump], [no])
	AC_CACHE_CHECK([the soname of lib$3], [fl_cv_soname_$3], [
		fl_cv_soname_$3=
		fl_libdir=`$PKG_CONFIG --variable=libdir $2 2>/dev/null`
		for fl_file in "$fl_libdir/lib$3.so" `$CC -print-file-name=lib$3.so 2>/dev/null`; do
			test -e "$fl_file" && test "x$OBJDUMP" != xno || continue
			fl_cv_soname_$3=`$OBJDUMP -p "$fl_file" 2>/dev/null |
				sed -n 's/^ *SONAME *\([[^ ]]*\)$/\1/p'`
			test -n "$fl_cv_soname_$3" && break
		done])
	AS_IF([test -z "$fl_cv_soname_$3"],
		[AC_MSG_ERROR([cannot find the soname of lib$3.so (needs objdump, from binutils)])])
	AC_DEFINE_UNQUOTED([$1], ["$fl_cv_soname_$3"],
		[soname of lib$3, loaded on first use])
])

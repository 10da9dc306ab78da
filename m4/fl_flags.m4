# SPDX-License-Identifier: MIT
# FL_CHECK_CFLAG(FLAG, [ACTION-IF-OK], [ACTION-IF-NOT])
# Try compiling an empty program with FLAG (and -Werror so that unknown
# warnings are not silently accepted).
AC_DEFUN([FL_CHECK_CFLAG], [
	AS_VAR_PUSHDEF([fl_var], [fl_cv_cflag_$1])
	AC_CACHE_CHECK([whether $CC accepts $1], [fl_var], [
		fl_save_CFLAGS=$CFLAGS
		CFLAGS="$CFLAGS -Werror $1"
		AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
			[AS_VAR_SET([fl_var], [yes])], [AS_VAR_SET([fl_var], [no])])
		CFLAGS=$fl_save_CFLAGS])
	AS_VAR_IF([fl_var], [yes], [$2], [$3])
	AS_VAR_POPDEF([fl_var])
])

# FL_CHECK_LDFLAG(FLAG, [ACTION-IF-OK], [ACTION-IF-NOT])
AC_DEFUN([FL_CHECK_LDFLAG], [
	AS_VAR_PUSHDEF([fl_var], [fl_cv_ldflag_$1])
	AC_CACHE_CHECK([whether the linker accepts $1], [fl_var], [
		fl_save_LDFLAGS=$LDFLAGS
		LDFLAGS="$LDFLAGS -Werror $1"
		AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])],
			[AS_VAR_SET([fl_var], [yes])], [AS_VAR_SET([fl_var], [no])])
		LDFLAGS=$fl_save_LDFLAGS])
	AS_VAR_IF([fl_var], [yes], [$2], [$3])
	AS_VAR_POPDEF([fl_var])
])

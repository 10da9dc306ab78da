#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §5, real work: a zipped make project configured, built, tested and
# cleaned inside --dynamic (the zip's checksum unchanged afterwards); a
# Python venv made with "python3 -m venv" inside
# --dynamic-empty=/run/fuselage/NAME, captured there with mksquashfs, then
# run from --static=/run/fuselage/NAME:IMAGE.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need zip python3 make cc sha256sum
need_mksquashfs

# --- a small C project: ./configure writes config.mk, make builds a library
# and a program in two directories, make check runs it ---
mkdir -p proj/lib proj/src
cat >proj/configure <<'SH'
#!/bin/sh
# a minimal configure: finds the compiler, writes config.mk
CC=${CC:-cc}
command -v "$CC" >/dev/null || { echo "configure: no C compiler" >&2; exit 1; }
printf 'CC = %s\nCFLAGS = -O1 -I../lib\n' "$CC" >config.mk
echo "configure: using $CC"
SH
chmod 0755 proj/configure
cat >proj/Makefile <<'MK'
all:
	$(MAKE) -C lib
	$(MAKE) -C src
check: all
	test "$$(src/greet world)" = "hello, world (42)"
	@echo "check passed"
clean:
	$(MAKE) -C lib clean
	$(MAKE) -C src clean
MK
cat >proj/lib/Makefile <<'MK'
include ../config.mk
libgreet.a: greet.o
	ar rcs $@ greet.o
clean:
	rm -f greet.o libgreet.a
MK
printf '#include <stdio.h>\n#include "greet.h"\nvoid greet(const char *who) { printf("hello, %%s (%%d)\\n", who, ANSWER); }\n' >proj/lib/greet.c
printf '#define ANSWER 42\nvoid greet(const char *who);\n' >proj/lib/greet.h
cat >proj/src/Makefile <<'MK'
include ../config.mk
greet: main.o ../lib/libgreet.a
	$(CC) -o $@ main.o ../lib/libgreet.a
clean:
	rm -f main.o greet
MK
printf '#include "greet.h"\nint main(int argc, char **argv) { greet(argc > 1 ? argv[1] : "nobody"); return 0; }\n' >proj/src/main.c
(cd proj && zip -q -r -y ../proj.zip .)
sum=$(sha256sum proj.zip)

# shellcheck disable=SC2016
fl_run -d proj.zip sh -c 'cd "$FUSELAGE_DYNAMIC/proj" && ./configure && make -s >/dev/null && make -s check &&
	./src/greet fuselage && ls lib src | tr "\n" " " && echo &&
	sed -i "s/hello/bye/" lib/greet.c && make -s >/dev/null 2>&1; make -s check >/dev/null 2>&1; echo "check after an edit: $?";
	make -s clean >/dev/null && ls lib src | tr "\n" " "'
assert_ok "configure, make, make check inside --dynamic"
assert_eq "the build's output, its files, an edit, make clean" "configure: using cc
check passed
hello, fuselage (42)
lib: Makefile greet.c greet.h greet.o libgreet.a  src: Makefile greet main.c main.o 
check after an edit: 2
lib: Makefile greet.c greet.h  src: Makefile main.c " "$FL_OUT"
assert_eq "the zip's checksum is unchanged" "$sum" "$(sha256sum proj.zip)"
fl_run -d proj.zip sh -c 'cd "$FUSELAGE_DYNAMIC/proj" && ls && grep -c hello lib/greet.c'
assert_eq "the next run starts from the zip again" "Makefile
configure
lib
src
1" "$FL_OUT"

# --- a venv at a fixed path, captured, then served read-only ---
if [ ! -d /run/fuselage ] && [ "$FL_MODE" != user ]; then
	skip "/run/fuselage does not exist (mkdir -m 0755 /run/fuselage as root)"
fi
# shellcheck disable=SC2016
fl_run --dynamic-empty=/run/fuselage/venv sh -c 'set -e
	python3 -m venv --without-pip /run/fuselage/venv
	sp=$(/run/fuselage/venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()[\"purelib\"])")
	mkdir "$sp/fltool"
	printf "import sys\ndef main():\n    print(\"fltool from\", sys.prefix)\n" >"$sp/fltool/__init__.py"
	printf "#!/run/fuselage/venv/bin/python\nimport fltool\nfltool.main()\n" >/run/fuselage/venv/bin/fltool
	chmod 0755 /run/fuselage/venv/bin/fltool
	/run/fuselage/venv/bin/fltool
	"$1" /run/fuselage/venv "$2" -noappend -quiet -no-progress >/dev/null' sh "$MKSQUASHFS" "$T/venv.sfs"
assert_ok "python3 -m venv inside --dynamic-empty=/run/fuselage/venv, captured with mksquashfs"
assert_eq "the venv works where it was made" "fltool from /run/fuselage/venv" "$FL_OUT"
assert_eq "the image is the caller's" "$(id -u)" "$(stat -c %u venv.sfs 2>/dev/null)"
# shellcheck disable=SC2016
fl_run --static=/run/fuselage/venv:venv.sfs sh -c '/run/fuselage/venv/bin/fltool &&
	/run/fuselage/venv/bin/python -c "import sys, fltool; print(sys.prefix, sys.base_prefix != sys.prefix, fltool.__file__.startswith(\"/run/fuselage/venv/\"))" &&
	id -u'
assert_ok "the captured venv runs from --static=/run/fuselage/venv:IMAGE"
assert_eq "... as a venv, with its own package, as the caller" "fltool from /run/fuselage/venv
/run/fuselage/venv True True
$(id -u)" "$FL_OUT"

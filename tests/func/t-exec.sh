#!/bin/bash
# SPDX-License-Identifier: MIT
# SPEC §5: executables and shared libraries run straight from the archive
# (zip stored, zip deflated and squashfs): a program and its .so found with
# LD_LIBRARY_PATH, a copied system binary, a script; mmap reads (python).
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need python3

mkdir -p app/bin app/lib
cp "$(command -v env)" app/bin/env-copy
printf '#!/bin/sh\necho script-ok "$@"\n' >app/bin/script
chmod 0755 app/bin/script
python3 -c 'import random,sys; r=random.Random(7); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(3*1024*1024+123)))' >app/lib/big.bin
have_cc=0
if command -v cc >/dev/null 2>&1; then
	printf 'int fl_answer(void) { return 42; }\n' >lib.c
	printf '#include <stdio.h>\nint fl_answer(void);\nint main(void) { printf("lib-ok %%d\\n", fl_answer()); return 0; }\n' >main.c
	if cc -shared -fPIC -o app/lib/libflanswer.so lib.c && cc -o app/bin/prog main.c -Lapp/lib -lflanswer; then
		have_cc=1
	fi
fi
[ "$have_cc" = 1 ] || { [ "$FL_TEST_STRICT" = 1 ] && fl_fail "no C compiler: the .so check cannot run"; note "no C compiler: the binary + .so check was not made"; }
fx_zip app app-deflated.zip
fx_zip app app-stored.zip -0
need_mksquashfs
fx_sqfs app app.sqfs gzip
expect_sum=$(sha256sum <app/lib/big.bin | cut -d' ' -f1)

for a in app-deflated.zip app-stored.zip app.sqfs; do
	n=${a%.*}
	fl_run -s "$a" sh -c 'S="$FUSELAGE_STATIC/'"$n"'"
echo "env: $("$S/bin/env-copy" FL_X=1 sh -c "echo \$FL_X")"
echo "script: $("$S/bin/script" a b)"
if [ -e "$S/bin/prog" ]; then echo "prog: $(LD_LIBRARY_PATH="$S/lib" "$S/bin/prog")"; fi
python3 -c "
import hashlib, mmap, sys
with open(sys.argv[1], \"rb\") as f:
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    print(\"mmap:\", hashlib.sha256(m).hexdigest(), m[1234567:1234571].hex() == open(sys.argv[1], \"rb\").read()[1234567:1234571].hex())
" "$S/lib/big.bin"'
	assert_ok "$n: served"
	assert_eq "$n: a copied system binary runs from the mount" "env: 1" "$(grep '^env:' <<<"$FL_OUT")"
	assert_eq "$n: a script runs from the mount" "script: script-ok a b" "$(grep '^script:' <<<"$FL_OUT")"
	if [ "$have_cc" = 1 ]; then
		assert_eq "$n: a binary and its .so (LD_LIBRARY_PATH) run from the mount" "prog: lib-ok 42" "$(grep '^prog:' <<<"$FL_OUT")"
	fi
	assert_eq "$n: mmap reads the right bytes" "mmap: $expect_sum True" "$(grep '^mmap:' <<<"$FL_OUT")"
done
# the .so is really mapped from the mount (not copied elsewhere)
if [ "$have_cc" = 1 ]; then
	fl_run -s app.sqfs sh -c 'S="$FUSELAGE_STATIC/app"; LD_LIBRARY_PATH="$S/lib" LD_DEBUG=libs "$S/bin/prog" 2>&1 | grep -c "$S/lib/libflanswer.so"'
	assert_ne "the loader opened the .so from the mount" "0" "$FL_OUT"
fi
# --run of the binary
fl_run -s app.sqfs --run app/bin/env-copy FL_Y=2 sh -c 'echo $FL_Y'
assert_eq "--run of a binary in the archive" "2" "$FL_OUT"

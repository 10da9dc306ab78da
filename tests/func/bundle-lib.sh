# SPDX-License-Identifier: MIT
# Helpers for the bundle scenarios (t-bundle, t-uv-bundle): run any program
# like fl_run does, and the ELF extent rule of SPEC §4 computed independently
# of fusefs/elf.c.

FL_BUNDLE=$FL_BUILDDIR/fuselage-bundle
FL_SYSPY=/usr/bin/python3

# b_run CMD ARGS...: sets FL_RC, FL_OUT, FL_ERR like fl_run.
b_run() { fl_run_cmd_in /dev/null "$@"; }

# assert_tool_error WHAT TOOL ERE: the last b_run failed with status 1 and one
# line "TOOL: ..." matching ERE.
assert_tool_error()
{
	local n
	n=$(printf '%s\n' "$FL_ERR" | grep -c .)
	if [ "$FL_RC" != 1 ]; then
		fl_fail "$1" "expected status 1, got $FL_RC" "stderr: $(fl_show "$FL_ERR")"
	elif [ "$n" != 1 ]; then
		fl_fail "$1" "expected one error line, got $n" "$(fl_show "$FL_ERR")"
	elif ! printf '%s' "$FL_ERR" | grep -Eq -- "^$2: .*$3"; then
		fl_fail "$1" "error line does not match: $2: ...$3" "actual: $(fl_show "$FL_ERR")"
	else
		fl_pass "$1 ($FL_ERR)"
	fi
}

# b_image_offset FILE: where SPEC §4 says an image appended to ELF FILE starts.
b_image_offset()
{
	"$FL_SYSPY" - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
phoff, shoff = struct.unpack_from("<QQ", d, 32)
phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", d, 54)
end = max(64, shoff + shnum * shentsize, phoff + phnum * phentsize)
for i in range(phnum):
    ptype, _, off, _, _, filesz = struct.unpack_from("<IIQQQQ", d, phoff + i * phentsize)
    if ptype == 1:
        end = max(end, off + filesz)
print((end + 4095) // 4096 * 4096)
PY
}

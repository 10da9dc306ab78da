#!/bin/bash
# SPDX-License-Identifier: MIT
# Attack suite, SPEC §4: crafted squashfs images (sqfscraft.py) hitting each
# libsquashfuse 0.1.105 bug that DESIGN.md names — long directory name (257
# bytes and 64 KiB), long directory index name, out-of-range uid, gid,
# fragment and xattr indexes, long xattr name, huge xattr count.  In every
# mode: never a crash or a hang; the damaged entry alone fails with EIO
# (or, for the index, is simply not used) and the rest stays readable from a
# live server.
. "$FL_SRCDIR/tests/func/lib.sh"
fl_init
need python3 getfattr
need_mksquashfs

# What the command reports about an image served at $FUSELAGE_STATIC/x.
probe='cd "$FUSELAGE_STATIC/x" || exit 9
r() { if out=$("$@" 2>&1); then printf "%s\n" "$out" | tr "\n" " " | sed "s/ $//"; echo; else echo "$out" | sed "s/.*: //" | sort -u | tr "\n" " " | sed "s/ $//"; echo; fi; }
echo "list d: $(r ls d)"
echo "read victim: $(r cat d/victim)"
echo "xattr victim: $(r getfattr --only-values -n user.victimattr d/victim)"
echo "xattr fine: $(r getfattr --only-values -n user.fineattr other/fine)"
echo "xattr list fine: $(r getfattr --absolute-names -d other/fine)"
echo "big: $(ls big 2>/dev/null | wc -l)"
find . >/dev/null 2>&1; cat $(find . -type f 2>/dev/null) >/dev/null 2>&1
getfattr -R -d . >/dev/null 2>&1
echo "fine after everything: $(cat other/fine)"'

# expect KIND LINE...: the probe's output lines that must appear
expect()
{
	local kind=$1 line
	shift
	python3 "$FL_FUNC/sqfscraft.py" "$kind" "$kind.sqfs" "$(mktemp -d "$T/w.XXXXXX")" \
		"$MKSQUASHFS" >craft.out 2>&1
	case $? in
	0) ;;
	77) if [ "$FL_TEST_STRICT" = 1 ]; then fl_fail "$kind: $(cat craft.out)"; else note "$kind: $(cat craft.out)"; fi; return ;;
	*) fl_fail "$kind: the image could not be made" "$(cat craft.out)"; return ;;
	esac
	fl_run -s "x:$kind.sqfs" sh -c "$probe"
	assert_no_crash "$kind: no crash, no hang"
	assert_status "$kind: served (the damage is confined to one entry)" 0 "$FL_RC" "$FL_ERR"
	for line in "$@" "fine after everything: fine"; do
		if grep -qxF -- "$line" <<<"$FL_OUT"; then
			fl_pass "$kind: $line"
		else
			fl_fail "$kind: $line" "actual: $(fl_show "$FL_OUT")"
		fi
	done
}

ok_v='read victim: v'
expect longdirname "list d: Input/output error" "read victim: Input/output error"
expect longdirname64k "list d: Input/output error" "read victim: Input/output error"
expect longindexname "big: 400" "list d: alpha victim victim_name_0123456789 zulu" "$ok_v"
for k in uidindex gidindex fragindex; do
	expect "$k" "list d: alpha victim victim_name_0123456789 zulu" "read victim: Input/output error"
done
expect xattrindex "read victim: Input/output error" "xattr fine: ok"
expect longxattrname "$ok_v" "xattr victim: Input/output error" "xattr fine: ok" \
	'xattr list fine: # file: other/fine user.fineattr="ok"'
# A lookup stops at the name it wants; a listing meets the bogus count.
expect xattrcount "$ok_v" "xattr victim: value" "xattr fine: ok" "xattr list fine: Input/output error"

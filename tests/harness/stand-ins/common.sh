# Shared by the recording stand-ins for helm and kubectl (test fixtures, not shipped).
#
# Every call appends one record to $STANDIN_LOG: the tool name and each argument followed by a
# NUL byte, then a newline. Behaviour is chosen by environment variables:
#   STANDIN_STATE        directory for state between calls (revision, values, stack)
#   STANDIN_FAIL         a substring of "tool arg1 arg2 ...": that call fails with
#   STANDIN_FAIL_CODE    (default 1) and STANDIN_FAIL_STDERR (default "Error: injected failure")
#   STANDIN_HANG         a substring: that call hangs (exec sleep, so a signal reaches it),
#                        writing its pid to STANDIN_HANG_PIDFILE when that is set
#   STANDIN_SLOW         a substring: that call first sleeps STANDIN_SLOW_SECS (default 1)
#   STANDIN_SAY          a line every call prints on stderr (STANDIN_SAY_TIMES times, default 1)
set -u
joined="$tool $*"
if [ -n "${STANDIN_LOG:-}" ]; then
    { printf '%s\0' "$tool" "$@"; printf '\n'; } >> "$STANDIN_LOG"
fi
state="${STANDIN_STATE:-/nonexistent}"
if [ -n "${STANDIN_HANG:-}" ] && [[ "$joined" == *"$STANDIN_HANG"* ]]; then
    if [ -n "${STANDIN_HANG_PIDFILE:-}" ]; then echo $$ > "$STANDIN_HANG_PIDFILE"; fi
    exec sleep 600
fi
if [ -n "${STANDIN_SLOW:-}" ] && [[ "$joined" == *"$STANDIN_SLOW"* ]]; then
    sleep "${STANDIN_SLOW_SECS:-1}"
fi
if [ -n "${STANDIN_SAY:-}" ]; then
    for ((i = 0; i < ${STANDIN_SAY_TIMES:-1}; i++)); do printf '%s\n' "$STANDIN_SAY" >&2; done
fi
if [ -n "${STANDIN_FAIL:-}" ] && [[ "$joined" == *"$STANDIN_FAIL"* ]]; then
    printf '%s\n' "${STANDIN_FAIL_STDERR:-Error: injected failure}" >&2
    exit "${STANDIN_FAIL_CODE:-1}"
fi
# The value after a flag: flag_value -n "$@"
flag_value() {
    local want="$1"; shift
    while [ $# -gt 0 ]; do
        if [ "$1" = "$want" ] && [ $# -gt 1 ]; then printf '%s' "$2"; return 0; fi
        shift
    done
    return 1
}
has_arg() {
    local want="$1"; shift
    for a in "$@"; do [ "$a" = "$want" ] && return 0; done
    return 1
}
unexpected() {
    printf 'stand-in %s: unexpected call: %s\n' "$tool" "$joined" >&2
    exit 64
}

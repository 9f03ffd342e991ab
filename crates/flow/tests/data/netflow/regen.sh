#!/bin/sh
# Regenerate the captured exports in this folder (see README.md): softflowd exports
# ../nfdump/flows.pcap in several flavours; relay.py stores every datagram and passes it on to
# nfcapd; nfdump prints what nfcapd stored. Needs Debian's nfdump (1.7.1), softflowd (1.1.0)
# and python3; binds UDP 127.0.0.1:${PORT:-29990} and the port after it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pcap="$here/../nfdump/flows.pcap"
port=${PORT:-29990}
work=$(mktemp -d)
trap 'kill "$(cat "$work/nfcapd.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$work"' EXIT

capture() { # name, then softflowd arguments
    name=$1
    shift
    rm -rf "$work/cap" && mkdir "$work/cap"
    nfcapd -D -w "$work/cap" -b 127.0.0.1 -p $((port + 1)) -P "$work/nfcapd.pid" -t 3600
    python3 "$here/relay.py" "$port" $((port + 1)) "$here/$name.datagrams" 4 &
    relay=$!
    sleep 1
    # -a: export the capture's own times; poke the control socket until softflowd is done.
    softflowd -D -a -r "$pcap" -n "127.0.0.1:$port" "$@" \
        -c "$work/softflowd.ctl" -p "$work/softflowd.pid" >"$work/softflowd.log" 2>&1 &
    sf=$!
    for _ in $(seq 1 60); do
        sleep 1
        kill -0 "$sf" 2>/dev/null || break
        softflowctl -c "$work/softflowd.ctl" statistics >/dev/null 2>&1 || true
    done
    if kill -0 "$sf" 2>/dev/null; then kill "$sf"; echo "softflowd did not finish" >&2; exit 1; fi
    wait "$relay"
    kill "$(cat "$work/nfcapd.pid")"
    sleep 2
    TZ=UTC nfdump -r "$(ls -S "$work"/cap/nfcapd.2* | head -n 1)" -q -N -6 \
        -o 'fmt:%ts|%te|%sa|%sp|%da|%dp|%pr|%flg|%pkt|%byt|%in|%out|%ra|%dir' \
        >"$here/$name.fmt"
}

capture softflowd-v5 -v 5
capture softflowd-v9 -v 9
capture softflowd-ipfix -v 10
capture softflowd-ipfix-ms -v 10 -A milli
capture softflowd-ipfix-bi -v 10 -b
capture softflowd-v9-sampled -v 9 -s 2
echo "Regenerated; run: cargo test -p relbot-flow --test netflow_fixtures"

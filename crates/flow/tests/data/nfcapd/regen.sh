#!/bin/sh
# Regenerate the nfcapd compression fixtures in this folder (see README.md).
# Needs Debian's nfdump (1.7.1) and softflowd (1.1.0); binds UDP 127.0.0.1:${PORT:-29960}..+3.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pcap="$here/../nfdump/flows.pcap" # written by ../nfdump/mkpcap.py
port=${PORT:-29960}
work=$(mktemp -d)
stop_all() {
    for p in "$work"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true; done
}
trap 'stop_all; rm -rf "$work"' EXIT

# One nfcapd per compression. The first receives softflowd's export and repeats every packet
# to the others (-R), so that all four files hold the same stream.
i=0
for c in none lzo lz4 bz2; do
    case $c in none) flag= ;; lzo) flag=-z ;; lz4) flag=-y ;; bz2) flag=-j ;; esac
    mkdir "$work/$c"
    repeat=
    if [ "$c" = none ]; then
        repeat="-R 127.0.0.1/$((port + 1)) -R 127.0.0.1/$((port + 2)) -R 127.0.0.1/$((port + 3))"
    fi
    # shellcheck disable=SC2086 # flag and repeat are word lists
    nfcapd -D -w "$work/$c" -b 127.0.0.1 -p $((port + i)) -P "$work/$c.pid" -t 3600 $flag $repeat
    i=$((i + 1))
done
sleep 1
# -a: export the capture's own times. softflowd 1.1.0 reading a file waits in accept() on its
# control socket; poke it once a second until it has flushed everything and exited.
softflowd -D -a -r "$pcap" -n "127.0.0.1:$port" -v 9 \
    -c "$work/softflowd.ctl" -p "$work/softflowd.pid.sf" >"$work/softflowd.log" 2>&1 &
sf=$!
for _ in $(seq 1 60); do
    sleep 1
    kill -0 "$sf" 2>/dev/null || break
    softflowctl -c "$work/softflowd.ctl" statistics >/dev/null 2>&1 || true
done
if kill -0 "$sf" 2>/dev/null; then kill "$sf"; echo "softflowd did not finish" >&2; exit 1; fi
sleep 1
stop_all
sleep 2
for c in none lzo lz4 bz2; do
    file=$(ls -S "$work/$c"/nfcapd.2* | head -n 1)
    cp "$file" "$here/flows-$c.nfcapd"
    TZ=UTC nfdump -r "$here/flows-$c.nfcapd" -q -N -6 \
        -o 'fmt:%ts|%te|%sa|%sp|%da|%dp|%pr|%flg|%pkt|%byt|%in|%out|%ra|%dir' \
        >"$here/flows-$c.nfcapd.fmt"
done
echo "Regenerated; run: cargo test -p relbot-flow --test nfcapd_files"

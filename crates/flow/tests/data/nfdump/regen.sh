#!/bin/sh
# Regenerate the nfdump fixtures in this folder from mkpcap.py (see README.md).
# Needs Debian's nfdump (1.7.1) and softflowd (1.1.0); binds UDP 127.0.0.1:${PORT:-29955}.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
port=${PORT:-29955}
work=$(mktemp -d)
trap 'kill "$(cat "$work/nfcapd.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$work"' EXIT

python3 "$here/mkpcap.py" "$here/flows.pcap"
mkdir "$work/cap"
nfcapd -D -w "$work/cap" -b 127.0.0.1 -p "$port" -P "$work/nfcapd.pid" -t 60
sleep 1
# -a replays the capture at its own pace so that the NetFlow v9 times are the capture's times.
# softflowd 1.1.0 reading a file sits in accept() on its control socket between packets, so we
# poke that socket once a second until it has read the whole file, flushed every flow and exited.
softflowd -D -a -r "$here/flows.pcap" -n "127.0.0.1:$port" -v 9 \
    -c "$work/softflowd.ctl" -p "$work/softflowd.pid" >"$work/softflowd.log" 2>&1 &
sf=$!
for _ in $(seq 1 60); do
    sleep 1
    kill -0 "$sf" 2>/dev/null || break
    softflowctl -c "$work/softflowd.ctl" statistics >/dev/null 2>&1 || true
done
if kill -0 "$sf" 2>/dev/null; then kill "$sf"; echo "softflowd did not finish" >&2; exit 1; fi
sleep 1
kill "$(cat "$work/nfcapd.pid")"
sleep 2
file=$(ls -S "$work"/cap/nfcapd.2* | head -n 1)
cp "$file" "$here/flows.nfcapd"
nfdump -r "$here/flows.nfcapd" -o csv >"$here/flows.csv"
nfdump -r "$here/flows.nfcapd" -q -o csv >"$here/flows-q.csv"
nfdump -r "$here/flows.nfcapd" -6 -q -N -o "fmt:%ts %sa %sp %da %dp %byt" >"$here/flows.fmt.txt"
nfdump -r "$here/flows.nfcapd" -6 -o long >"$here/flows.long.txt"
echo "Regenerated; now re-bless the goldens: RELBOT_BLESS=1 cargo test -p relbot-flow --test fixtures"

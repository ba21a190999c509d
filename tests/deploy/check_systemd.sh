#!/usr/bin/env bash
# Checks deploy/systemd/gpt4rec.service with systemd's own tools (no running systemd needed).
#
# usage: check_systemd.sh REPO_ROOT SERVER_BINARY
#
#  1. `systemd-analyze verify` on the unit, with ExecStart pointed at the binary just built (the installed path
#     /usr/local/bin/gpt4rec-server does not exist on a build machine). systemd-analyze exits 0 on unknown keys
#     and unparsable values and only prints them, so ANY output is a failure.
#  2. A control: the same unit with one misspelt key must make systemd-analyze complain, proving that step 1
#     can fail in this environment (a container without systemd as PID 1) rather than pass vacuously.
#  3. `systemd-analyze security --offline`: the overall exposure must stay at or below 2.0 ("OK").
#  4. The hardening the deployment promises is spelled out in the unit.
set -euo pipefail
ROOT=$1
SERVER=$2
UNIT_SRC="$ROOT/deploy/systemd/gpt4rec.service"
[ -x "$SERVER" ] || { echo "check_systemd: server binary $SERVER missing"; exit 1; }
command -v systemd-analyze >/dev/null || { echo "check_systemd: systemd-analyze not installed (scripts/install-deps.sh installs systemd)"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unit="$tmp/gpt4rec.service"
sed "s|/usr/local/bin/gpt4rec-server|$(realpath "$SERVER")|" "$UNIT_SRC" >"$unit"
grep -q "ExecStart=$(realpath "$SERVER") " "$unit" || { echo "check_systemd: ExecStart does not run /usr/local/bin/gpt4rec-server"; exit 1; }

# 1. verify, silently.
if ! out=$(systemd-analyze verify "$unit" 2>&1) || [ -n "$out" ]; then
  echo "check_systemd: systemd-analyze verify reported:"; echo "$out"; exit 1
fi

# 2. control: a misspelt key must be reported.
sed 's/^NoNewPrivileges=/NoNewPrivilegez=/' "$unit" >"$tmp/control.service"
out=$(systemd-analyze verify "$tmp/control.service" 2>&1 || true)
if ! grep -q "NoNewPrivilegez" <<<"$out"; then
  echo "check_systemd: control failed: systemd-analyze verify did not report a misspelt key here, so its silence proves nothing"
  exit 1
fi

# 3. exposure score (tenths: 20 = 2.0).
if ! out=$(systemd-analyze security --offline=true --threshold=20 "$unit" 2>&1); then
  echo "check_systemd: exposure above 2.0:"; grep -E "✗|Overall" <<<"$out"; exit 1
fi
score=$(grep -o "Overall exposure level for gpt4rec.service: [0-9.]*" <<<"$out" | awk '{print $NF}')

# 4. the promised directives.
for d in "ProtectSystem=strict" "NoNewPrivileges=yes" "StateDirectory=gpt4rec" "ReadWritePaths=/var/lib/gpt4rec" \
         "User=gpt4rec" "PrivateTmp=yes" "ProtectHome=yes" "CapabilityBoundingSet=$" "KillSignal=SIGTERM" \
         "RestrictAddressFamilies=" "SystemCallFilter=@system-service"; do
  grep -Eq "^$d" "$unit" || { echo "check_systemd: unit lacks $d"; exit 1; }
done
# The unit's data dir is the StateDirectory.
grep -q -- "--data_dir=/var/lib/gpt4rec" "$unit" || { echo "check_systemd: ExecStart --data_dir is not /var/lib/gpt4rec"; exit 1; }

echo "check_systemd: OK (verify clean, control caught, exposure $score)"

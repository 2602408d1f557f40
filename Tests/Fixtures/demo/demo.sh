#!/usr/bin/env bash
# The demo (`make demo`): install two misbehaving packages and a well-behaved one under
# `probity run`, offline, and show the report. Needs root (probes, a network namespace).
#
#   demo.sh PROBITY_BINARY [REPORT_DIR]
#
# - evil-hook (npm tarball, postinstall): reads ~/.ssh/id_rsa, reads another process's
#   /proc/PID/environ, appends to ~/.bashrc, downloads a second stage from a test host into /tmp
#   and runs it, then connects to an exfiltration port on the test host;
# - evil-setup (Python sdist, setup.py): reads ~/.aws/credentials and connects to the test host;
# - good-hook (npm tarball, postinstall): writes only inside its own directory.
# The test host lives in a network namespace this script creates (10.205.0.2); nothing leaves
# the machine. Exits 0 when probity flagged the run (status 86), 1 otherwise.
#
# DEMO_MODE=learn DEMO_CONTRACT=FILE: `probity learn` the same run into FILE (expects status 0);
# DEMO_MODE=check DEMO_CONTRACT=FILE: `probity run` with FILE in front of the built-in contracts
# (expects a clean run, status 0);
# DEMO_MODE=enforce: `probity run --mode enforce`: the payloads are killed at their first step.
set -euo pipefail

probity=$(readlink -f "${1:?usage: demo.sh PROBITY_BINARY [REPORT_DIR]}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/probity-demo.XXXXXX)
report=${2:-$work/report}
ns=probity-demo-$$
host_if=pdh$$
ns_if=pdn$$
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip link del "$host_if" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work/home" "$work/src" "$work/app" "$work/pylib"
}
trap cleanup EXIT

# setuptools and wheel for pip's isolated build, fetched from PyPI once: the monitored run itself
# installs with --no-index.
wheels=$(cd "$here/../../.." && pwd)/.build/demo-wheels
if ! ls "$wheels"/wheel-*.whl "$wheels"/setuptools-*.whl >/dev/null 2>&1; then
    python3 -m pip download -q --dest "$wheels" setuptools wheel
fi

# A home with planted secrets.
export HOME=$work/home
mkdir -p "$HOME/.ssh" "$HOME/.aws"
echo "-----BEGIN OPENSSH PRIVATE KEY----- (demo)" > "$HOME/.ssh/id_rsa"
printf '[default]\naws_secret_access_key = demo\n' > "$HOME/.aws/credentials"
echo "# demo .bashrc" > "$HOME/.bashrc"

# The test host: a second stage over HTTP on :8080, an exfiltration sink on :8443.
ip netns add "$ns"
ip link add "$host_if" type veth peer name "$ns_if"
ip link set "$ns_if" netns "$ns"
ip addr add 10.205.0.1/24 dev "$host_if"
ip link set "$host_if" up
ip netns exec "$ns" ip addr add 10.205.0.2/24 dev "$ns_if"
ip netns exec "$ns" ip link set "$ns_if" up
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" python3 -m http.server 8080 --bind 10.205.0.2 --directory "$here/testhost" >/dev/null 2>&1 &
pids+=($!)
ip netns exec "$ns" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.205.0.2", 8443)); s.listen(8)
while True:
    c, _ = s.accept(); c.recv(65536); c.close()
' >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/10.205.0.2/8080) 2>/dev/null && break
    sleep 0.1
done

# A "CI runner" process whose environment holds a secret.
env RUNNER_SECRET=demo-token sleep 600 &
runner=$!
pids+=($runner)

# The packages, built offline: npm tarballs and an sdist made by hand (running setup.py to
# build it would run its payload outside the monitor).
mkdir -p "$work/src" "$work/app"
cp -r "$here/evil-hook" "$here/good-hook" "$work/src/"
(cd "$work/src" && npm pack --silent ./evil-hook ./good-hook >/dev/null)
sdist=$work/src/evil-setup-0.4.0
mkdir -p "$sdist"
cp "$here/evil-setup/setup.py" "$sdist/"
printf 'Metadata-Version: 2.1\nName: evil-setup\nVersion: 0.4.0\n' > "$sdist/PKG-INFO"
tar -C "$work/src" -czf "$work/src/evil-setup-0.4.0.tar.gz" evil-setup-0.4.0
rm -rf "$sdist"
echo '{"name":"demo-app","version":"0.0.1","private":true}' > "$work/app/package.json"

set +e
cd "$work/app"
mode=${DEMO_MODE:-run}
expected=0
case $mode in
    run) args=(run --report "$report"); expected=86 ;;
    learn) args=(learn --report "$report" --output "${DEMO_CONTRACT:?}") ;;
    check) args=(run --report "$report" --policy "${DEMO_CONTRACT:?}" --policy builtin) ;;
    enforce) args=(run --mode enforce --report "$report"); expected=86 ;;
    *) echo "DEMO_MODE is run, learn, check or enforce" >&2; exit 2 ;;
esac
DEMO_MODE=$mode DEMO_RUNNER_PID=$runner DEMO_TEST_HOST=10.205.0.2 "$probity" "${args[@]}" -- sh -c "
    npm install --offline --no-audit --no-fund ../src/evil-hook-1.0.0.tgz ../src/good-hook-2.1.0.tgz >\$HOME/npm.log 2>&1
    npm=\$?
    python3 -m pip install -q --no-index --find-links $wheels --target ../pylib ../src/evil-setup-0.4.0.tar.gz >\$HOME/pip.log 2>&1
    pip=\$?
    [ \$npm -eq 0 ] || { echo \"npm install failed (\$npm)\" >&2; [ \"\$DEMO_MODE\" = enforce ] || cat \$HOME/npm.log >&2; }
    [ \$pip -eq 0 ] || { echo \"pip install failed (\$pip)\" >&2; [ \"\$DEMO_MODE\" = enforce ] || cat \$HOME/pip.log >&2; }
    exit \$((npm | pip))"
status=$?
set -e
echo
cat "$report/summary.md"
echo "reports: $report (probity exited with $status)"
[ "$status" -eq "$expected" ]

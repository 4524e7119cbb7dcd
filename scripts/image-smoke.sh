#!/usr/bin/env bash
# Builds the image and runs it the way a locked-down pod would, with no network but loopback:
#
#   1. podman build --isolation=chroot (base images: $BUN_IMAGE and $NODE_IMAGE when set, else local
#      stand-ins from scripts/image-base.sh, as no container registry can be reached here);
#   2. mounts the image's filesystem (podman image mount) read-only, with a tmpfs on /tmp and two host
#      directories as the workspace and state volumes, in new mount, network and PID namespaces: the
#      network has only loopback (no npm registry, no internet), and Bun is PID 1;
#   3. runs the image's entrypoint there with its own environment and numeric user (chroot --userspec);
#   4. checks /healthz, /ready, auth, one session against the scripted LLM (test/support/scripted-llm,
#      started in the same network namespace) that writes a file into the workspace, that the engine
#      installed nothing, that the inspector (/ui, /ui/sessions/{id}) and Swagger UI (/swagger) work from
#      the image's own files, without the token and with no request leaving the pod (every asset they
#      reference answers 200; the host's Chromium, in the same namespace, loads them: scripts/image-ui-check.ts),
#      and that SIGTERM stops Bun and the engine with exit code 0.
#
# `podman run` does not work on this machine (no usable runtime in the sandbox); the chroot runs the same
# files, user, environment and entrypoint. Needs root. Prints `smoke: PASS` last, or fails non-zero.
#
#   bash scripts/image-smoke.sh
#     IMAGE_TAG=...           name of the image (default localhost/opencode-sidecar:<version>)
#     BUN_IMAGE, NODE_IMAGE   base images to build from (default: the local stand-ins)
#     SMOKE_ENV="A=1 B=2"     extra environment for the container (e.g. ENGINE_SEED_DIR= to see the check fail)
#     ENGINE=1|2              the engine generation of the image run here (default: the Dockerfile's); the other
#                             generation's image is built too (tag suffix -engine<N>) and its engine checked
#                             in its own filesystem (OTHER_ENGINE=none skips that)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

if [ "${1:-}" = "--inner" ]; then
  inner=1
else
  inner=0
fi

say() { echo "smoke: $*"; }
fail() {
  echo "smoke: FAIL: $*" >&2
  exit 1
}

if [ "$inner" = 0 ]; then
  [ "$(id -u)" = 0 ] || fail "run as root (podman build and chroot)"
  need=()
  command -v podman >/dev/null || need+=(podman)
  if [ -z "${BUN_IMAGE:-}" ] && ! command -v debootstrap >/dev/null; then need+=(debootstrap); fi
  command -v curl >/dev/null || need+=(curl)
  command -v unshare >/dev/null || need+=(util-linux)
  command -v ip >/dev/null || need+=(iproute2)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  [ -x node_modules/.bin/bun ] || fail "node_modules missing: run npm install first"
  version=$(node -p 'require("./package.json").version')
  image=${IMAGE_TAG:-localhost/opencode-sidecar:$version}

  if [ -z "${BUN_IMAGE:-}" ] || [ -z "${NODE_IMAGE:-}" ]; then
    say "building local stand-ins for the base images (scripts/image-base.sh)"
    bases=$(bash scripts/image-base.sh | tail -n 2)
    BUN_IMAGE=${BUN_IMAGE:-$(echo "$bases" | sed -n 1p)}
    NODE_IMAGE=${NODE_IMAGE:-$(echo "$bases" | sed -n 2p)}
  fi
  engine=${ENGINE:-$(sed -n 's/^ARG ENGINE=//p' Dockerfile)}
  case "$engine" in 1) other=2 ;; 2) other=1 ;; *) fail "ENGINE is '$engine': 1 or 2" ;; esac
  [ "${OTHER_ENGINE:-}" != none ] || other=""
  # build <tag> <engine generation>: the image, from the stand-ins, replacing what the tag named before.
  build() {
    say "building $1 (engine generation $2) from BUN_IMAGE=$BUN_IMAGE NODE_IMAGE=$NODE_IMAGE"
    local started previous build_log size
    started=$(date +%s)
    previous=$(podman image inspect --format '{{.Id}}' "$1" 2>/dev/null || true)
    build_log=$(mktemp)
    if ! podman build --isolation=chroot \
      --build-arg "BUN_IMAGE=$BUN_IMAGE" --build-arg "NODE_IMAGE=$NODE_IMAGE" --build-arg "ENGINE=$2" \
      --build-arg "VERSION=$version" \
      --build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
      --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
      -t "$1" . >"$build_log" 2>&1; then
      tail -n 40 "$build_log" >&2
      fail "podman build failed (engine generation $2)"
    fi
    grep -h "lockfile check:" "$build_log" | sed 's/^/smoke: build: /' || true
    rm -f "$build_log"
    # The image this tag named before is now untagged: remove it (unless still in use).
    if [ -n "$previous" ] && [ "$previous" != "$(podman image inspect --format '{{.Id}}' "$1")" ]; then
      podman rmi "$previous" >/dev/null 2>&1 || true
    fi
    size=$(podman image inspect "$1" --format '{{.Size}}')
    say "built in $(($(date +%s) - started)) s; image size $((size / 1000 / 1000)) MB ($size bytes)"
  }
  # check_engine <tag> <generation>: the image ships that generation's engine, at the pinned version, and not the other.
  check_engine() {
    local fs want got
    fs=$(podman image mount "$1")
    want=$(node -p "require('./package.json').dependencies['$([ "$2" = 1 ] && echo opencode-ai || echo @opencode/cli)']")
    # The image's binary run from the host (same Debian and glibc): a chroot without /proc cannot run it.
    got=$("$fs/opt/opencode-sidecar/node_modules/.bin/opencode" --version 2>&1 | tail -n 1 || true)
    say "$1: .engine-generation $(cat "$fs/opt/opencode-sidecar/.engine-generation"), OPENCODE_BIN --version: $got"
    [ "$(cat "$fs/opt/opencode-sidecar/.engine-generation")" = "$2" ] || fail "$1 does not ship engine generation $2"
    case "$got" in *"$want") ;; *) fail "$1: the engine says '$got', package.json pins $want" ;; esac
    if [ "$2" = 1 ]; then [ ! -e "$fs/opt/opencode-sidecar/node_modules/@opencode" ]; else [ ! -e "$fs/opt/opencode-sidecar/node_modules/opencode-ai" ]; fi ||
      fail "$1 ships the other generation's engine too"
    podman image unmount "$1" >/dev/null
  }
  build "$image" "$engine"
  check_engine "$image" "$engine"

  # The image's own run-time settings, as a container runtime would apply them.
  user=$(podman image inspect "$image" --format '{{.Config.User}}')
  workdir=$(podman image inspect "$image" --format '{{.Config.WorkingDir}}')
  entrypoint=$(podman image inspect "$image" --format '{{range .Config.Entrypoint}}{{.}}{{"\n"}}{{end}}')
  envfile=$(mktemp)
  podman image inspect "$image" --format '{{range .Config.Env}}{{.}}{{"\n"}}{{end}}' | sed '/^$/d' >"$envfile"
  [ -n "$user" ] && [ "${user%%:*}" != 0 ] && [ "${user%%:*}" != root ] || fail "image user is '$user', not a non-root uid"
  say "image runs as $user: ${entrypoint//$'\n'/ }"

  rootfs=$(podman image mount "$image")
  work=$(mktemp -d /tmp/opencode-image-smoke.XXXXXX)
  cleanup() {
    podman image unmount "$image" >/dev/null 2>&1 || true
    rm -rf "$work" "$envfile"
  }
  trap cleanup EXIT
  status=0
  IMAGE_ROOTFS=$rootfs IMAGE_USER=$user IMAGE_WORKDIR=$workdir IMAGE_ENTRYPOINT=$entrypoint IMAGE_ENVFILE=$envfile \
    SMOKE_WORK=$work unshare --mount --net bash "$0" --inner || status=$?
  [ "$status" = 0 ] || fail "the image did not pass (exit $status)"
  if [ -n "$other" ]; then
    build "$image-engine$other" "$other"
    check_engine "$image-engine$other" "$other"
  fi
  say "PASS"
  exit 0
fi

# ---- inside new mount and network namespaces (root) ----
work=$SMOKE_WORK
uid=${IMAGE_USER%%:*}
gid=${IMAGE_USER#*:}
[ "$gid" != "$IMAGE_USER" ] || gid=$uid
ip link set lo up
if curl -s -m 3 -o /dev/null https://registry.npmjs.org/ 2>/dev/null; then fail "the npm registry is reachable from the namespace"; fi
say "network: loopback only (the npm registry and the internet are unreachable)"

# Root filesystem: the image, read-only. Writable: /tmp (tmpfs), the workspace and state volumes.
root=$work/root
mkdir -p "$root" "$work/workspace" "$work/state"
mount --bind "$IMAGE_ROOTFS" "$root"
mount -o remount,bind,ro "$root"
mount -t tmpfs -o mode=1777,size=512m tmpfs "$root/tmp"
mount --rbind /dev "$root/dev"
git -C "$work/workspace" init -q
git -C "$work/workspace" -c user.name=smoke -c user.email=smoke@example.com commit -q --allow-empty -m init
chown -R "$uid:$gid" "$work/workspace" "$work/state"
chmod 0700 "$work/state"
mount --bind "$work/workspace" "$root/workspace"
mount --bind "$work/state" "$root/var/lib/opencode-sidecar"

# The scripted LLM (test/support/scripted-llm, with the host's Bun) in the same network namespace: a turn
# calling the write tool, one calling grep (ripgrep, which the engine would otherwise download), a closing text.
(cd "$repo" && exec node_modules/.bin/bun -e '
  import { startScriptedLlm } from "./test/support/scripted-llm";
  const llm = await startScriptedLlm();
  llm.script("smoke-key", [
    { kind: "tool", text: "Writing hello.txt.", calls: [{ name: "write", args: { filePath: "hello.txt", content: "Hello from the scripted LLM!\n" } }] },
    { kind: "tool", calls: [{ name: "grep", args: { pattern: "scripted LLM" } }] },
    { kind: "text", text: "Created hello.txt." },
  ]);
  console.log(llm.url);
  process.on("SIGTERM", () => llm.close().then(() => process.exit(0)));
') >"$work/llm.out" 2>&1 &
llm_pid=$!
for _ in $(seq 1 100); do
  llm_url=$(head -n 1 "$work/llm.out" 2>/dev/null | grep -o 'http://127.0.0.1:[0-9]*/v1' || true)
  [ -n "$llm_url" ] && break
  sleep 0.1
done
[ -n "${llm_url:-}" ] || fail "scripted LLM did not start: $(cat "$work/llm.out")"

# The container process: the image's environment and entrypoint, its numeric user, PID 1 of a new PID
# namespace. npm_config_registry points at a closed port in case anything tried npm anyway.
secret=smoke-shared-secret-0123456789
mapfile -t image_env <"$IMAGE_ENVFILE"
mapfile -t entry <<<"$IMAGE_ENTRYPOINT"
unshare --pid --fork --mount-proc="$root/proc" \
  chroot --userspec="$uid:$gid" "$root" \
  /usr/bin/env -i -C "${IMAGE_WORKDIR:-/}" "${image_env[@]}" HOSTNAME=smoke LOG_LEVEL=info OPENCODE_SHARED_SECRET=$secret \
  K8S_REPORTER=off npm_config_registry=http://127.0.0.1:9 ${SMOKE_ENV:-} \
  "${entry[@]}" >"$work/sidecar.out" 2>&1 &
unshare_pid=$!
for _ in $(seq 1 50); do
  pid1=$(pgrep -P "$unshare_pid" | head -n 1 || true)
  [ -n "$pid1" ] && break
  sleep 0.1
done
[ -n "${pid1:-}" ] || fail "container process did not start"
finish() {
  kill "$llm_pid" 2>/dev/null || true
  kill -KILL "$unshare_pid" 2>/dev/null || true
  umount -l "$root" 2>/dev/null || true
}
trap finish EXIT
dump() {
  echo "--- sidecar output (last 30 lines)" >&2
  tail -n 30 "$work/sidecar.out" >&2
}

base=http://127.0.0.1:3003
ready=""
for _ in $(seq 1 300); do
  kill -0 "$unshare_pid" 2>/dev/null || { dump; fail "the sidecar exited during start"; }
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/ready")" = 200 ]; then ready=1; break; fi
  sleep 0.2
done
[ -n "$ready" ] || { dump; fail "/ready never answered 200"; }
read -r puid pgid < <(awk '/^Uid:/{u=$2} /^Gid:/{g=$2} END{print u, g}' "/proc/$pid1/status")
pcomm=$(tr '\0' ' ' <"/proc/$pid1/cmdline")
say "PID 1 of the container: $pcomm(uid $puid, gid $pgid)"
[ "$puid" = "$uid" ] || fail "runs as uid $puid, not $uid"
case "$pcomm" in /usr/local/bin/bun*) ;; *) fail "PID 1 is not Bun: $pcomm" ;; esac
# A non-dumpable process's /proc files belong to root, so another process of uid 10001 (the agent's tools)
# cannot read its memory or environment (issue 10: src/security/harden.ts runs prctl through bun:ffi).
environ_owner=$(stat -c %u "/proc/$pid1/environ")
say "PID 1 non-dumpable: /proc/$pid1/environ owned by uid $environ_owner"
[ "$environ_owner" = 0 ] || fail "PID 1 is dumpable: /proc/$pid1/environ is owned by uid $environ_owner, readable by the agent's uid"
# The image runs the sidecar without JavaScriptCore's FTL tier (see the Dockerfile's ENV); root reads it.
pid1_env=$(tr '\0' '\n' < "/proc/$pid1/environ")
grep -qx 'BUN_JSC_useFTLJIT=0' <<<"$pid1_env" || fail "PID 1 runs without BUN_JSC_useFTLJIT=0 (the image's ENV)"
say "PID 1 runs with BUN_JSC_useFTLJIT=0"

healthz=$(curl -s -w ' %{http_code}' "$base/healthz")
say "GET /healthz -> $healthz"
[ "$healthz" = '{"status":"ok"} 200' ] || fail "/healthz"
say "GET /ready -> $(curl -s -w ' %{http_code}' "$base/ready")"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/sessions/00000000-0000-4000-8000-000000000000/status")
say "GET /sessions/... without the bearer token -> $code"
[ "$code" = 401 ] || fail "expected 401 without the shared secret"

sid=$(cat /proc/sys/kernel/random/uuid)
body=$(printf '{"session_id":"%s","prompt":"Create hello.txt with a greeting.","model_config":{"provider":"openai-compatible","model":"scripted","api_key":"smoke-key","api_endpoint":"%s","temperature":0.2,"max_tokens":1024,"enabled_tools":["read","write","edit","bash","grep","glob"]}}' "$sid" "$llm_url")
code=$(curl -s -o "$work/create.json" -w '%{http_code}' -H "authorization: Bearer $secret" -H 'content-type: application/json' -d "$body" "$base/sessions")
say "POST /sessions (openai-compatible, scripted LLM) -> $code"
[ "$code" = 201 ] || { cat "$work/create.json" >&2; dump; fail "session not created"; }
state=""
for _ in $(seq 1 300); do
  state=$(curl -s -H "authorization: Bearer $secret" "$base/sessions/$sid/status")
  case "$state" in *'"status":"running"'* | *'"status":"pending"'*) sleep 0.2 ;; *) break ;; esac
done
say "session status: $(echo "$state" | grep -o '"status":"[a-z]*"' | head -n 1), files_modified $(echo "$state" | grep -o '"files_modified":\[[^]]*\]')"
case "$state" in *'"status":"completed"'*) ;; *) echo "$state" >&2; dump; fail "the session did not complete" ;; esac
curl -s -m 10 -H "authorization: Bearer $secret" "$base/sessions/$sid/stream" >"$work/stream.txt" || true
say "GET /sessions/{id}/stream replayed $(grep -c '^event: ' "$work/stream.txt") events: $(grep '^event: ' "$work/stream.txt" | cut -c8- | uniq | tr '\n' ' ')"
content=$(cat "$work/workspace/hello.txt" 2>/dev/null || true)
say "workspace/hello.txt (owner uid $(stat -c %u "$work/workspace/hello.txt" 2>/dev/null)): $content"
[ "$content" = "Hello from the scripted LLM!" ] || {
  grep -A1 -E '^event: (tool_call|tool_result|error)' "$work/stream.txt" | cut -c1-400 >&2
  dump
  fail "the agent did not write hello.txt into the workspace"
}

grep_result=$(grep -A2 '^event: tool_result' "$work/stream.txt" | grep '^data: .*"tool":"grep"' || true)
case "$grep_result" in
  *'"is_error":false'*hello.txt* | *hello.txt*'"is_error":false'*) say "grep tool (ripgrep) found the file: ok" ;;
  *) echo "$grep_result" >&2; fail "the grep tool did not work offline" ;;
esac

# The pages, from the image's own files, with no way out of the pod: served without the token, every asset
# they reference same-origin and 200, then loaded in Chromium (in this namespace), where any request that is
# not to the sidecar fails the check.
for page in /ui "/ui/sessions/$sid" /swagger; do
  html=$(curl -s -w '\n%{http_code}' "$base$page")
  [ "$(echo "$html" | tail -n 1)" = 200 ] || fail "GET $page without the token: $(echo "$html" | tail -n 1)"
  refs=$(echo "$html" | grep -oE '(src|href)="[^"]+"' | sed -E 's/^(src|href)="//; s/"$//' | sort -u)
  for ref in $refs; do
    case "$ref" in /*) ;; *) fail "$page references $ref, not a path on this origin" ;; esac
    code=$(curl -s -o /dev/null -w '%{http_code}' "$base$ref")
    [ "$code" = 200 ] || fail "$page references $ref, which answers $code"
  done
  say "GET $page (no token) -> 200; assets: $(echo $refs | tr '\n' ' ')(all 200, same origin)"
done
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/swagger/json")
[ "$code" = 200 ] || fail "GET /swagger/json without the token: $code"
if ! (cd "$repo" && node_modules/.bin/bun scripts/image-ui-check.ts "$base" "$secret" "$sid") 2>&1 | sed 's/^/smoke: /'; then
  fail "the pages did not work offline from the image"
fi

# Nothing fetched at run time: the engine's plugin directory is the image's, no npm cache, no provider
# package, no ripgrep download, and no install attempt in the engine's logs.
# The engine's home is rebuilt at each engine start under TMPDIR (the pod's /tmp), out of STATE_DIR (SECURITY.md).
engine=$work/state/engine
[ ! -e "$engine/home" ] || fail "the engine's home is in STATE_DIR ($engine/home), where the agent's writes would outlive the process"
home=$(ls -d "$root"/tmp/opencode-sidecar-engine-home-* 2>/dev/null | head -n 1)
[ -n "$home" ] || fail "no engine home under the container's /tmp"
say "engine home: ${home#"$root"}"
link=$(readlink "$home/.config/opencode/node_modules" || true)
say "engine config node_modules -> ${link:-<not a link>}"
[ "$link" = /opt/opencode-sidecar/engine-seed/node_modules ] || fail "engine dependencies not linked from the image"
engine_version=$(cat "$root/opt/opencode-sidecar/.engine-version")
if [ "$(cat "$root/opt/opencode-sidecar/.engine-generation")" = 1 ]; then
  plugin=$(grep -o '"version": *"[^"]*"' "$root$link/@opencode-ai/plugin/package.json" | grep -o '[0-9][^"]*')
  say "@opencode-ai/plugin $plugin pre-installed for engine $engine_version"
  [ "$plugin" = "$engine_version" ] || fail "plugin $plugin does not match engine $engine_version"
fi
for p in "$home/.npm" "$engine/cache/opencode/packages" "$engine/cache/opencode/bin/rg"; do
  [ ! -e "$p" ] || fail "the engine fetched something at run time: $p"
done
if grep -rqiE 'dependency install failed|downloading ripgrep|failed to fetch' "$engine/data/opencode/log" 2>/dev/null; then
  grep -rhiE 'dependency install failed|downloading ripgrep|failed to fetch' "$engine/data/opencode/log" | head -n 5 >&2
  fail "the engine tried to reach the network"
fi
say "engine installed and downloaded nothing (no npm cache, no packages, no rg download, clean engine log)"
if grep -qiE 'EROFS|read-only file system' "$work/sidecar.out"; then
  grep -iE 'EROFS|read-only file system' "$work/sidecar.out" | head -n 5 >&2
  fail "something tried to write to the read-only root filesystem"
fi

engine_pids=$(pgrep -P "$pid1" || true)
say "SIGTERM to PID 1 (engine child pids: ${engine_pids//$'\n'/ })"
t0=$(date +%s%N)
kill -TERM "$pid1"
rc=0
wait "$unshare_pid" || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
trap - EXIT
for p in $engine_pids; do
  if kill -0 "$p" 2>/dev/null; then fail "engine process $p still alive after the sidecar exited"; fi
done
say "exited with code $rc after $ms ms; $(grep -c '' "$work/sidecar.out") log lines, last: $(tail -n 1 "$work/sidecar.out" | grep -o '"msg":"[^"]*"')"
kill "$llm_pid" 2>/dev/null || true
umount -l "$root" 2>/dev/null || true
[ "$rc" = 0 ] || { dump; fail "exit code $rc on SIGTERM"; }

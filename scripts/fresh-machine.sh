#!/usr/bin/env bash
# The README's two commands as a newcomer runs them: on a clean root filesystem with only Debian, Node and
# npm (the node:<version>-bookworm-slim stand-in that scripts/image-base.sh builds, or $NODE_IMAGE), holding
# the repository's tracked files as a tarball download has them (git archive: no .git, no node_modules),
# as root (as in a container), entered with chroot (`podman run` does not work on this machine; see
# scripts/image-smoke.sh). It runs
#
#   npm run setup && npm run demo
#   npm test
#
# then each extra command given as an argument, in the same root and directory, and exits with the first
# failure's code. CI=true passes through (.ci/run). The root is a podman container's writable layer,
# removed at the end (FRESH_KEEP=1 keeps it). Needs root and podman (and debootstrap for the stand-in).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

[ "$(id -u)" = 0 ] || { echo "fresh-machine: run as root (podman and chroot)" >&2; exit 1; }
command -v podman >/dev/null || { echo "fresh-machine: needs podman (apt-get install -y podman)" >&2; exit 1; }

if [ -z "${NODE_IMAGE:-}" ]; then
  NODE_IMAGE=$(bash scripts/image-base.sh | tail -n 1)
fi
# What is in the image: Debian, node and npm, nothing else the tests use.
ctr=$(podman create --quiet "$NODE_IMAGE" true)
root=$(podman mount "$ctr")
cleanup() {
  if [ "${FRESH_KEEP:-}" = 1 ]; then
    echo "fresh-machine: kept $root (podman umount $ctr; podman rm $ctr)"
    return
  fi
  podman umount "$ctr" >/dev/null 2>&1 || true
  podman rm -f "$ctr" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# As the official Debian images (debian:*-slim, node:*-slim) have it: dpkg does not fsync each file.
mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"

# The tracked files, uncommitted edits included (git stash create makes that tree without touching anything).
app=/root/opencode-sidecar
mkdir -p "$root$app"
rev=$(git stash create 2>/dev/null || true)
git archive "${rev:-HEAD}" | tar -x -C "$root$app"
echo "fresh-machine: $NODE_IMAGE, $(git rev-parse --short "${rev:-HEAD}") in $app; $(chroot "$root" sh -c \
  'for b in node npm git rg chromium firefox-esr setpriv; do command -v $b >/dev/null && printf "%s " $b; done') on PATH"

# The image's environment, as a container runtime would set it.
mapfile -t image_env < <(podman image inspect "$NODE_IMAGE" --format '{{range .Config.Env}}{{.}}{{"\n"}}{{end}}' | sed '/^$/d')
commands=("npm run setup && npm run demo" "npm test" "$@")
script=""
for c in "${commands[@]}"; do
  script+="echo; echo \"fresh-machine\$ $c\"; started=\$(date +%s); $c || exit \$?; "
  script+="echo \"fresh-machine: '$c' took \$((\$(date +%s) - started)) s\"; "
done

# A mount namespace of its own: /proc, /sys, /dev and the name resolution, as a container has them, go
# away with it.
unshare --mount --propagation private bash -c '
  set -e
  root=$1; shift
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --rbind /dev "$root/dev"
  for f in /etc/resolv.conf /etc/hosts; do
    [ -e "$root$f" ] || touch "$root$f"
    mount --bind "$f" "$root$f"
  done
  exec chroot "$root" "$@"
' fresh "$root" /usr/bin/env -i "${image_env[@]}" HOME=/root TERM=dumb CI="${CI:-}" \
  bash -c "cd $app && $script"

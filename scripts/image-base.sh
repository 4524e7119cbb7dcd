#!/usr/bin/env bash
# Builds local stand-ins for the two base images the Dockerfile pulls, for
# machines that cannot reach a container registry (this one reaches only npm
# and Debian's packages):
#
#   $STANDIN_BUN   (default localhost/stand-in/oven-bun:<bun version>-slim-<rev>)
#     Debian bookworm (debootstrap, minbase) + /usr/local/bin/bun from the
#     pinned `bun` npm package, user bun (1000), like the official oven/bun
#     slim image: the same Bun binary, a Debian userland.
#   $STANDIN_NODE  (default localhost/stand-in/node:<node version>-bookworm-slim-<rev>)
#     The same Debian + this machine's node and npm in /usr/local, like the
#     official node image. Only the build stage uses it. It also trusts this
#     machine's CA bundle (NODE_EXTRA_CA_CERTS), because the network here may
#     intercept TLS to the npm registry with a local CA.
#
# Needs root, podman and debootstrap. The debootstrap tarball is cached in
# $IMAGE_CACHE_DIR (default /var/tmp/opencode-sidecar-image); images that
# already exist are kept. Prints the two image names on its last two lines.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${IMAGE_CACHE_DIR:-/var/tmp/opencode-sidecar-image}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
bun_bin=node_modules/bun/bin/bun.exe
[ -x "$bun_bin" ] || { echo "image-base: $bun_bin missing: run npm install first" >&2; exit 1; }
bun_version=$("$bun_bin" --version)
node_bin=$(command -v node)
node_version=$(node --version | sed 's/^v//')
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
# The stand-ins' revision: bumped when what they hold changes, so a cache built by an older script is not reused.
rev=r2
debian=localhost/stand-in/debian:${suite}-minbase-$rev
bun_image=${STANDIN_BUN:-localhost/stand-in/oven-bun:${bun_version}-slim-$rev}
node_image=${STANDIN_NODE:-localhost/stand-in/node:${node_version}-${suite}-slim-$rev}

exists() { podman image exists "$1"; }

if ! exists "$debian"; then
  mkdir -p "$cache"
  tarball=$cache/$suite-minbase-$rev.tar
  if [ ! -s "$tarball" ]; then
    rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
    echo "image-base: debootstrap $suite (minbase) into $rootfs"
    debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
      tail -n 20 "$cache/debootstrap.log" >&2
      exit 1
    }
    # An image carries no apt lists or caches, like the official slim images.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
    # The official images' sources: the release, its updates and its security suite (without the last, apt
    # installs the release's first builds: e.g. a Firefox ESR too old for puppeteer's WebDriver BiDi commands).
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" "$suite" "$suite" "${mirror%/debian}/debian-security" "$suite" >"$rootfs/etc/apt/sources.list.d/debian.sources"
    : >"$rootfs/etc/apt/sources.list"
    tar -C "$rootfs" --numeric-owner -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf "$rootfs"
  fi
  podman import --quiet --change 'CMD ["bash"]' "$tarball" "$debian" >/dev/null
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

if ! exists "$bun_image"; then
  cp "$bun_bin" "$ctx/bun"
  cat >"$ctx/Containerfile" <<CONTAINERFILE
FROM $debian
COPY bun /usr/local/bin/bun
RUN ln -s /usr/local/bin/bun /usr/local/bin/bunx \
 && groupadd --gid 1000 bun && useradd --uid 1000 --gid bun --shell /bin/sh --create-home bun \
 && mkdir -p /home/bun/app && chown bun:bun /home/bun/app
ENV BUN_RUNTIME_TRANSPILER_CACHE_PATH=0 BUN_INSTALL_BIN=/usr/local/bin
WORKDIR /home/bun/app
CMD ["/usr/local/bin/bun"]
CONTAINERFILE
  podman build --isolation=chroot -q -t "$bun_image" "$ctx" >/dev/null
  rm -f "$ctx/bun"
fi

if ! exists "$node_image"; then
  mkdir -p "$ctx/node/bin" "$ctx/node/lib/node_modules"
  cp "$node_bin" "$ctx/node/bin/node"
  cp -a "$npm_dir" "$ctx/node/lib/node_modules/npm"
  mkdir -p "$ctx/node/share/ca-certificates"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/node/share/ca-certificates/build-host.crt"
  cat >"$ctx/Containerfile" <<CONTAINERFILE
FROM $debian
COPY node /usr/local/
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
ENV NODE_VERSION=$node_version NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/build-host.crt
CMD ["node"]
CONTAINERFILE
  podman build --isolation=chroot -q -t "$node_image" "$ctx" >/dev/null
fi

echo "$bun_image"
echo "$node_image"

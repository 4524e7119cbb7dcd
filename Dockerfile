# opencode-sidecar: the sidecar (Bun + Elysia) and the OpenCode engine it supervises, in one image that never
# needs the internet or a registry at run time. Build (the base images are pinned by exact tag):
#
#   podman build -t opencode-sidecar .            # or: docker build -t opencode-sidecar .
#
# Where no container registry can be reached, scripts/image-base.sh builds local stand-ins for both bases and
# scripts/image-smoke.sh passes them with --build-arg BUN_IMAGE=... --build-arg NODE_IMAGE=...
#
# Run-time contract (see README, "Deploying to Kubernetes"): runs as uid/gid 10001; the root filesystem may be
# read-only; the only writes go to $STATE_DIR (a volume), $WORKSPACE_DIR (the shared workspace volume) and /tmp.

# Bun runtime image: the official image, same Bun version as the `bun` pin in package.json (checked below).
ARG BUN_IMAGE=oven/bun:1.4.5-slim
# Build stage only: npm installs the production dependencies from the lockfile and runs their install scripts.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# The engine the image ships, one of the two the sidecar drives (README, "Engines"): 1 is OpenCode 1.18
# (`opencode-ai`), 2 is OpenCode 2.1 (`@opencode/cli`). The other one's package is removed from the image.
ARG ENGINE=1

FROM ${NODE_IMAGE} AS deps
WORKDIR /build
COPY package.json package-lock.json ./
COPY scripts/image-lockcheck.sh /usr/local/bin/image-lockcheck
# `npm install`, not `npm ci`: see .ci/run (the npm mirror omits other platforms' optional packages from the
# lockfile). image-lockcheck then fails the build unless every installed package has its lockfile version.
# The runtime image brings Bun itself (the same version, checked below). Each engine package's install script
# has hard-linked its platform binary over its own bin (node_modules/<package>/bin/opencode.exe): the platform
# variants go (1.18: ~280 MB; 2.1: ~820 MB), and so does the engine this image does not ship.
# node_modules/.bin/opencode is the one it ships (both packages name their bin `opencode`). Of swagger-ui-dist,
# /swagger serves swagger-ui-bundle.js and swagger-ui.css: its other builds and maps go (~11 MB).
# ARG ENGINE comes after the install, so that both generations' images share its layer.
RUN cp package-lock.json /tmp/package-lock.json \
 && npm install --omit=dev --no-audit --no-fund --loglevel=error \
 && image-lockcheck /tmp/package-lock.json
ARG ENGINE
RUN node -p 'require("./package.json").dependencies.bun' > .bun-version \
 && case "$ENGINE" in \
      1) package=opencode-ai; other=node_modules/@opencode ;; \
      2) package=@opencode/cli; other=node_modules/opencode-ai ;; \
      *) echo "ENGINE is '$ENGINE': 1 (OpenCode 1.18) or 2 (OpenCode 2.1)" >&2; exit 1 ;; \
    esac \
 && node -p "require('./package.json').dependencies['$package']" > .engine-version \
 && echo "$ENGINE" > .engine-generation \
 && rm -rf node_modules/bun node_modules/@oven node_modules/.bin/bun node_modules/.bin/bunx \
           node_modules/opencode-linux-* node_modules/opencode-darwin-* node_modules/opencode-windows-* \
           node_modules/@opencode/cli-* node_modules/.bin/opencode node_modules/.bin/opencode2 "$other" \
 && ln -s "../$package/bin/opencode.exe" node_modules/.bin/opencode \
 && version=$(node_modules/.bin/opencode --version) \
 && case "$version" in *"$(cat .engine-version)") ;; *) echo "engine says '$version', package.json pins $(cat .engine-version)" >&2; exit 1 ;; esac \
 && cd node_modules/swagger-ui-dist \
 && rm -f ./*.map swagger-ui-es-bundle*.js swagger-ui.js swagger-ui-standalone-preset.js \
 && cd ../..
# OpenCode 1.x would npm-install at start into its global config directory ($XDG_CONFIG_HOME/opencode):
# `@opencode-ai/plugin` at the engine's own version, with this package.json and .gitignore (the engine's
# Config.ensureGitignore content). It skips that install when node_modules exists and the lockfile's root lists
# every dependency of package.json; src/engine/seed.ts links this directory into the engine's home at start.
# OpenCode 2.1 installs nothing there (measured: its config directory stays empty): its seed is an empty
# node_modules and manifest. Provider packages
# (@ai-sdk/openai, anthropic, openai-compatible) are bundled inside the engine binary and need nothing.
RUN mkdir -p engine-seed/node_modules \
 && cd engine-seed \
 && if [ "$ENGINE" = 1 ]; then \
      printf '{\n  "dependencies": {\n    "@opencode-ai/plugin": "%s"\n  }\n}\n' "$(cat ../.engine-version)" > package.json \
      && npm install --no-audit --no-fund --loglevel=error --ignore-scripts \
      && test -f node_modules/@opencode-ai/plugin/package.json; \
    else \
      printf '{\n  "dependencies": {}\n}\n' > package.json \
      && printf '{\n  "lockfileVersion": 3,\n  "packages": {\n    "": {}\n  }\n}\n' > package-lock.json; \
    fi \
 && printf 'node_modules\npackage.json\npackage-lock.json\nbun.lock\n.gitignore' > .gitignore

FROM ${BUN_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG BUN_IMAGE
ARG ENGINE
LABEL org.opencontainers.image.title="opencode-sidecar" \
      org.opencontainers.image.description="Kubernetes sidecar that runs OpenCode coding sessions and streams them as typed SSE" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${BUN_IMAGE}" \
      io.opencode-sidecar.engine-generation="${ENGINE}" \
      org.opencontainers.image.licenses="UNLICENSED"

# ripgrep: the engine's grep/glob tools run `rg` and would otherwise download it from GitHub at run time.
# git: workspaces are git clones and the engine snapshots them with git. ca-certificates: HTTPS to providers.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ripgrep git ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 sidecar \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/opencode-sidecar --shell /usr/sbin/nologin sidecar \
 && mkdir -p /workspace /var/lib/opencode-sidecar \
 && chown 10001:10001 /workspace /var/lib/opencode-sidecar \
 && chmod 0700 /var/lib/opencode-sidecar

WORKDIR /opt/opencode-sidecar
COPY --from=deps /build/node_modules ./node_modules
COPY --from=deps /build/engine-seed ./engine-seed
COPY --from=deps /build/.bun-version /build/.engine-version /build/.engine-generation ./
COPY package.json tsconfig.json ./
# src includes the inspector (src/ui: its browser code is bundled by Bun in memory on the first request, and its
# static files); Swagger UI's assets come from node_modules/swagger-ui-dist: nothing is loaded from a CDN.
COPY src ./src
RUN test "$(bun --version)" = "$(cat .bun-version)" \
 || { echo "base image has Bun $(bun --version), package.json pins $(cat .bun-version)" >&2; exit 1; }
RUN test -f node_modules/swagger-ui-dist/swagger-ui-bundle.js && test -f node_modules/eventsource-parser/package.json \
 && test -f src/ui/static/index.html

# BUN_RUNTIME_TRANSPILER_CACHE_PATH=0: Bun writes no transpiler cache (the root filesystem may be read-only).
# BUN_JSC_useFTLJIT=0: the sidecar runs without JavaScriptCore's top JIT tier (FTL). Its hot paths wait on I/O:
# relay, replay and fan-out measured the same without it (bench/RESULTS.md, "The FTL tier"), and a warm sidecar
# holds ~2 MB less (the FTL compiler's code is never paged in, nor its working memory kept). The engine does not
# inherit it (its environment is built from scratch: src/engine/environment.ts).
# HOME is the state directory (the engine gets its own home below it); TMPDIR is /tmp (an emptyDir in the pod).
ENV NODE_ENV=production \
    BUN_RUNTIME_TRANSPILER_CACHE_PATH=0 \
    BUN_JSC_useFTLJIT=0 \
    HOME=/var/lib/opencode-sidecar \
    TMPDIR=/tmp \
    WORKSPACE_DIR=/workspace \
    STATE_DIR=/var/lib/opencode-sidecar \
    ENGINE_SEED_DIR=/opt/opencode-sidecar/engine-seed \
    OPENCODE_BIN=/opt/opencode-sidecar/node_modules/.bin/opencode \
    PORT=3003

USER 10001:10001
EXPOSE 3003
# Bun is PID 1 (exec form, no shell, no init): it handles SIGTERM itself (drain, then stop the engine child).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/bun", "/opt/opencode-sidecar/src/main.ts"]

# syntax=docker/dockerfile:1
# A Switchboard app in a container: `docker build --build-arg APP=examples/chat -t my-app .` from the repository
# root, then `docker run --init -p 3000:3000 my-app`. See docs/deploy.md.
#
# Stage 1 builds and packs the Switchboard packages from this repository (until they are on npm, the app
# installs these tarballs). Stage 2 installs the app's production dependencies. Stage 3 is what runs: Node,
# the app's files and node_modules, a non-root user, a health check, and the server as PID 1's only child
# (use `docker run --init`, or `init: true` in compose, for signal forwarding and zombie reaping).
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm-slim AS packages
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.build.json LICENSE ./
COPY scripts ./scripts
COPY packages ./packages
COPY examples ./examples
RUN npm ci --no-fund --no-audit --ignore-scripts && node scripts/pack.ts --out /packages

FROM node:${NODE_VERSION}-bookworm-slim AS app
ARG APP=examples/chat
WORKDIR /app
COPY --from=packages /src/${APP}/ ./
COPY --from=packages /packages/*.tgz /packages/
# The app's own dependencies, with the @switchboard packages from the tarballs; no dev dependencies. The
# optional back ends (@switchboard/postgres, @switchboard/redis, with their drivers) only when the app depends on them.
RUN npm pkg delete devDependencies \
 && tarballs="$(node -p "const deps = require('./package.json').dependencies ?? {}; require('fs').readdirSync('/packages').filter((f) => f.endsWith('.tgz') && (!f.startsWith('switchboard-postgres-') || '@switchboard/postgres' in deps) && (!f.startsWith('switchboard-redis-') || '@switchboard/redis' in deps)).map((f) => '/packages/' + f).join(' ')")" \
 && for dep in $(node -p "Object.keys(require('./package.json').dependencies ?? {}).filter((n) => n.startsWith('@switchboard/')).join(' ')"); do npm pkg delete "dependencies.$dep"; done \
 && npm install --omit=dev --no-fund --no-audit $tarballs \
 && rm -rf test .tmp

FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
WORKDIR /app
COPY --from=app --chown=node:node /app ./
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT ?? 3000}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop) shuts down gracefully: no new messages, running handlers finish, clients get 1001.
STOPSIGNAL SIGTERM
CMD ["node", "node_modules/@switchboard/cli/bin/switchboard.js", "start"]

# syntax=docker/dockerfile:1
# Authplane: build the TypeScript once, run the compiled server as a non-root user.

# --- build: all dependencies, tsc → dist/, then the production dependencies only ----------------------
FROM node:20-bookworm-slim AS build
# argon2 compiles itself when its prebuilt binary does not load (it crashes on some CPUs/VMs), and the slim
# image has no toolchain: the build stage brings one (with the image's own Node headers, so nothing is
# fetched from nodejs.org); the runtime stage copies the result and needs none.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm_config_nodedir=/usr/local npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
# `npm run build` copies the hosted pages' assets (CSS, scripts) and Redoc's bundle for /auth/docs (a devDependency,
# pruned below) into dist with scripts/copy-assets.mjs.
COPY scripts/copy-assets.mjs ./scripts/
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund && rm -rf node_modules/argon2/build/Release/obj.target

# --- runtime: production dependencies only ---------------------------------------------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/var/lib/authplane
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
COPY bin ./bin
# DATA_DIR holds the development mail outbox, and the embedded database when DATABASE_URL is unset.
RUN mkdir -p /var/lib/authplane && chown node:node /var/lib/authplane
VOLUME ["/var/lib/authplane"]
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + (process.env.AUTH_BASE_PATH || '/auth') + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# bin/authplane.js runs dist/main.js; `serve` migrates, then listens. SIGTERM drains and exits 0.
CMD ["node", "bin/authplane.js", "serve"]

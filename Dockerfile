# syntax=docker/dockerfile:1
# Authplane: build the TypeScript once, run the compiled server as a non-root user.

# --- build: all dependencies, tsc → dist/ ---------------------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build
# The hosted pages read their CSS and scripts next to the compiled module (src/modules/ui/assets.ts).
RUN cp -r src/modules/ui/assets dist/modules/ui/assets

# --- runtime: production dependencies only ---------------------------------------------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/var/lib/authplane
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
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

# syntax=docker/dockerfile:1
# Renova in a container: `docker build -t renova .` then
#   docker run -p 8080:8080 -v renova-data:/data -e RENOVA_ADMIN_TOKEN=$(openssl rand -hex 32) renova
# Configuration is by environment (README "Configuration"); the database and its key file
# (renova.key, unless RENOVA_SECRET_KEY is set) live in the /data volume.
# The stages run the commands `npm run test:dist` runs (scripts/test-dist.mjs): pack the server,
# install the tarball into an empty project with --omit=dev, run its `renova` binary from there.

# Build: compile, pack, and install the packed server as an operator would (better-sqlite3 is
# compiled here, where the toolchain is).
FROM node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY packages/server/package.json packages/server/
COPY packages/client/package.json packages/client/
# Building needs only TypeScript and the type packages: no install scripts (no native compile).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.base.json ./
COPY packages/server packages/server
RUN mkdir /pack && npm pack --workspace @renova/server --pack-destination /pack
WORKDIR /app
RUN echo '{"name":"renova-app","private":true,"type":"module"}' > package.json \
 && npm install --omit=dev --no-audit --no-fund /pack/renova-server-*.tgz \
 && npm cache clean --force

# Runtime: Node and the installed package only; no compiler, no npm cache, not root.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    RENOVA_DB=/data/renova.db \
    RENOVA_LOG_LEVEL=info
WORKDIR /app
COPY --from=build /app /app
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# Ready means a write can succeed now (issue 9): a writer that cannot write makes it unhealthy.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/app/node_modules/.bin/renova"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]

# Build stage: all dependencies, compile src/ to dist/ (npm ci runs the prepare script).
FROM node:20.20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm ci --no-audit --no-fund

# Runtime: production dependencies only, the compiled CLI, the mappings and the example fixtures; runs as `node`
# with its one writable folder (/app/.data, PGlite when no DATABASE_URL is given) owned by that user.
FROM node:20.20-bookworm-slim
ENV NODE_ENV=production TC_DATA_DIR=/app/.data
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY mappings ./mappings
COPY fixtures ./fixtures
COPY deploy ./deploy
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 9464 2575
HEALTHCHECK --interval=10s --timeout=5s --retries=6 CMD ["node", "deploy/healthcheck.mjs"]
CMD ["node", "bin/tc-alerts.js", "run"]

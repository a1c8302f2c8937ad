FROM node:20.20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts=false
COPY . .
USER node
EXPOSE 9464
CMD ["node", "bin/tc-alerts.js", "run"]

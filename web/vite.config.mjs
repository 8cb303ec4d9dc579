// Builds the web front into web/dist: the Control Center (index.html) and the member app (app/index.html).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const server = process.env.FOLLOWME_DEV_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root: here('.'),
  base: '/',
  plugins: [react()],
  build: {
    outDir: here('dist'),
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 1200,
    rollupOptions: { input: { main: here('index.html'), app: here('app/index.html') } },
  },
  // `npx vite --config web/vite.config.mjs` serves the front with hot reload against a running server.
  server: {
    proxy: {
      '/api': server,
      '/config.json': server,
      '/device': { target: server.replace(/^http/, 'ws'), ws: true },
    },
  },
});

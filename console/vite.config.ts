// Builds the web console into console/dist, which `muon server` serves on its admin port.
// `npx vite console` serves it for development, with /api proxied to a local server.

import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  plugins: [vue()],
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 300 },
  server: { proxy: { '/api': 'http://127.0.0.1:9080' } },
});

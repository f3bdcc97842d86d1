// How scripts/build-server.sh bundles the `muon` command (server and client) into dist/: our
// modules and the pure-JavaScript dependencies in one file, plus a chunk per lazily loaded part.
// One bundle loads in far less memory than hundreds of separate modules stripped of their types
// at every start (docs/benchmarks.md, "Idle memory"). Left outside, loaded from node_modules:
// packages with native addons, WebAssembly or worker files found by path, and those only some
// servers load (ACME, PostgreSQL).

import { defineConfig } from 'rolldown';

const EXTERNAL = [
  'pino', // its transports run in worker threads, started from files by path
  'pg', // PostgreSQL only; it may require the optional native driver
  '@electric-sql/pglite', // WebAssembly and data files
  '@node-rs/argon2', // native addon
  'acme-client', // ACME only, loaded when configured
];

export default defineConfig({
  input: { muon: 'src/cli/main.ts' },
  platform: 'node',
  external: (id) =>
    id.startsWith('node:') || EXTERNAL.some((name) => id === name || id.startsWith(`${name}/`)),
  output: {
    dir: 'dist',
    format: 'esm',
    entryFileNames: '[name].js',
    chunkFileNames: 'chunks/[name]-[hash].js',
    cleanDir: true,
    // The process keeps every module's source text in memory: without comments it is a fifth
    // smaller (1.38 against 1.70 MB), and in ASCII V8 stores it one byte per character instead of
    // two (docs/benchmarks.md).
    comments: false,
    charset: 'ascii',
  },
});

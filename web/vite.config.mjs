import { fileURLToPath } from 'node:url';

// The console is served by `probity serve` at /console, from dist/console, with no external requests.
export default {
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    assetsInlineLimit: 0,
  },
};

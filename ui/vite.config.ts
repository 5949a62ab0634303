/**
 * The web UI's build. Run from the repository root: `vite build --config ui/vite.config.ts`
 * (output ui/dist, served by the API server) or `vite --config ui/vite.config.ts`
 * for development, where /api goes to the API server named by GAPLAB_API_URL.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root,
  // Absolute asset URLs: the UI is served at the server's root and routes by path, so a deep link
  // such as /campaigns/<id>/trials/<trial> loads /assets/... and not /campaigns/assets/....
  base: '/',
  plugins: [react()],
  build: {
    outDir: path.join(root, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 400,
    sourcemap: true,
    // Rolldown's report of slow plugin callbacks measures the machine's load more than the
    // build, and would print into the demo's and the server's output on a busy machine.
    rolldownOptions: {
      checks: { bundlerTimings: false },
      // React in a chunk of its own: it changes with the lockfile, not with every UI edit, so
      // browsers keep it cached, and the entry chunk stays under the size budget above. Only
      // React: a group of every library would pull the lazily loaded pages' ones in up front.
      output: {
        codeSplitting: {
          groups: [{ name: 'react', test: /node_modules[\\/](react|react-dom|scheduler)[\\/]/ }],
        },
      },
    },
  },
  server: {
    port: Number(process.env.GAPLAB_UI_PORT ?? 5173),
    proxy: {
      '/api': { target: process.env.GAPLAB_API_URL ?? 'http://127.0.0.1:8700', changeOrigin: true },
    },
  },
});

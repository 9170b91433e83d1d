import { defineConfig } from 'vite';

// The page's own code is small; hls.js (~520 kB minified) is a chunk of its own, loaded only to play HLS.
export default defineConfig({
  build: { chunkSizeWarningLimit: 600, emptyOutDir: true },
});

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type RequestHandler } from 'express';

/**
 * Where `npm run build:web` (Vite) writes the web page: web/dist beside services/ from the sources,
 * dist/web/dist beside dist/services/ from the compiled server (`npm run build` copies it there).
 */
export const WEB_ROOT = fileURLToPath(new URL('../../web/dist', import.meta.url));

/** Vite names assets by content hash, so they never change under the same URL. */
const ASSET_MAX_AGE_MS = 365 * 24 * 3600 * 1000;

/**
 * GET / and its assets: the static web page (DESIGN §13). It is public like any static file; everything
 * it shows comes from /graphql with the user's token. Without a build, GET / says how to make one.
 */
export function webPage(root: string = WEB_ROOT): RequestHandler {
  const assets = express.static(path.join(root, 'assets'), { immutable: true, maxAge: ASSET_MAX_AGE_MS, index: false, fallthrough: true });
  const index = express.static(root, { index: 'index.html', maxAge: 0, fallthrough: true });
  const router = express.Router();
  router.use('/assets', assets);
  router.get('/', (req, res, next) => {
    if (existsSync(path.join(root, 'index.html'))) {
      index(req, res, next);
      return;
    }
    res.status(503).type('text/plain').send('The web page is not built: run `npm run build:web`, then reload.\n');
  });
  return router;
}

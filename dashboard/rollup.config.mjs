// Bundles the dashboard: src/main.js (Preact + htm, no JSX transform) into
// dist/app.js, minified; src/index.html and src/app.css are copied as they
// are. dist/ is committed and compiled into the tutti binary
// (server/CMakeLists.txt); CTest's dashboard_bundle_test rebuilds it with
// the locked packages and fails when it differs. Deterministic: no dates,
// no hashes of paths, no source maps.

import { copyFileSync, mkdirSync } from 'node:fs';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import terser from '@rollup/plugin-terser';

const out = process.env.TUTTI_DASHBOARD_OUT ?? 'dist';

/// Copies the files that need no bundling once the bundle is written.
function copyStatic(files) {
  return {
    name: 'copy-static',
    writeBundle() {
      mkdirSync(out, { recursive: true });
      for (const f of files) copyFileSync(`src/${f}`, `${out}/${f}`);
    },
  };
}

export default {
  input: 'src/main.js',
  output: { file: `${out}/app.js`, format: 'iife', sourcemap: false },
  plugins: [
    nodeResolve({ browser: true }),
    terser({ format: { comments: false } }),
    copyStatic(['index.html', 'app.css', 'favicon.svg']),
  ],
};

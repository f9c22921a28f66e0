// Build the process designers' studio (issue 12) for the browser: bpmn-js Modeler,
// bpmn-js-properties-panel with Sagsflow's conventions, bpmnlint with the project's
// .bpmnlintrc, and bpmn-js-differ, bundled by esbuild into inbox/static/build/ (ignored
// by git; scripts/setup runs this). Usage: npm run build:studio
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compileConfig = require('bpmnlint/lib/support/compile-config');
const NodeResolver = require('bpmnlint/lib/resolver/node-resolver');

// The same rules `npm run lint:bpmn` applies, compiled into a module the bundle imports.
const generated = join(root, 'build', 'studio');
mkdirSync(generated, { recursive: true });
const rc = JSON.parse(readFileSync(join(root, '.bpmnlintrc'), 'utf8'));
const lintConfig = join(generated, 'bpmnlint-config.js');
writeFileSync(lintConfig, await compileConfig(rc, new NodeResolver({ require })));

await build({
  entryPoints: { editor: join(root, 'tools/studio/editor.js'), diff: join(root, 'tools/studio/diff.js') },
  outdir: join(root, 'inbox/static/build'),
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  legalComments: 'linked',
  logLevel: 'warning',
  alias: { 'sagsflow-bpmnlint-config': lintConfig },
  nodePaths: [join(root, 'node_modules')],
  loader: { '.woff': 'file', '.woff2': 'file', '.eot': 'file', '.ttf': 'file', '.svg': 'file' },
  define: { 'process.env.NODE_ENV': '"production"' },
});
console.log('studio: built inbox/static/build/editor.js and diff.js');

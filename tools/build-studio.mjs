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

// bpmn-js-properties-panel creates its two containers from HTML with inline style
// attributes, which the page's Content-Security-Policy (style-src 'self', no
// 'unsafe-inline') blocks and reports as violations. The bundle gets them without the
// attributes; tools/studio/studio.css gives the same rules. The build fails if the
// library's text changes, so an upgrade cannot bring the violations back unnoticed.
const PANEL_INLINE_STYLES = [
  [ '<div style="height: 100%" tabindex="-1" class="bio-properties-panel-container">',
    '<div tabindex="-1" class="bio-properties-panel-container">' ],
  [ '<div style="flex: none; height: auto" class="bio-properties-panel bio-theme-parent bio-properties-panel-header-container">',
    '<div class="bio-properties-panel bio-theme-parent bio-properties-panel-header-container">' ],
];
const noInlineStyles = {
  name: 'no-inline-styles',
  setup(pluginBuild) {
    pluginBuild.onLoad({ filter: /bpmn-js-properties-panel[\\/]dist[\\/]index(\.esm)?\.js$/ }, (args) => {
      let contents = readFileSync(args.path, 'utf8');
      for (const [ from, to ] of PANEL_INLINE_STYLES) {
        if (!contents.includes(from)) throw new Error(`${args.path}: no ${from} (see tools/build-studio.mjs)`);
        contents = contents.replaceAll(from, to);
      }
      return { contents, loader: 'js' };
    });
  },
};

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
  plugins: [ noInlineStyles ],
  nodePaths: [join(root, 'node_modules')],
  loader: { '.woff': 'file', '.woff2': 'file', '.eot': 'file', '.ttf': 'file', '.svg': 'file' },
  define: { 'process.env.NODE_ENV': '"production"' },
});
console.log('studio: built inbox/static/build/editor.js and diff.js');

// Bundles the web UI with esbuild: src/main.jsx (with the CSS it imports) into
// OUTDIR/assets/app-HASH.js and app-HASH.css, and src/index.html into
// OUTDIR/index.html pointing at them. Works offline from node_modules.
//
//   node build.mjs --outdir DIR [--inputs FILE]
//
// --inputs writes the list of source files esbuild read (relative to web/), for
// the build system's dependency tracking. Runs on Node >= 18.
import { mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { dirname, join, relative, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
function arg(name) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
const outdir = arg('--outdir');
const inputsFile = arg('--inputs');
if (!outdir) {
  console.error('usage: node build.mjs --outdir DIR [--inputs FILE]');
  process.exit(2);
}

rmSync(outdir, { recursive: true, force: true });
mkdirSync(join(outdir, 'assets'), { recursive: true });

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: { app: 'src/main.jsx' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome100', 'firefox100', 'safari15'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  entryNames: '[name]-[hash]',
  outdir: join(outdir, 'assets'),
  metafile: true,
  legalComments: 'eof',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});

const outputs = Object.keys(result.metafile.outputs).map((p) => join(here, p));
const js = outputs.find((p) => p.endsWith('.js'));
const css = outputs.find((p) => p.endsWith('.css'));
if (!js || !css) {
  console.error('build.mjs: esbuild produced no JavaScript or no CSS bundle');
  process.exit(1);
}
const html = readFileSync(join(here, 'src', 'index.html'), 'utf8')
  .replace('%APP_JS%', '/assets/' + basename(js))
  .replace('%APP_CSS%', '/assets/' + basename(css));
writeFileSync(join(outdir, 'index.html'), html);
copyFileSync(join(here, 'src', 'favicon.svg'), join(outdir, 'favicon.svg'));

if (inputsFile) {
  const inputs = Object.keys(result.metafile.inputs).map((p) => relative(here, join(here, p)));
  inputs.push('build.mjs', 'src/index.html', 'src/favicon.svg', 'package-lock.json');
  writeFileSync(inputsFile, JSON.stringify(inputs));
}

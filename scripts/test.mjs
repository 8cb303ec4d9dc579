// Runs every compiled test file (dist/test/**/*.test.js) with node's built-in test runner.
// Node 20 takes no globs on --test, so the files are listed here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = 'dist/test';
const only = process.argv.slice(2);
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.js') && (only.length === 0 || only.some((o) => path.includes(o)))) files.push(path);
  }
})(root);
if (files.length === 0) {
  console.error(`no test files under ${root} matching ${only.join(' ') || '*'}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--enable-source-maps', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: { ...process.env, FOLLOWME_LOG_LEVEL: process.env.FOLLOWME_LOG_LEVEL ?? 'silent' },
});
process.exit(result.status ?? 1);

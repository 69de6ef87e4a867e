/**
 * The docs' Slurm and Kubernetes examples are the files `npm run test:slurm` submits and runs
 * (examples/slurm/, examples/kubernetes/): each file appears verbatim in its page, no page carries
 * another copy of such a script, and each sbatch script is one Slurm reads as intended. Running
 * them on a cluster is test/slurm/run.sh's job (it needs root and slurm-wlm); this keeps the text
 * in step without one.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');
const sbatch = readdirSync(join(root, 'examples/slurm')).filter((f) => f.endsWith('.sbatch')).sort();
const kube = readdirSync(join(root, 'examples/kubernetes')).filter((f) => f.endsWith('.yaml')).sort();
/** Which page shows which file. */
const page = (f: string) => (f.startsWith('landscape-') ? 'docs/landscapes.md' : 'docs/coreset-scale.md');
const blocks = (md: string) => [...md.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, body: m[2]! }));
const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

describe('scale-out examples: the docs show the files the Slurm test runs', () => {
  it('finds the four sbatch scripts and the two Jobs', () => {
    expect(sbatch).toEqual(['cld-merge.sbatch', 'cld-shards.sbatch', 'landscape-merge.sbatch', 'landscape-shards.sbatch']);
    expect(kube).toEqual(['cld-merge-job.yaml', 'cld-shards-job.yaml']);
  });

  it('each file is a fenced block of its page, verbatim', () => {
    for (const f of sbatch) {
      expect(blocks(read(page(f))), f).toContainEqual({ lang: 'bash', body: read(`examples/slurm/${f}`) });
    }
    for (const f of kube) expect(blocks(read('docs/coreset-scale.md')), f).toContainEqual({ lang: 'yaml', body: read(`examples/kubernetes/${f}`) });
  });

  it('no page holds another sbatch script or Job than those files', () => {
    const files = new Set([...sbatch.map((f) => read(`examples/slurm/${f}`)), ...kube.map((f) => read(`examples/kubernetes/${f}`))]);
    for (const p of pages) {
      for (const b of blocks(read(p))) {
        if (/#SBATCH|^kind: Job/m.test(b.body)) expect(files.has(b.body), `${p}: a block with a Slurm script or Job that is not a file of examples/:\n${b.body.slice(0, 200)}`).toBe(true);
      }
    }
  });

  it('sbatch scripts: bash syntax, every #SBATCH line before the first command (sbatch stops reading there), shards from the array', () => {
    for (const f of sbatch) {
      const text = read(`examples/slurm/${f}`);
      const r = spawnSync('bash', ['-n', join(root, 'examples/slurm', f)], { encoding: 'utf8' });
      expect(r.status, `${f}: ${r.stderr}`).toBe(0);
      const lines = text.split('\n');
      expect(lines[0], f).toBe('#!/bin/bash');
      const firstCommand = lines.findIndex((l) => l.trim() !== '' && !l.startsWith('#'));
      const lastDirective = lines.map((l) => l.startsWith('#SBATCH')).lastIndexOf(true);
      expect(lastDirective, f).toBeGreaterThan(0);
      expect(lastDirective, `${f}: #SBATCH after the first command is ignored by sbatch`).toBeLessThan(firstCommand);
      if (f.endsWith('-shards.sbatch')) {
        expect(text, f).toMatch(/^#SBATCH --array=0-\d+$/m);
        expect(text, f).toContain('--shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT"');
      } else {
        expect(text, `${f}: a merge is cancelled when a task failed`).toContain('#SBATCH --kill-on-invalid-dep=yes');
      }
    }
  });

  it('npm run test:slurm submits these files', () => {
    const pkg = JSON.parse(read('package.json'));
    expect(pkg.scripts['test:slurm']).toContain('test/slurm/run.sh');
    const script = read('test/slurm/run.sh');
    for (const f of sbatch) expect(script, f).toContain(`"$ROOT/examples/slurm/${f}"`);
    expect(read('test/slurm/check.mjs')).toContain("'cld-shards-job.yaml', 'cld-merge-job.yaml'");
  });
});

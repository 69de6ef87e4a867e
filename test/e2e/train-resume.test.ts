/**
 * `riverbed train --run DIR --checkpoint-every N --stop-after N` then `--resume DIR`: the resumed
 * run's weights (--save), recorded trajectory (--record, with --record-init) and summary equal an
 * uninterrupted run's bit for bit — on js and native, and on webgpu (required with CI=true);
 * `--optimizer adagrad|classp` with their flags; a resume from another model, optimizer or data,
 * and the other misuses: one stderr line, exit 2, nothing written or changed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { backendsUnderTest } from '../helpers/backends.js';
import { cliTempDir, expectCleanFailure, riverbed, writeBlobs } from '../helpers/cli-run.js';

const backends = await backendsUnderTest();

/** Every file under dir with its bytes' hash, size and inode (what "nothing changed" means). */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const n of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, n.name);
      if (n.isDirectory()) walk(p);
      else out[relative(dir, p)] = `${createHash('sha256').update(readFileSync(p)).digest('hex')} ${statSync(p).ino}`;
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

let dir: string;
let base: string[];
beforeAll(() => {
  dir = cliTempDir('resume');
  writeBlobs(dir, { n: 230, features: 6, lift: 2, seed: 4 });
  // 207 training rows in batches of 20: 11 steps per epoch, the last of 7 rows; 3 epochs = 33 steps.
  base = ['train', '--inputs', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy'), '--hidden', '8', '--epochs', '3', '--batch-size', '20', '--seed', '3', '--json'];
});

function straightAndResumed(backend: string, tag: string, extra: string[], stops: number[], every: string) {
  const out = (k: string) => join(dir, `${tag}-${k}`);
  const s = riverbed(...base, ...extra, '--backend', backend, '--save', out('straight.safetensors'), '--record', out('straight-rec'), '--record-init');
  expect(s.code, s.stderr).toBe(0);
  // Stopped twice (mid-epoch), resumed each time, then to the end.
  const run = out('run');
  let r = riverbed(...base, ...extra, '--backend', backend, '--run', run, '--checkpoint-every', every, '--stop-after', String(stops[0]), '--record', out('rec'), '--record-init', '--save', out('resumed.safetensors'));
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout).checkpoints.stoppedAt).toBe(stops[0]);
  expect(existsSync(out('resumed.safetensors'))).toBe(false); // a stopped run writes checkpoints only
  expect(existsSync(out('rec'))).toBe(false);
  for (const stop of [...stops.slice(1), undefined]) {
    r = riverbed(...base, ...extra, '--backend', backend, '--resume', run, ...(stop ? ['--stop-after', String(stop)] : []), '--record', out('rec'), '--record-init', '--save', out('resumed.safetensors'));
    expect(r.code, r.stderr).toBe(0);
  }
  const a = JSON.parse(s.stdout);
  const b = JSON.parse(r.stdout);
  expect(readFileSync(out('resumed.safetensors')).equals(readFileSync(out('straight.safetensors'))), 'weights bit for bit').toBe(true);
  expect(b.epochLoss).toEqual(a.epochLoss);
  expect(b.val).toEqual(a.val);
  expect(b.classp).toEqual(a.classp);
  const t1 = tree(out('straight-rec'));
  const t2 = tree(out('rec'));
  expect(Object.keys(t2).sort()).toEqual(Object.keys(t1).sort());
  for (const f of Object.keys(t1)) expect(t2[f]!.split(' ')[0], `record ${f}`).toBe(t1[f]!.split(' ')[0]);
  return { run, a, b };
}

for (const be of backends) {
  describe.skipIf(!!be.skip)(`train --run/--resume on ${be.name}`, () => {
    it('sgd (fused where the backend has it): stopped at steps 7 and 16, resumed = straight, weights and trajectory bit for bit', () => {
      const { run } = straightAndResumed(be.name, `sgd-${be.name}`, [], [7, 16], '5');
      const steps = readdirSync(join(run, 'checkpoints')).sort();
      // every 5 and the stops: 5, 7 | 10, 15, 16 | 20, 25, 30
      expect(steps).toEqual([5, 7, 10, 15, 16, 20, 25, 30].map((t) => `step-${String(t).padStart(8, '0')}`));
      expect(readdirSync(join(run, 'checkpoints', 'step-00000016')).sort()).toEqual(['optimizer.safetensors', 'order.npy', 'state.json', 'weights.safetensors']);
      // A checkpoint's weights are an ordinary weights file (--init reads it).
      const init = riverbed(...base, '--backend', be.name, '--epochs', '1', '--init', join(run, 'checkpoints', 'step-00000020', 'weights.safetensors'));
      expect(init.code, init.stderr).toBe(0);
    });
    if (be.name !== 'webgpu') {
      it('classp and adagrad (composed path): resumed = straight; classp reports its moved fraction', () => {
        const { b } = straightAndResumed(be.name, `classp-${be.name}`, ['--optimizer', 'classp', '--classp-threshold', '1e-4', '--classp-power', '2'], [12], '4');
        expect(b.optimizer).toMatchObject({ name: 'classp', lr: 0.2, eps: 1e-5, power: 2, threshold: 1e-4 });
        expect(b.classp.movedFraction.perEpoch).toHaveLength(3);
        expect(b.classp.movedFraction.mean).toBeGreaterThan(0);
        expect(b.classp.movedFraction.mean).toBeLessThan(1);
        straightAndResumed(be.name, `adagrad-${be.name}`, ['--optimizer', 'adagrad', '--lr-decay', '0.01', '--schedule', 'wsd'], [22], '11');
      });
    }
  });
}

describe('train --resume into another run directory', () => {
  it('the resumed recorder rows are written there too; the trajectory equals the straight one', () => {
    const a = join(dir, 'move-a');
    const b = join(dir, 'move-b');
    const common = [...base, '--backend', 'js', '--record-init'];
    const s = riverbed(...common, '--record', join(dir, 'move-straight'));
    expect(s.code, s.stderr).toBe(0);
    expect(riverbed(...common, '--record', join(dir, 'move-rec'), '--run', a, '--stop-after', '14').code).toBe(0);
    expect(readdirSync(join(a, 'record')).sort()).toEqual(['row-0000.safetensors', 'row-0001.safetensors']); // init, epoch 1
    const r = riverbed(...common, '--record', join(dir, 'move-rec'), '--resume', a, '--run', b);
    expect(r.code, r.stderr).toBe(0);
    // init, epochs 1 and 2; epoch 3's row is recorded after the last checkpoint (step 33), into --record only
    expect(readdirSync(join(b, 'record')).sort()).toEqual(['row-0000.safetensors', 'row-0001.safetensors', 'row-0002.safetensors']);
    expect(readdirSync(join(b, 'checkpoints')).sort()).toEqual(['step-00000022', 'step-00000033']);
    const t1 = tree(join(dir, 'move-straight'));
    const t2 = tree(join(dir, 'move-rec'));
    for (const f of Object.keys(t1)) expect(t2[f]!.split(' ')[0], f).toBe(t1[f]!.split(' ')[0]);
  });
});

describe('train --probe', () => {
  it('probes along the run into the run directory; stopped and resumed = straight; a resume with other probes is refused', () => {
    const probe = ['--probe', 'sharpness:every=5', '--probe', 'gradnorm:every=3,loss:every=11', '--probe-size', '64'];
    const s = riverbed(...base, '--backend', 'js', ...probe, '--record', join(dir, 'probe-straight'));
    expect(s.code, s.stderr).toBe(0);
    const straight = JSON.parse(readFileSync(join(dir, 'probe-straight', 'probes.json'), 'utf8'));
    expect(straight).toMatchObject({ format: 'riverbed.probes', version: 1, probeRows: 64, steps: 33 });
    const steps = (name: string) => straight.records.filter((r: { probe: string }) => r.probe === name).map((r: { step: number }) => r.step);
    expect(steps('sharpness')).toEqual([0, 5, 10, 15, 20, 25, 30]);
    expect(steps('loss')).toEqual([0, 11, 22, 33]);
    for (const r of straight.records) for (const v of Object.values(r.values)) expect(Number.isFinite(v)).toBe(true);
    for (const f of ['probe-sharpness.png', 'probe-gradnorm.svg', 'probe-loss.png']) expect(existsSync(join(dir, 'probe-straight', f)), f).toBe(true);
    expect(JSON.parse(s.stdout).probes.last.sharpness.lambdaMax).toBeGreaterThan(0);
    const run = join(dir, 'probe-run');
    expect(riverbed(...base, '--backend', 'js', ...probe, '--run', run, '--stop-after', '13').code).toBe(0);
    expect(existsSync(join(run, 'probes.json'))).toBe(false); // a stopped run: checkpoints only
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--probe', 'sharpness:every=5', '--resume', run), 'E_ARG', 'other probes');
    const r = riverbed(...base, '--backend', 'js', ...probe, '--resume', run);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(run, 'probes.json'), 'utf8')).records).toEqual(straight.records);
  });

  it('bad --probe: one line, nothing written', () => {
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--probe', 'sharpness'), 'E_ARG', '--probe', '--run DIR or --record DIR');
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--probe', 'bogus', '--run', join(dir, 'never')), 'E_ARG', '--probe', 'bogus');
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--probe', 'loss,loss:every=2', '--run', join(dir, 'never')), 'E_ARG', 'twice');
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--probe', 'loss:every=0', '--run', join(dir, 'never')), 'E_ARG', 'positive integer');
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });
});

describe('train --resume: misuse', () => {
  it('another model, optimizer, data or schedule, and bad flags: one line, exit 2, nothing written or changed', () => {
    const run = join(dir, 'mis-run');
    const r = riverbed(...base, '--backend', 'js', '--optimizer', 'adam', '--run', run, '--stop-after', '12');
    expect(r.code, r.stderr).toBe(0);
    const before = tree(dir);
    const resume = [...base, '--backend', 'js', '--resume', run];
    expectCleanFailure(riverbed(...resume, '--optimizer', 'adam', '--hidden', '9'), 'E_ARG', 'state.json', 'another model', '6-8(relu)-3', '6-9(relu)-3');
    expectCleanFailure(riverbed(...resume), 'E_ARG', 'state.json', 'another optimizer', 'adam', 'sgd');
    expectCleanFailure(riverbed(...resume, '--optimizer', 'adam', '--lr', '0.002'), 'E_ARG', 'another optimizer setting (lr)');
    expectCleanFailure(riverbed(...resume, '--optimizer', 'adam', '--schedule', 'linear'), 'E_ARG', 'another schedule');
    expectCleanFailure(riverbed(...resume, '--optimizer', 'adam', '--seed', '4'), 'E_ARG', 'another seed');
    expectCleanFailure(riverbed(...resume, '--optimizer', 'adam', '--val-fraction', '0.2'), 'E_ARG', 'other training data');
    expectCleanFailure(riverbed(...resume, '--optimizer', 'adam', '--record', join(dir, 'mis-rec')), 'E_ARG', 'another recording');
    expectCleanFailure(riverbed(...resume, '--optimizer', 'adam', '--stop-after', '12'), 'E_ARG', '--stop-after', 'step 12');
    expectCleanFailure(riverbed(...resume, '--optimizer', 'adam', '--stop-after', '99'), 'E_ARG', '--stop-after', '33 steps');
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--resume', join(dir, 'x.npy')), 'E_FILE', 'no checkpoints');
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--resume', join(dir, 'nowhere')), 'E_FILE', 'no checkpoints');
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--checkpoint-every', '3'), 'E_ARG', '--checkpoint-every', '--run DIR');
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--stop-after', '3'), 'E_ARG', '--stop-after');
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--run', run, '--checkpoint-every', '0'), 'E_ARG', '--checkpoint-every');
    // The run directory holds checkpoints of the steps a new run would write: --force, never silently.
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--optimizer', 'adam', '--run', run), 'E_FILE', 'checkpoints of a run at later steps', '--force');
    expectCleanFailure(riverbed(...resume, '--optimizer', 'adam', '--online-cld', join(dir, 'cld.npy')), 'E_ARG', 'online CLD');
    expectCleanFailure(riverbed(...resume, '--optimizer', 'adam', '--save', join(run, 'checkpoints', 'step-00000012', 'weights.safetensors')), 'E_ARG', 'never overwrites an input');
    // A damaged checkpoint.
    expect(tree(dir)).toEqual(before);
    const bad = join(dir, 'bad-run', 'checkpoints', 'step-00000004');
    riverbed(...base, '--backend', 'js', '--run', join(dir, 'bad-run'), '--checkpoint-every', '4', '--stop-after', '4');
    writeFileSync(join(bad, 'state.json'), '{"format": "riverbed.model"}');
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--resume', join(dir, 'bad-run')), 'E_FORMAT', 'state.json', 'not a riverbed checkpoint');
    writeFileSync(join(bad, 'state.json'), '{"format": ');
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--resume', bad), 'E_FORMAT', 'state.json');
  });

  it('optimizer flags: values checked, an option the optimizer does not read is refused', () => {
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--optimizer', 'classp', '--classp-threshold', '-1'), 'E_ARG', '--classp-threshold');
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--optimizer', 'classp', '--classp-power', 'NaN'), 'E_ARG', '--classp-power');
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--optimizer', 'sgd', '--classp-threshold', '0.1'), 'E_ARG', 'only classp takes');
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--optimizer', 'classp', '--lr-decay', '0.1'), 'E_ARG', 'only adagrad');
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--optimizer', 'classp', '--weight-decay', '0.1'), 'E_ARG', 'classp has no weight decay');
    expectCleanFailure(riverbed(...base, '--backend', 'js', '--optimizer', 'adagrad', '--lr', '-1'), 'E_ARG', '--lr');
    const r = riverbed(...base, '--backend', 'js', '--optimizer', 'adagrad');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).optimizer).toMatchObject({ name: 'adagrad', lr: 0.01, eps: 1e-10, lrDecay: 0 });
  });
});

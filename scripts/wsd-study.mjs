#!/usr/bin/env node
/**
 * The branching-WSD study of issue 11 §2 (docs/results/wsd/README.md): on MNIST and Fashion-MNIST,
 * the default MLP 784-128(relu)-10, SGD (momentum 0.9, lr 0.05), batch 128, for each seed
 *   - one branching WSD run (train/branches.ts): a constant main branch over E epochs and a decay
 *     branch for each budget f·E, f = 0.25, 0.5, 0.75, 1, decay the last 20 % of the branch's steps
 *     (1-sqrt shape to 0, Hägele et al.'s recommended cooldown);
 *   - a cosine run of the same budget, from the same initial weights and data order, for every
 *     budget (to 0, and to 10 % of the peak as in Hägele et al.'s baseline);
 *   - the river-valley probe (curvature/river-valley.ts) every V steps along the main branch and
 *     the last decay branch, on a fixed probe batch of 256 training images.
 * Every run is evaluated on the validation split every 100 steps and at its end on validation and
 * test. Each (dataset, seed) goes to OUT/runs/<dataset>-seed<k>.json as it finishes (a rerun skips
 * those present); then OUT/study.json, OUT/table.md and the plots are made from them.
 *
 *   npm run build && node scripts/wsd-study.mjs [--out docs/results/wsd] [--datasets mnist,fashion-mnist]
 *     [--seeds 3] [--epochs 16] [--warmup 100] [--valley-every 50] [--backend native] [--train-size N] [--aggregate-only]
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const rb = await import(join(ROOT, 'dist', 'index.js'));
const { Rng } = await import(join(ROOT, 'dist', 'model', 'rng.js'));

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const OUT = opt('out', join(ROOT, 'docs', 'results', 'wsd'));
const DATASETS = opt('datasets', 'mnist,fashion-mnist').split(',');
const SEEDS = Number(opt('seeds', '3'));
const EPOCHS = Number(opt('epochs', '16'));
const VALLEY_EVERY = Number(opt('valley-every', '50'));
const BACKEND = opt('backend', 'native');
const TRAIN_SIZE = opt('train-size', undefined);
const AGGREGATE_ONLY = args.includes('--aggregate-only');

const BRANCH_AT = [0.25, 0.5, 0.75, 1];
const BATCH = 128;
const HIDDEN = 128;
const WARMUP = Number(opt('warmup', '100'));
const EVAL_EVERY = 100;
const WSD = { name: 'wsd', warmupSteps: WARMUP, decayFraction: 0.2, decayShape: '1-sqrt' };
const COSINES = [0, 0.1]; // final rate / peak
const PROBE_SIZE = 256;

async function load(dataset, seed) {
  const o = { seed, ...(TRAIN_SIZE ? { trainSize: Number(TRAIN_SIZE) } : {}) };
  return dataset === 'mnist' ? rb.loadMnist(o) : rb.loadFashionMnist(o);
}

/** The probe batch as `riverbed train --probe` draws it (cli/train-probes.ts): PROBE_SIZE training rows by Rng.derive(seed, "probe"). */
function probeBatch(backend, train, seed) {
  const rows = Rng.derive(seed, 'probe').permutation(train.count).subarray(0, PROBE_SIZE).sort();
  const D = train.features;
  const xs = new Float32Array(rows.length * D);
  const y = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    xs.set(train.inputs.subarray(r * D, (r + 1) * D), i * D);
    y[i] = train.labels[r];
  });
  return { x: backend.upload(xs, [rows.length, D]), labels: backend.uploadInt(y, [rows.length]) };
}

async function finals(model, sets) {
  const out = {};
  for (const [k, s] of Object.entries(sets)) {
    const m = await rb.evaluateSamples(model, s.x, s.labels);
    out[k] = { loss: m.loss.reduce((a, v) => a + v, 0) / m.loss.length, accuracy: rb.accuracy(m) };
  }
  return out;
}

async function oneSeed(backend, dataset, seed) {
  const t0 = performance.now();
  const s = await load(dataset, seed);
  const desc = rb.mlpDescription(s.train.features, [HIDDEN], 10);
  const train = rb.toDevice(backend, s.train);
  const val = rb.toDevice(backend, s.val);
  const test = rb.toDevice(backend, s.test);
  const optimizer = rb.optimizerConfig('sgd', {});
  const pb = probeBatch(backend, s.train, seed);
  const perEpoch = Math.ceil(s.train.count / BATCH);
  const mainSteps = EPOCHS * perEpoch;
  const valley = {};
  const probes = [];
  const model = rb.Mlp.init(backend, desc, seed);
  const r = await rb.runWsdBranches(
    model,
    { x: train.x, labels: train.labels },
    { eval: val, val, test },
    { epochs: EPOCHS, batchSize: BATCH, optimizer, schedule: WSD, seed, branchAt: BRANCH_AT, evalEvery: EVAL_EVERY },
    {
      watch: (p, m) => {
        if (p && p.fraction !== 1) return undefined; // the main branch and the last decay
        const rate = p ? rb.compileSchedule(optimizer.lr, p.steps, WSD).rate : rb.compileSchedule(optimizer.lr, mainSteps, rb.mainBranchSchedule(WSD)).rate;
        const probe = new rb.RiverValleyProbe(m, pb, { every: VALLEY_EVERY, seed, rate });
        probes.push(probe);
        valley[p ? 'branch' : 'main'] = probe.records;
        return probe;
      },
      onProgress: (done, total, what) => {
        if (done % 500 === 0) process.stderr.write(`  ${dataset} seed ${seed}: ${what} ${done}/${total} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
      },
    },
  );
  for (const p of probes) p.dispose();
  const strip = (b) => ({ val: b.val, test: b.test, eval: b.curve.eval, trainLoss: b.epochLoss });
  const cosine = [];
  for (const M of COSINES) {
    for (const b of r.branches) {
      const m = rb.Mlp.init(backend, desc, seed);
      const c = await rb.trainWithCurve(
        m,
        { x: train.x, labels: train.labels },
        { epochs: b.epochs, batchSize: BATCH, optimizer, schedule: { name: 'cosine', warmupSteps: WARMUP, minFactor: M }, seed },
        { evalSet: val, evalEvery: EVAL_EVERY },
      );
      cosine.push({ minFactor: M, epochs: b.epochs, steps: b.steps, ...(await finals(m, { val, test })), eval: c.curve.eval, trainLoss: c.result.epochLoss });
      m.dispose();
      process.stderr.write(`  ${dataset} seed ${seed}: cosine M=${M} ${b.epochs} epochs done (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
    }
  }
  model.dispose();
  for (const d of [train, val, test]) backend.free(d.x);
  backend.free(pb.x);
  backend.free(pb.labels);
  return {
    dataset,
    seed,
    backend: backend.name,
    samples: { train: s.train.count, val: s.val.count, test: s.test.count },
    model: desc,
    optimizer,
    schedule: WSD,
    epochs: EPOCHS,
    batchSize: BATCH,
    stepsPerEpoch: perEpoch,
    main: { steps: r.main.steps, ...strip(r.main) },
    branches: r.branches.map((b) => ({ fraction: b.fraction, epochs: b.epochs, steps: b.steps, decaySteps: b.decaySteps, start: b.start, ...strip(b) })),
    cosine,
    valley: { every: VALLEY_EVERY, probeRows: PROBE_SIZE, ...valley },
    seconds: (performance.now() - t0) / 1000,
  };
}

// ---- aggregation -------------------------------------------------------------------------------

const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
const std = (a) => (a.length > 1 ? Math.sqrt(a.reduce((x, y) => x + (y - mean(a)) ** 2, 0) / (a.length - 1)) : 0);
const pm = (a, d = 4, scale = 1) => `${(mean(a) * scale).toFixed(d)} ± ${(std(a) * scale).toFixed(d)}`;

/** Mean ± std over runs of a curve given as [{step, value}] at the same steps in every run. */
function band(name, curves) {
  const steps = curves[0].map((p) => p.step);
  for (const c of curves) if (c.length !== steps.length || c.some((p, i) => p.step !== steps[i])) throw new Error(`${name}: runs evaluated at different steps`);
  const ys = steps.map((_, i) => curves.map((c) => c[i].value));
  return { name, x: steps, y: ys.map(mean), yErr: ys.map(std) };
}

async function aggregate(runs) {
  const study = { format: 'riverbed.wsd-study', version: 1, runs: runs.length, datasets: {} };
  const table = [];
  table.push('# Branching WSD vs cosine at equal budget', '');
  table.push(`MLP ${HIDDEN === 128 ? '784-128(relu)-10' : HIDDEN}, SGD momentum 0.9 lr 0.05, batch ${BATCH}, warm-up ${WARMUP} steps; WSD decay = last 20 % of each branch (1-sqrt to 0); cosine to 0 and to 0.1·lr. Mean ± std over ${SEEDS} seeds (split, initialisation, data order; the same for every schedule of a seed). "constant" = the main branch evaluated at the budget, no decay.`, '');
  for (const ds of DATASETS) {
    const rs = runs.filter((r) => r.dataset === ds).sort((a, b) => a.seed - b.seed);
    if (rs.length === 0) continue;
    const budgets = rs[0].branches.map((b) => b.epochs);
    const rows = budgets.map((E, k) => {
      const br = rs.map((r) => r.branches[k]);
      const cos = (M) => rs.map((r) => r.cosine.find((c) => c.minFactor === M && c.epochs === E));
      const constant = rs.map((r) => r.main.eval.find((e) => e.step === br[0].steps));
      return {
        epochs: E,
        steps: br[0].steps,
        decaySteps: br[0].decaySteps,
        constant: { valLoss: constant.map((c) => c.loss), valAccuracy: constant.map((c) => c.accuracy) },
        wsd: { valLoss: br.map((b) => b.val.loss), valAccuracy: br.map((b) => b.val.accuracy), testLoss: br.map((b) => b.test.loss), testAccuracy: br.map((b) => b.test.accuracy) },
        ...Object.fromEntries(COSINES.map((M) => [`cosine${M}`, { valLoss: cos(M).map((c) => c.val.loss), valAccuracy: cos(M).map((c) => c.val.accuracy), testLoss: cos(M).map((c) => c.test.loss), testAccuracy: cos(M).map((c) => c.test.accuracy) }])),
      };
    });
    study.datasets[ds] = { seeds: rs.map((r) => r.seed), stepsPerEpoch: rs[0].stepsPerEpoch, budgets: rows };
    table.push(`## ${ds}`, '');
    table.push('Validation loss (accuracy %):', '');
    table.push('| budget | constant (no decay) | WSD branch | cosine → 0 | cosine → 0.1·lr |', '|---|---|---|---|---|');
    for (const r of rows) {
      const cell = (c) => `${pm(c.valLoss)} (${pm(c.valAccuracy, 2, 100)})`;
      table.push(`| ${r.epochs} ep = ${r.steps} steps | ${cell(r.constant)} | ${cell(r.wsd)} | ${cell(r.cosine0)} | ${cell(r['cosine0.1'])} |`);
    }
    table.push('', 'Test loss (accuracy %), and the paired difference WSD − cosine → 0 per seed:', '');
    table.push('| budget | WSD branch | cosine → 0 | cosine → 0.1·lr | Δ loss (WSD − cos→0) | Δ acc (pp) |', '|---|---|---|---|---|---|');
    for (const r of rows) {
      const cell = (c) => `${pm(c.testLoss)} (${pm(c.testAccuracy, 2, 100)})`;
      const dl = r.wsd.testLoss.map((v, i) => v - r.cosine0.testLoss[i]);
      const da = r.wsd.testAccuracy.map((v, i) => 100 * (v - r.cosine0.testAccuracy[i]));
      table.push(`| ${r.epochs} ep | ${cell(r.wsd)} | ${cell(r.cosine0)} | ${cell(r['cosine0.1'])} | ${pm(dl)} | ${pm(da, 2)} |`);
    }
    // Valley summary: stable phase (main, before the last decay) vs the last decay branch.
    const vr = rs.filter((r) => r.valley.main && r.valley.branch);
    if (vr.length) {
      const last = rs[0].branches.at(-1);
      const stable = (r, key) => mean(r.valley.main.filter((q) => q.step > last.start / 2 && q.step <= last.start).map((q) => q[key]));
      const decayEnd = (r, key) => mean(r.valley.branch.filter((q) => q.step > last.steps - last.decaySteps / 4).map((q) => q[key]));
      const mainEnd = (r, key) => mean(r.valley.main.filter((q) => q.step > last.steps - last.decaySteps / 4).map((q) => q[key]));
      const keys = ['lambdaMax', 'along', 'ratio', 'updateNorm'];
      const v = Object.fromEntries(keys.map((k) => [k, { stable: vr.map((r) => stable(r, k)), mainEnd: vr.map((r) => mainEnd(r, k)), decayEnd: vr.map((r) => decayEnd(r, k)) }]));
      const beta = rs[0].optimizer.momentum ?? 0;
      const eta = rs[0].optimizer.lr;
      study.datasets[ds].valley = { every: vr[0].valley.every, window: { stable: [last.start / 2, last.start], end: [last.steps - last.decaySteps / 4, last.steps] }, stabilityThreshold: (2 * (1 + beta)) / eta, ...v };
      table.push('', `River-valley probe (every ${vr[0].valley.every} steps, ${PROBE_SIZE} training images): means over the second half of the stable phase (steps ${Math.round(last.start / 2)}–${last.start}) and over the last quarter of the final decay (steps > ${Math.round(last.steps - last.decaySteps / 4)}) — on the decay branch and, over the same steps, on the constant main branch. Heavy-ball stability threshold at the peak rate: 2(1 + β)/η = ${((2 * (1 + beta)) / eta).toFixed(0)}.`, '');
      table.push('| quantity | stable phase | constant, last steps | decay, last steps |', '|---|---|---|---|');
      for (const k of keys) table.push(`| ${k} | ${pm(v[k].stable, 4)} | ${pm(v[k].mainEnd, 4)} | ${pm(v[k].decayEnd, 4)} |`);
    }
    table.push('');
    await plots(ds, rs);
  }
  writeFileSync(join(OUT, 'study.json'), JSON.stringify(study, null, 1) + '\n');
  writeFileSync(join(OUT, 'table.md'), table.join('\n') + '\n');
  process.stdout.write(table.join('\n') + '\n');
}

async function plots(ds, rs) {
  // From the end of the first epoch: the first steps fall from 2.3 and would flatten the rest.
  const from = rs[0].stepsPerEpoch;
  const ev = (c) => c.filter((e) => e.step >= from).map((e) => ({ step: e.step, value: e.loss }));
  const series = [band('main (constant)', rs.map((r) => ev(r.main.eval)))];
  rs[0].branches.forEach((b, k) => series.push(band(`WSD decay to ${b.epochs} ep`, rs.map((r) => ev(r.branches[k].eval)))));
  rs[0].branches.forEach((b) => series.push(band(`cosine ${b.epochs} ep`, rs.map((r) => ev(r.cosine.find((c) => c.minFactor === 0 && c.epochs === b.epochs).eval)))));
  await rb.writePlot({ title: `${ds}: validation loss, WSD branches vs cosine (mean ± std, ${rs.length} seeds; from step ${from})`, xLabel: 'optimizer step', yLabel: 'validation loss', width: 760, height: 440, series }, join(OUT, `${ds}-losses`));
  const vr = rs.filter((r) => r.valley.main && r.valley.branch);
  if (!vr.length) return;
  const last = rs[0].branches.at(-1);
  // Single-step quantities are noisy: each point is the mean of the last SMOOTH measurements of a run (then mean ± std over seeds).
  const SMOOTH = 5;
  for (const [key, label, log] of [['lambdaMax', 'λ_max of the probe-batch Hessian', false], ['ratio', '|⟨Δθ, v₁⟩| / ‖Δθ‖', false], ['along', '|⟨Δθ, v₁⟩|', true], ['updateNorm', '‖Δθ‖', true]]) {
    const pts = (recs) => recs.map((q, i) => ({ step: q.step, value: mean(recs.slice(Math.max(0, i - SMOOTH + 1), i + 1).map((u) => u[key])) }));
    const s = [band('main (constant)', vr.map((r) => pts(r.valley.main))), band(`decay to ${last.epochs} ep`, vr.map((r) => pts(r.valley.branch)))];
    await rb.writePlot({ title: `${ds}: river valley — ${label} (mean of ${SMOOTH} measurements, ± std over ${vr.length} seeds)`, xLabel: 'optimizer step', yLabel: label, yScale: log ? 'log' : 'linear', width: 720, height: 380, series: s }, join(OUT, `${ds}-valley-${key}`));
  }
}

// ---- main --------------------------------------------------------------------------------------

mkdirSync(join(OUT, 'runs'), { recursive: true });
if (!AGGREGATE_ONLY) {
  const { backend, reason } = await rb.selectBackend(BACKEND);
  process.stderr.write(`backend ${backend.name} (${reason})\n`);
  try {
    for (const ds of DATASETS) {
      for (let seed = 0; seed < SEEDS; seed++) {
        const file = join(OUT, 'runs', `${ds}-seed${seed}.json`);
        if (existsSync(file)) continue;
        const r = await oneSeed(backend, ds, seed);
        writeFileSync(file, JSON.stringify(r) + '\n');
        process.stderr.write(`${ds} seed ${seed}: ${r.seconds.toFixed(0)} s\n`);
      }
    }
  } finally {
    backend.dispose();
  }
}
const runs = readdirSync(join(OUT, 'runs'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(OUT, 'runs', f), 'utf8')));
await aggregate(runs);
// The pictures are kept as PNG only (writePlot writes both).
for (const f of readdirSync(OUT)) if (f.endsWith('.svg')) rmSync(join(OUT, f));

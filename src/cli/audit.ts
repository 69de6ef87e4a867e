/**
 * `riverbed audit`: was the forget set really forgotten? For samples in three states — retained
 * (trained on, kept), forgotten (the forget set) and never seen (held-out samples of the forgotten
 * samples' classes) — the loss on K perturbed copies of each at every radius (src/unlearn/audit.ts),
 * and how well the single-point loss and the whole neighbourhood tell the states apart.
 */
import type { Command } from 'commander';
import { parseBackendChoice, selectBackend } from '../backends/select.js';
import { fail } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { type RunManifest, runManifest } from '../io/manifest.js';
import { checkOutputPlan } from '../io/output-plan.js';
import { loadIndices } from '../io/trajectory.js';
import { loadModelDescription } from '../model/description.js';
import { Mlp } from '../model/mlp.js';
import { Rng } from '../model/rng.js';
import { toDevice } from '../train/run.js';
import { AUDIT_DEFAULTS, AUDIT_STATES, type AuditState, type Neighbourhood, type StateAuc, auditFeatures, auditNeighbourhood, checkAuditOptions, pairAuc, stateAuc } from '../unlearn/audit.js';
import { parseForgetSpec, resolveForget } from '../unlearn/forget.js';
import { rocAuc } from '../unlearn/metrics.js';
import { disposeQuietly, intOption, note, numberOption } from './options.js';
import { type DataCli, addDataOptions, checkModel, loadData, unlearnInputPaths, unlearnInputs } from './unlearn-data.js';

interface AuditCli extends DataCli {
  model: string;
  weights: string;
  forget: string;
  referenceSamples?: string;
  perState: number;
  k: number;
  eps: string;
  batch: number;
  backend: string;
  out?: string;
  json?: boolean;
}

export function registerAudit(program: Command): void {
  const c = program
    .command('audit')
    .description('audit unlearned weights in the input loss landscape: K perturbed copies per sample at every radius; can retained, forgotten and never-seen samples be told apart?')
    .requiredOption('--model <M.json>', 'model description (riverbed.model JSON)')
    .requiredOption('--weights <W.safetensors>', 'the weights to audit (e.g. the output of riverbed unlearn)')
    .requiredOption('--forget <spec>', 'the forget set the weights were unlearned with: class:C[,C…] | random:N | random:P% | indices:F.npy')
    .option('--reference-samples <T.npy>', 'never-seen samples: positions in the held-out set (default: a seeded draw from the held-out samples of the forgotten classes)');
  addDataOptions(c);
  c.option('--seed <n>', 'seed of the train/validation split (as the weights were trained with), of random:…, of the draws and directions', intOption('--seed', 0), 0)
    .option('--per-state <n>', 'samples per state (fewer when a state has fewer)', intOption('--per-state', 5), 500)
    .option('--k <n>', `perturbation directions per radius (default ${AUDIT_DEFAULTS.k})`, intOption('--k'), AUDIT_DEFAULTS.k)
    .option('--eps <list>', `radii in input units, increasing (default ${AUDIT_DEFAULTS.eps.join(',')})`, AUDIT_DEFAULTS.eps.join(','))
    .option('--batch <n>', 'samples per device pass (each with all its perturbed copies)', intOption('--batch'), AUDIT_DEFAULTS.batch)
    .option('--backend <name>', 'auto | js | native | webgpu', 'auto')
    .option('--out <audit.json>', 'write the report (with per-sample scores and the run manifest) as JSON')
    .option('--json', 'print the report as JSON on stdout')
    .action(async (o: AuditCli) => {
      const r = await auditCommand(o);
      if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else printAudit(r);
    });
}

interface GroupSummary {
  n: number;
  loss: number;
  score: number;
  /** Mean over the group of the mean loss increase at each radius. */
  meanIncrease: number[];
  /** Mean over the group of the FGSM copy's loss increase at each radius. */
  fgsmIncrease: number[];
  slope: number;
}

export interface AuditReport {
  format: 'riverbed.audit';
  version: 1;
  weights: string;
  dataset: string;
  forget: string;
  options: { k: number; eps: number[]; perState: number; seed: number };
  groups: Record<AuditState, GroupSummary>;
  /** Direct AUCs (members positive, lower value = member): retained vs never seen, forgotten vs never seen. */
  direct: { retainedVsUnseen: { loss: number; score: number }; forgottenVsUnseen: { loss: number; score: number } };
  /**
   * Cross-validated two-group AUCs (a logistic regression per question): retained vs never seen and
   * forgotten vs never seen, on the single-point loss features and on every neighbourhood feature.
   */
  pairs: { retainedVsUnseen: { point: number; neighbourhood: number }; forgottenVsUnseen: { point: number; neighbourhood: number } };
  /** Cross-validated three-state AUCs: the single-point loss alone, and every neighbourhood feature. */
  states: { point: StateAuc; neighbourhood: StateAuc };
  /** Per forgotten sample: its dataset index and score (mean neighbourhood loss). */
  forgottenScores: { index: number; loss: number; score: number }[];
  backend: string;
  seconds: number;
  manifest?: RunManifest;
}

function parseEps(v: string): number[] {
  const items = v.split(',').map((s) => s.trim());
  return items.map((s) => numberOption('--eps', (n) => n > 0, 'positive radii')(s));
}

/** Up to n of rows, drawn with a seeded permutation (ascending). */
function draw(rows: Int32Array, n: number, rng: Rng): Int32Array {
  if (rows.length <= n) return Int32Array.from(rows);
  const p = rng.permutation(rows.length);
  return Int32Array.from(p.subarray(0, n), (i) => rows[i]!).sort();
}

function summary(nb: Neighbourhood): GroupSummary {
  const n = nb.loss.length;
  const E = nb.eps.length;
  const mean = (a: Float64Array) => a.reduce((s, v) => s + v, 0) / n;
  const perRadius = (a: Float64Array) =>
    nb.eps.map((_, e) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += a[i * E + e]!;
      return s / n;
    });
  return {
    n,
    loss: mean(nb.loss),
    score: mean(nb.score),
    meanIncrease: perRadius(nb.meanIncrease),
    fgsmIncrease: perRadius(nb.fgsmIncrease),
    slope: mean(nb.slope),
  };
}

async function auditCommand(o: AuditCli): Promise<AuditReport> {
  const t0 = performance.now();
  const eps = parseEps(o.eps);
  checkAuditOptions({ k: o.k, eps, seed: o.seed, batch: o.batch });
  const spec = parseForgetSpec(o.forget);
  const backendChoice = parseBackendChoice(o.backend);
  checkOutputPlan({
    inputs: unlearnInputs(o, spec),
    files: [{ flag: '--out', path: o.out }],
  });
  const desc = await loadModelDescription(o.model);
  const data = await loadData(o);
  checkModel(desc, o.model, data.train.features, data.classes);
  const split = await resolveForget(spec, { labels: data.train.labels, indices: data.train.indices, classes: data.classes, datasetSize: data.datasetSize }, o.seed);
  const rng = Rng.derive(o.seed, 'audit/draw');
  const forgotten = draw(split.forget, o.perState, rng);
  const retained = draw(split.retain, o.perState, rng);
  let unseen: Int32Array;
  if (o.referenceSamples !== undefined) {
    unseen = await loadIndices(o.referenceSamples, '--reference-samples');
    const bad = unseen.findIndex((i) => i >= data.heldOut.count);
    if (bad >= 0) fail('E_ARG', `position ${unseen[bad]} (entry ${bad}) is outside the ${data.heldOutName} set [0, ${data.heldOut.count})`, { file: o.referenceSamples, field: '--reference-samples' });
    if (unseen.length < 5) fail('E_ARG', `needs at least 5 never-seen samples, got ${unseen.length}`, { file: o.referenceSamples, field: '--reference-samples' });
  } else {
    const classes = new Set(split.forgetClasses);
    const same = Int32Array.from({ length: data.heldOut.count }, (_, i) => i).filter((i) => classes.has(data.heldOut.labels[i]!));
    unseen = draw(same, o.perState, rng);
  }
  for (const [name, g] of [['forgotten', forgotten], ['retained', retained], ['never-seen', unseen]] as const) {
    if (g.length < 5) fail('E_ARG', `the ${name} state has ${g.length} samples; the audit needs at least 5`, { field: '--forget' });
  }
  const { backend } = await selectBackend(backendChoice);
  try {
    const model = await Mlp.load(backend, desc, o.weights);
    const train = toDevice(backend, data.train);
    const held = toDevice(backend, data.heldOut);
    const opts = { k: o.k, eps, seed: o.seed, batch: o.batch };
    const nb: Record<AuditState, Neighbourhood> = {
      retained: await auditNeighbourhood(model, train.x, data.train.labels, retained, opts),
      forgotten: await auditNeighbourhood(model, train.x, data.train.labels, forgotten, opts),
      unseen: await auditNeighbourhood(model, held.x, data.heldOut.labels, unseen, opts),
    };
    backend.free(train.x);
    backend.free(held.x);
    model.dispose();
    const neg = (a: Float64Array) => Array.from(a, (v) => -v);
    const feats = (which: 'point' | 'neighbourhood') => ({ retained: auditFeatures(nb.retained, which), forgotten: auditFeatures(nb.forgotten, which), unseen: auditFeatures(nb.unseen, which) });
    const pf = feats('point');
    const nf = feats('neighbourhood');
    const report: AuditReport = {
      format: 'riverbed.audit',
      version: 1,
      weights: o.weights,
      dataset: data.name,
      forget: o.forget,
      options: { k: o.k, eps, perState: o.perState, seed: o.seed },
      groups: { retained: summary(nb.retained), forgotten: summary(nb.forgotten), unseen: summary(nb.unseen) },
      direct: {
        retainedVsUnseen: { loss: rocAuc(neg(nb.retained.loss), neg(nb.unseen.loss)), score: rocAuc(neg(nb.retained.score), neg(nb.unseen.score)) },
        forgottenVsUnseen: { loss: rocAuc(neg(nb.forgotten.loss), neg(nb.unseen.loss)), score: rocAuc(neg(nb.forgotten.score), neg(nb.unseen.score)) },
      },
      pairs: {
        retainedVsUnseen: { point: pairAuc(pf.retained, pf.unseen, 5, o.seed), neighbourhood: pairAuc(nf.retained, nf.unseen, 5, o.seed) },
        forgottenVsUnseen: { point: pairAuc(pf.forgotten, pf.unseen, 5, o.seed), neighbourhood: pairAuc(nf.forgotten, nf.unseen, 5, o.seed) },
      },
      states: { point: stateAuc(pf, 5, o.seed), neighbourhood: stateAuc(nf, 5, o.seed) },
      forgottenScores: Array.from(forgotten, (row, i) => ({ index: data.train.indices[row]!, loss: nb.forgotten.loss[i]!, score: nb.forgotten.score[i]! })),
      backend: backend.name,
      seconds: (performance.now() - t0) / 1000,
    };
    if (o.out !== undefined) {
      report.manifest = runManifest({
        backend: backend.name,
        seeds: [o.seed],
        inputs: unlearnInputPaths(o, spec),
        parameters: { dataset: o.dataset ?? null, forget: o.forget, k: o.k, eps, perState: o.perState },
      });
      writeFileAtomic(o.out, JSON.stringify(report, null, 2) + '\n');
      if (!o.json) note(`  wrote ${o.out}`);
    }
    return report;
  } finally {
    disposeQuietly(backend);
  }
}

function printAudit(r: AuditReport): void {
  const f = (x: number) => x.toFixed(3);
  const lines = [
    `audit ${r.weights}: ${r.dataset}, forget ${r.forget}; K = ${r.options.k} directions at ε = ${r.options.eps.join(', ')}; backend ${r.backend}`,
    `  state        n    loss   neighbourhood   mean increase at each ε            FGSM increase at each ε            slope`,
    ...AUDIT_STATES.map((s) => {
      const g = r.groups[s];
      return `  ${s.padEnd(10)} ${String(g.n).padStart(4)}  ${f(g.loss).padStart(6)}  ${f(g.score).padStart(14)}   ${g.meanIncrease.map(f).join(' ').padEnd(32)}   ${g.fgsmIncrease.map(f).join(' ').padEnd(32)}  ${f(g.slope)}`;
    }),
    `  AUC (lower loss = member): retained vs never seen ${f(r.direct.retainedVsUnseen.loss)} by the loss, ${f(r.direct.retainedVsUnseen.score)} by the neighbourhood;`,
    `                             forgotten vs never seen ${f(r.direct.forgottenVsUnseen.loss)} by the loss, ${f(r.direct.forgottenVsUnseen.score)} by the neighbourhood`,
    `  two groups, 5-fold CV logistic AUC (point / neighbourhood): retained vs never seen ${f(r.pairs.retainedVsUnseen.point)} / ${f(r.pairs.retainedVsUnseen.neighbourhood)}, forgotten vs never seen ${f(r.pairs.forgottenVsUnseen.point)} / ${f(r.pairs.forgottenVsUnseen.neighbourhood)}`,
    `  three states, one-vs-rest macro AUC (5-fold CV): single-point loss ${f(r.states.point.macro)}, neighbourhood ${f(r.states.neighbourhood.macro)}`,
    `    per state (point / neighbourhood): ${AUDIT_STATES.map((s) => `${s} ${f(r.states.point.perState[s])} / ${f(r.states.neighbourhood.perState[s])}`).join(', ')}`,
    `  ${r.seconds.toFixed(1)} s`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

/**
 * The audit on a model that memorises (issue 9's check, small and fast): three overlapping Gaussian
 * classes in 20 dimensions (the Bayes error is far from 0), 150 training points, a 20-128-3 MLP
 * trained until it fits every training point. Its training samples — retained and forgotten alike —
 * must be told from never-seen samples of the same distribution, by the single-point loss and by
 * the neighbourhood (measured: loss threshold 0.76, cross-validated point 0.82, neighbourhood 0.85);
 * after retraining without the forget set, the forgotten samples must look like never-seen ones
 * again (AUC near 0.5), while the retained ones still do not.
 */
import { describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import { mlpDescription } from '../../../src/model/description.js';
import { Mlp } from '../../../src/model/mlp.js';
import { optimizerConfig } from '../../../src/train/optimizer.js';
import { train } from '../../../src/train/trainer.js';
import { type Neighbourhood, auditFeatures, auditNeighbourhood, pairAuc } from '../../../src/unlearn/audit.js';
import { unlearn, unlearnConfig } from '../../../src/unlearn/methods.js';
import { rocAuc } from '../../../src/unlearn/metrics.js';

const D = 20;
const N_TRAIN = 150;
const N_TEST = 300;
const EPOCHS = 150;
/** Class means differ by this much on a third of the axes each: heavily overlapping classes. */
const SEP = 0.5;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** n points of three classes, unit Gaussians around `means`. */
function sample(n: number, r: () => number, means: number[][]): { x: Float32Array; y: Int32Array } {
  const normal = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const x = new Float32Array(n * D);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 3;
    for (let j = 0; j < D; j++) x[i * D + j] = means[i % 3]![j]! + normal();
  }
  return { x, y };
}

describe('audit separation on a memorising model (js)', () => {
  it('original: members apart from never seen; retrained without the forget set: forgotten ≈ never seen', async () => {
    const b = new JsBackend();
    const r = lcg(42);
    const means = [0, 1, 2].map((c) => Array.from({ length: D }, (_, j) => (j % 3 === c ? SEP : 0)));
    const tr = sample(N_TRAIN, r, means);
    const te = sample(N_TEST, r, means);
    const x = b.upload(tr.x, [N_TRAIN, D]);
    const xt = b.upload(te.x, [N_TEST, D]);
    const all = Int32Array.from({ length: N_TRAIN }, (_, i) => i);
    const forget = all.filter((i) => Math.floor(i / 3) % 3 === 0); // 51 rows, 17 of each class
    const retain = all.filter((i) => Math.floor(i / 3) % 3 !== 0);
    const unseen = Int32Array.from({ length: N_TEST }, (_, i) => i);
    const desc = mlpDescription(D, [128], 3, 'relu');
    const recipe = { epochs: EPOCHS, batchSize: 16, optimizer: optimizerConfig('sgd', { lr: 0.05, momentum: 0.9 }), schedule: { name: 'cosine' as const, warmupSteps: 0 }, seed: 1 };
    const opts = { k: 16, eps: [0.25, 0.5, 1], seed: 3 };

    const audit = async (model: Mlp) => {
      const nb = {
        retained: await auditNeighbourhood(model, x, tr.y, retain, opts),
        forgotten: await auditNeighbourhood(model, x, tr.y, forget, opts),
        unseen: await auditNeighbourhood(model, xt, te.y, unseen, opts),
      };
      const neg = (n: Neighbourhood) => Array.from(n.loss, (v) => -v);
      const pair = (a: Neighbourhood, which: 'point' | 'neighbourhood') => pairAuc(auditFeatures(a, which), auditFeatures(nb.unseen, which), 5, 0);
      return {
        trainLoss: nb.retained.loss.reduce((s, v) => s + v, 0) / retain.length,
        lossAuc: { retained: rocAuc(neg(nb.retained), neg(nb.unseen)), forgotten: rocAuc(neg(nb.forgotten), neg(nb.unseen)) },
        point: { retained: pair(nb.retained, 'point'), forgotten: pair(nb.forgotten, 'point') },
        neighbourhood: { retained: pair(nb.retained, 'neighbourhood'), forgotten: pair(nb.forgotten, 'neighbourhood') },
      };
    };

    const model = Mlp.init(b, desc, 1);
    await train(model, { x, labels: tr.y }, recipe);
    const original = await audit(model);
    // the model memorised its training set ...
    expect(original.trainLoss).toBeLessThan(0.01);
    // ... and every measure tells its members (retained and forgotten) from never-seen samples
    for (const s of ['retained', 'forgotten'] as const) {
      expect(original.lossAuc[s], `original, ${s} vs never seen, loss threshold`).toBeGreaterThan(0.7);
      expect(original.point[s], `original, ${s} vs never seen, CV point`).toBeGreaterThan(0.75);
      expect(original.neighbourhood[s], `original, ${s} vs never seen, CV neighbourhood`).toBeGreaterThan(0.75);
    }

    // retrain (the method, from a fresh initialisation) on the retain rows with the same recipe
    await unlearn(model, { x, labels: tr.y, forget, retain }, unlearnConfig('retrain', { epochs: EPOCHS, batchSize: 16, lr: 0.05, momentum: 0.9, seed: 1 }));
    const retrained = await audit(model);
    // measured: loss threshold 0.507, CV point 0.376, CV neighbourhood 0.414. The threshold AUC fits
    // nothing and sits at 0.5; cross-validated AUCs between groups that do not differ lean below 0.5
    // (each fold's fit anti-correlates with what it holds out), so for them the check is only that
    // nothing separates any more — an audit of the original model gives 0.82–0.85 here
    expect(Math.abs(retrained.lossAuc.forgotten - 0.5), 'retrained, forgotten vs never seen, loss threshold').toBeLessThan(0.1);
    expect(retrained.point.forgotten, 'retrained, forgotten vs never seen, CV point').toBeLessThan(0.6);
    expect(retrained.neighbourhood.forgotten, 'retrained, forgotten vs never seen, CV neighbourhood').toBeLessThan(0.6);
    // the retained rows are still members
    expect(retrained.lossAuc.retained).toBeGreaterThan(0.7);
    expect(retrained.neighbourhood.retained).toBeGreaterThan(0.75);
  });
});

// Online CLD on MNIST: scores from an evaluation pass per epoch vs from the training mini-batches'
// losses, in ONE training run (same weights), compared by rank agreement; and online (eval) vs the
// offline cldScores on the recorded trajectory. Not a timing benchmark (not run by `npm run bench`).
//   node bench/online-cld-ranking.mjs [trainSize=50000] [epochs=10] [backend=auto]
import { selectBackend } from '../dist/backends/select.js';
import { cldScores } from '../dist/coreset/cld.js';
import { OnlineCld } from '../dist/coreset/online.js';
import { agreement } from '../dist/coreset/stability.js';
import { loadMnist } from '../dist/data/mnist.js';
import { mlpDescription } from '../dist/model/description.js';
import { Mlp } from '../dist/model/mlp.js';
import { optimizerConfig } from '../dist/train/optimizer.js';
import { runTraining, toDevice } from '../dist/train/run.js';

const trainSize = Number(process.argv[2] ?? 50000);
const epochs = Number(process.argv[3] ?? 10);
const { backend } = await selectBackend(process.argv[4] ?? 'auto');
const s = await loadMnist({ seed: 0, trainSize, valSize: 10000 });
const model = Mlp.init(backend, mlpDescription(784, [128], 10), 0);
const train = toDevice(backend, s.train);
const val = toDevice(backend, s.val);
const evalCld = new OnlineCld(s.train.labels, 10);
const batchCld = new OnlineCld(s.train.labels, 10);
const batchLoss = new Float32Array(s.train.count);
const t0 = performance.now();
const run = await runTraining(
  model, train, val,
  { epochs, batchSize: 128, optimizer: optimizerConfig('sgd'), schedule: { name: 'cosine', warmupSteps: 0 }, seed: 0, record: true },
  {
    onBatchLoss: (_e, rows, loss) => rows.forEach((r, j) => (batchLoss[r] = loss[j])),
    onCheckpoint: (_cp, tr, va) => {
      evalCld.observeVal(tr.loss, va.loss, s.val.labels);
      batchCld.observeVal(batchLoss, va.loss, s.val.labels);
    },
  },
);
const secs = (performance.now() - t0) / 1000;
const rec = run.recorder;
const off = await cldScores(backend, {
  trainLoss: rec.matrix('train', 'loss'), epochs, samples: s.train.count, trainLabels: s.train.labels,
  valLoss: rec.matrix('val', 'loss'), valSamples: s.val.count, valLabels: s.val.labels,
});
const ev = evalCld.scores();
let maxDiff = 0;
for (let i = 0; i < ev.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ev[i] - off.scores[i]));
const a = agreement(ev, batchCld.scores(), 'highest', [0.01, 0.1, 0.3]);
console.log(JSON.stringify({ backend: backend.name, trainSize, epochs, seconds: { train: run.trainSeconds, evalPasses: run.recordSeconds, total: secs },
  onlineVsOffline: { maxAbsDiff: maxDiff, offlineBackend: backend.name },
  batchVsEval: { spearman: a.spearman, kendall: a.kendall, topJaccard: a.topJaccard } }, null, 2));
backend.dispose();

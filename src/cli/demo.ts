/**
 * `riverbed demo`: the whole story on the bundled MNIST digits.
 *
 *  1. train an MLP on the training split (50 000 digits), recording per-sample loss trajectories
 *     of the training and validation (10 000) digits after every epoch;
 *  2. select a 10 % CLD coreset from those trajectories;
 *  3. retrain from scratch (same initialisation seed) on the coreset and on a seeded uniformly
 *     random subset of the same size, with the same epochs, batch size and schedule (hence the
 *     same number of optimizer steps);
 *  4. report both test accuracies on the held-out t10k digits (never seen by selection), the
 *     backend and the time of every phase.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { parseBackendChoice, selectBackend } from '../backends/select.js';
import { cldCoreset } from '../coreset/cld.js';
import { loadMnist } from '../data/mnist.js';
import { fail } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkOutputPlan, makeOutputDir } from '../io/output-plan.js';
import { describeModel, exampleCnnDescription, inputField, inputMismatch, loadModelDescription, mlpDescription, outputSize } from '../model/description.js';
import { Mlp } from '../model/mlp.js';
import { Rng } from '../model/rng.js';
import { accuracy, evaluateSamples } from '../train/evaluate.js';
import { optimizerConfig } from '../train/optimizer.js';
import { type DeviceData, type RunConfig, runTraining, toDevice } from '../train/run.js';
import { RECORD_FILES } from '../train/recorder.js';
import { stepsPerEpoch } from '../train/trainer.js';
import { disposeQuietly, intOption, note, numberOption, progressBar } from './options.js';

interface DemoOptions {
  backend: string;
  epochs: number;
  retrainEpochs: number;
  fraction: number;
  model: string;
  hidden?: number;
  batchSize: number;
  lr: number;
  seed: number;
  trainSize?: number;
  recordInit?: boolean;
  out?: string;
  json?: boolean;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('Train on MNIST, record trajectories, select a 10 % CLD coreset, retrain on it and on a random 10 %, compare test accuracy.')
    .option('--backend <name>', 'auto | js | native | webgpu', 'auto')
    .option('--epochs <n>', 'epochs of the recorded full-data run (the trajectory length; ≥ 3)', intOption('--epochs', 3), 8)
    .option('--retrain-epochs <n>', 'epochs of each retraining on a 10 % subset', intOption('--retrain-epochs'), 20)
    .option('--fraction <f>', 'coreset fraction', numberOption('--fraction', (n) => n > 0 && n <= 1, 'a number in (0, 1]'), 0.1)
    .option('--model <name>', 'mlp (784-H(relu)-10, H = --hidden) | cnn (examples/cnn.json: two conv+pool blocks, 3136-128-10) | a riverbed.model JSON file', 'mlp')
    .option('--hidden <n>', 'hidden width of the 784-H(relu)-10 MLP (--model mlp; default 128)', intOption('--hidden'))
    .option('--batch-size <n>', 'mini-batch size', intOption('--batch-size'), 128)
    .option('--lr <x>', 'SGD learning rate (momentum 0.9, cosine schedule)', numberOption('--lr', (n) => n > 0, 'a positive number'), 0.05)
    .option('--seed <n>', 'seed of the split, initialisation, shuffling and the random subset', intOption('--seed', 0), 0)
    .option('--train-size <n>', 'use only this many training digits (quick runs)', intOption('--train-size', 100))
    .option('--record-init', 'also record the trajectory before the first update (one more loss difference for CLD)')
    .option('--out <DIR>', 'also write the trajectories, the selection and a summary (demo.json) into DIR')
    .option('--json', 'print the summary as JSON on stdout')
    .action(async (o: DemoOptions) => {
      const s = await demo(o);
      if (o.json) process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      else printDemo(s);
    });
}

export interface DemoSummary {
  format: 'riverbed.demo';
  version: 1;
  backend: string;
  backendReason: string;
  model: string;
  samples: { train: number; val: number; test: number; subset: number };
  epochs: number;
  retrainEpochs: number;
  retrainSteps: number;
  fraction: number;
  seed: number;
  testAccuracy: { full: number; cld: number; random: number };
  seconds: { load: number; trainAndRecord: number; record: number; cld: number; retrainCld: number; retrainRandom: number; evaluate: number; total: number };
  cldPerClass: number[];
  out?: string;
}

async function demo(o: DemoOptions): Promise<DemoSummary> {
  const t0 = performance.now();
  const choice = parseBackendChoice(o.backend);
  // The output rule before the (long) run; DIR itself is created only when the results are written.
  const file = o.model !== 'mlp' && o.model !== 'cnn' ? o.model : undefined;
  checkOutputPlan({ inputs: file ? [{ flag: '--model', path: file }] : [], dirs: [{ flag: '--out', path: o.out, files: [...RECORD_FILES.map((f) => `trajectory/${f}`), 'selection.json', 'demo.json'] }] });
  const say = o.json ? () => {} : note;
  if (o.hidden !== undefined && o.model !== 'mlp') fail('E_ARG', `--hidden sets the width of --model mlp, not of --model ${o.model}`, { field: '--hidden' });
  const desc = file ? await loadModelDescription(file) : o.model === 'cnn' ? exampleCnnDescription(10) : mlpDescription(784, [o.hidden ?? 128], 10, 'relu');
  // The digits are 28×28 images (rows of 784) in 10 classes.
  const mismatch = inputMismatch(desc, 784, [1, 28, 28]);
  if (mismatch) fail('E_MODEL', `${mismatch} (MNIST digits are [1, 28, 28])`, { file, field: inputField(desc) });
  if (outputSize(desc) < 10) fail('E_MODEL', `the model has ${outputSize(desc)} outputs but MNIST has 10 classes`, { file, field: 'layers[-1].out' });
  const data = await loadMnist({ seed: o.seed, trainSize: o.trainSize });
  const tLoad = performance.now();
  const { backend, reason } = await selectBackend(choice);
  say(`riverbed demo — backend ${backend.name} (${reason})`);
  say(`MNIST: ${data.train.count} train / ${data.val.count} validation digits (seed ${o.seed}), ${data.test.count} held-out test digits`);
  try {
    const optimizer = optimizerConfig('sgd', { lr: o.lr, momentum: 0.9 });
    const schedule = { name: 'cosine' as const, warmupSteps: 0 };
    const train = toDevice(backend, data.train);
    const val = toDevice(backend, data.val);
    const test = toDevice(backend, data.test);

    const phase = async <T>(label: string, total: number, fn: (tick: (v: number, info?: string) => void) => Promise<T>): Promise<[T, number]> => {
      const b = progressBar(label, o.json);
      b.start(total);
      const ts = performance.now();
      const r = await fn((v, info) => b.update(v, { info: info ?? '' }));
      b.stop();
      const secs = (performance.now() - ts) / 1000;
      return [r, secs];
    };

    // 1. Full-data training with trajectory recording.
    say(`1/4 training ${describeModel(desc)} on all ${data.train.count} digits for ${o.epochs} epochs, recording trajectories…`);
    const fullCfg: RunConfig = { epochs: o.epochs, batchSize: o.batchSize, optimizer, schedule, seed: o.seed, record: true, recordInit: !!o.recordInit };
    const fullSteps = stepsPerEpoch(data.train.count, o.batchSize) * o.epochs;
    const full = Mlp.init(backend, desc, o.seed);
    const [run, tFull] = await phase('train + record', fullSteps, (tick) =>
      runTraining(full, train, val, fullCfg, { onStep: (s, _t, e) => s % 20 === 0 && tick(s, `epoch ${e}`) }),
    );
    const fullAcc = accuracy(await evaluateSamples(full, test.x, test.labels));
    full.dispose();
    const rec = run.recorder!;
    say(`    epoch losses ${run.epochLoss.map((l) => l.toFixed(3)).join(' → ')}; test accuracy ${(100 * fullAcc).toFixed(2)} %`);

    // 2. CLD coreset.
    say(`2/4 CLD coreset: ${o.fraction * 100} % of the training digits…`);
    const [sel, tCld] = await phase('cld', 4, (tick) =>
      cldCoreset(
        {
          trainLoss: rec.matrix('train', 'loss'),
          epochs: rec.checkpoints.length,
          samples: rec.trainSamples,
          trainLabels: rec.trainSplit.labels,
          valLoss: rec.matrix('val', 'loss'),
          valSamples: rec.valSamples,
          valLabels: rec.valSplit.labels,
        },
        { fraction: o.fraction },
        { backend, onProgress: (d) => tick(d) },
      ),
    );
    const k = sel.indices.length;
    if (k === 0) fail('E_ARG', `the fraction ${o.fraction} selects no samples out of ${data.train.count}`, { field: '--fraction' });
    // Columns of the trajectory are rows of `train` (runTraining recorded all rows in order).
    const cldRows = Int32Array.from(sel.indices).sort();
    const randomRows = Rng.derive(o.seed, 'random-subset').permutation(data.train.count).slice(0, k).sort();

    // 3. Retraining from the same initialisation, same steps.
    const retrainSteps = stepsPerEpoch(k, o.batchSize) * o.retrainEpochs;
    const retrain = async (rows: Int32Array, label: string): Promise<[number, number]> => {
      const model = Mlp.init(backend, desc, o.seed);
      const cfg: RunConfig = { epochs: o.retrainEpochs, batchSize: o.batchSize, optimizer, schedule, seed: o.seed };
      const [, secs] = await phase(label, retrainSteps, (tick) =>
        runTraining(model, train as DeviceData, undefined, cfg, { onStep: (s) => s % 20 === 0 && tick(s) }, rows),
      );
      const acc = accuracy(await evaluateSamples(model, test.x, test.labels));
      model.dispose();
      return [acc, secs];
    };
    say(`3/4 retraining from scratch on the ${k} CLD digits (${o.retrainEpochs} epochs, ${retrainSteps} steps)…`);
    const tc0 = performance.now();
    const [cldAcc, tRetrainCld] = await retrain(cldRows, 'retrain cld');
    const evalCld = (performance.now() - tc0) / 1000 - tRetrainCld;
    say(`4/4 retraining from scratch on ${k} random digits (same budget)…`);
    const tr0 = performance.now();
    const [randomAcc, tRetrainRandom] = await retrain(randomRows, 'retrain random');
    const evalRandom = (performance.now() - tr0) / 1000 - tRetrainRandom;

    const summary: DemoSummary = {
      format: 'riverbed.demo',
      version: 1,
      backend: backend.name,
      backendReason: reason,
      model: describeModel(desc),
      samples: { train: data.train.count, val: data.val.count, test: data.test.count, subset: k },
      epochs: o.epochs,
      retrainEpochs: o.retrainEpochs,
      retrainSteps,
      fraction: o.fraction,
      seed: o.seed,
      testAccuracy: { full: fullAcc, cld: cldAcc, random: randomAcc },
      seconds: {
        load: (tLoad - t0) / 1000,
        trainAndRecord: tFull,
        record: run.recordSeconds,
        cld: tCld,
        retrainCld: tRetrainCld,
        retrainRandom: tRetrainRandom,
        evaluate: evalCld + evalRandom,
        total: 0,
      },
      cldPerClass: sel.perClassSelected,
    };
    const made = o.out !== undefined ? makeOutputDir(o.out, '--out') : undefined;
    try {
      if (o.out !== undefined) {
        rec.write(join(o.out, 'trajectory'), {
          dataset: 'mnist',
          model: desc,
          optimizer,
          schedule: { ...schedule, totalSteps: fullSteps },
          batchSize: o.batchSize,
          seed: o.seed,
          backend: backend.name,
          epochLoss: run.epochLoss,
        });
        summary.out = o.out;
      }
      summary.seconds.total = (performance.now() - t0) / 1000;
      if (o.out !== undefined) {
        const selection = {
          format: 'riverbed.selection',
          version: 1,
          method: 'cld',
          parameters: { fraction: o.fraction },
          backend: backend.name,
          n: data.train.count,
          // As `riverbed coreset cld` writes them: columns of trajectory/train_loss.npy, grouped by class, by rank.
          indices: Array.from(sel.indices),
          // The same samples as indices into MNIST's 60 000 training digits (trajectory/train_indices.npy).
          datasetIndices: Array.from(sel.indices, (c) => data.train.indices[c]!),
        };
        writeFileAtomic(join(o.out, 'selection.json'), JSON.stringify(selection) + '\n');
        writeFileAtomic(join(o.out, 'demo.json'), JSON.stringify(summary, null, 2) + '\n');
      }
    } catch (err) {
      made?.undo();
      throw err;
    }
    backend.free(train.x);
    backend.free(val.x);
    backend.free(test.x);
    return summary;
  } finally {
    disposeQuietly(backend);
  }
}

function printDemo(s: DemoSummary): void {
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  const sec = (x: number) => `${x.toFixed(1)} s`;
  const rows: [string, string, string][] = [
    ['training set', 'test accuracy', 'time'],
    [`all ${s.samples.train} digits (${s.epochs} epochs)`, pct(s.testAccuracy.full), sec(s.seconds.trainAndRecord)],
    [`CLD coreset, ${s.samples.subset} digits`, pct(s.testAccuracy.cld), sec(s.seconds.retrainCld)],
    [`random subset, ${s.samples.subset} digits`, pct(s.testAccuracy.random), sec(s.seconds.retrainRandom)],
  ];
  const w = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: [string, string, string]) => `  ${r[0].padEnd(w[0]!)}  ${r[1].padStart(w[1]!)}  ${r[2].padStart(w[2]!)}`;
  const sep = `  ${'-'.repeat(w[0]!)}  ${'-'.repeat(w[1]!)}  ${'-'.repeat(w[2]!)}`;
  const out = [
    '',
    `riverbed demo: MNIST ${s.model} MLP, ${pct(s.fraction)} coreset, backend ${s.backend}`,
    line(rows[0]!),
    sep,
    ...rows.slice(1).map(line),
    '',
    `  CLD − random: ${((s.testAccuracy.cld - s.testAccuracy.random) * 100).toFixed(2)} points on ${s.samples.test} held-out test digits (retraining: ${s.retrainEpochs} epochs, ${s.retrainSteps} steps each, same init)`,
    `  time: load ${sec(s.seconds.load)}, train+record ${sec(s.seconds.trainAndRecord)} (recording ${sec(s.seconds.record)}), CLD ${sec(s.seconds.cld)}, retrain ${sec(s.seconds.retrainCld)} + ${sec(s.seconds.retrainRandom)}, evaluation ${sec(s.seconds.evaluate)}, total ${sec(s.seconds.total)}`,
  ];
  if (s.out) out.push(`  wrote ${s.out}/trajectory/, ${s.out}/selection.json, ${s.out}/demo.json`);
  process.stdout.write(out.join('\n') + '\n');
}

// Select a 10 % CLD coreset from trajectories recorded by `riverbed train --record DIR`
// (or by your own training run: [epochs, samples] .npy files of per-sample losses).
//
//   node examples/cld-coreset.mjs runs/mnist
import { cldCoreset, loadLabels, loadTrajectory, selectBackend } from 'riverbed';

const dir = process.argv[2] ?? 'runs/mnist';
const train = await loadTrajectory(`${dir}/train_loss.npy`);
const val = await loadTrajectory(`${dir}/val_loss.npy`);
const { backend, reason } = await selectBackend('auto');
console.log(`backend: ${backend.name} (${reason})`);

const selection = await cldCoreset(
  {
    trainLoss: train.data,
    epochs: train.epochs,
    samples: train.samples,
    trainLabels: await loadLabels(`${dir}/train_labels.npy`),
    valLoss: val.data,
    valSamples: val.samples,
    valLabels: await loadLabels(`${dir}/val_labels.npy`),
  },
  { fraction: 0.1 },
  { backend },
);
backend.dispose();

console.log(`selected ${selection.indices.length} of ${train.samples} samples`);
console.log(`per class: ${selection.perClassSelected.join(' ')}`);
console.log(`first five: ${Array.from(selection.indices.slice(0, 5)).join(', ')}`);

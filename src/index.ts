/**
 * riverbed's public API. Nothing but re-exports: each feature lives in its own layer
 * (see ARCHITECTURE.md), and this file is the list of what users may rely on.
 */

// Errors
export { RiverbedError, type ErrorCode } from './errors.js';
export { VERSION } from './version.js';

// Backends
export type {
  Activation,
  AdamHyper,
  Backend,
  BackendChoice,
  BackendInfo,
  BackendName,
  CldKernelInput,
  SgdHyper,
  Tensor,
} from './backends/backend.js';
export { backendStatuses, createBackend, selectBackend, type BackendStatus, type Selected } from './backends/select.js';

// Coresets
export {
  cldCoreset,
  cldScores,
  classValidationZ,
  validateCldInputs,
  type CldInputs,
  type CldSelection,
} from './coreset/cld.js';
export { budgetPerClass, selectPerClass, type Budget } from './coreset/select.js';

// Files
export { readNpy, writeNpy, type NpyArray, type NpyDType } from './io/npy.js';
export { loadLabels, loadTrajectory, type Trajectory } from './io/trajectory.js';
export { readSafetensors, writeSafetensors, type NamedTensor } from './io/safetensors.js';
export { readIdx } from './io/idx.js';

// Data
export { loadMnist, type MnistSplits } from './data/mnist.js';
export { loadNpyDataset, splitDataset, type Dataset } from './data/dataset.js';

// Model
export {
  loadModelDescription,
  mlpDescription,
  parseModelDescription,
  type Layer,
  type ModelDescription,
} from './model/description.js';
export { Mlp, parameterSpecs } from './model/mlp.js';

// Training
export { Optimizer, optimizerConfig, type OptimizerConfig, type OptimizerName } from './train/optimizer.js';
export { learningRate, type ScheduleConfig, type ScheduleName } from './train/schedule.js';
export { train, type TrainOptions, type TrainResult } from './train/trainer.js';
export { runTraining, toDevice, type RunConfig, type RunResult } from './train/run.js';
export { TrajectoryRecorder, type TrajectoryManifest } from './train/recorder.js';
export { accuracy, evaluateSamples, type SampleMetrics } from './train/evaluate.js';

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
  FusedCurvatureRequest,
  FusedCurvatureState,
  FusedMlpLayer,
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
export {
  budgetPerClass,
  budgetPerClassWith,
  equalShares,
  selectPerClass,
  selectPerClassWith,
  type Budget,
  type BudgetMode,
  type BudgetOptions,
  type Keep,
} from './coreset/select.js';
export {
  cldCoresetFromFiles,
  cldScoresFromFiles,
  parseSize,
  type CldFiles,
  type StreamOptions,
  type StreamProgress,
  type StreamResult,
} from './coreset/stream.js';
export { cldShard, mergeCldShards, parseShard, type CldShardPart, type MergedSelection, type ShardSpec } from './coreset/shard.js';
export {
  METHOD_NAMES,
  METHODS,
  datasetRows,
  loadRecordedRun,
  positionsOfRows,
  methodNeeds,
  methodScores,
  methodSelect,
  parseMethodName,
  scoreRecordedRun,
  selectFromRecordedRun,
  type MethodInfo,
  type MethodName,
  type MethodParams,
  type MethodScores,
  type MethodSelection,
  type RecordedRun,
} from './coreset/methods.js';
export { randomScores } from './coreset/baselines/random.js';
export { forgettingScores } from './coreset/baselines/forgetting.js';
export { el2nScores } from './coreset/baselines/el2n.js';
export { aumScores } from './coreset/baselines/aum.js';
export { dynUncScores } from './coreset/baselines/dynunc.js';
export { ccsSelect, type CcsOptions } from './coreset/ccs.js';
export { OnlineCld, classMeans } from './coreset/online.js';
export { agreement, jaccard, kendallTauB, spearman, topK, type Agreement } from './coreset/stability.js';
export { hashFile, runManifest, type RunManifest } from './io/manifest.js';
export {
  EVALUATION_FORMAT,
  evaluateCoresets,
  retrainSteps,
  validateEvaluateOptions,
  type ArchitectureResult,
  type CellResult,
  type EvalData,
  type EvaluateOptions,
  type EvaluationResult,
  type RetrainBudget,
} from './coreset/evaluate.js';
export { evaluationPlot, formatEvaluation } from './coreset/evaluate/report.js';
export { loadFashionMnist, FASHION_CLASS_NAMES, type FashionSplits } from './data/fashion.js';

// Curvature (Hessian / GGN products, Lanczos, traces, spectral density)
export * from './curvature/index.js';

// Files
export { readNpy, writeNpy, type NpyArray, type NpyDType } from './io/npy.js';
export { loadIndices, loadLabels, loadTrajectory, type Trajectory } from './io/trajectory.js';
export { readSafetensors, writeSafetensors, type NamedTensor } from './io/safetensors.js';
export { readIdx } from './io/idx.js';

// Data
export { loadMnist, type MnistSplits } from './data/mnist.js';
export { loadNpyDataset, splitDataset, type Dataset } from './data/dataset.js';

// Model
export {
  describeModel,
  exampleCnnDescription,
  layerShapes,
  loadModelDescription,
  mlpDescription,
  parseModelDescription,
  type Conv2dLayer,
  type FlattenLayer,
  type Layer,
  type LinearLayer,
  type ModelDescription,
  type Pool2dLayer,
} from './model/description.js';
export { Mlp, Sequential, parameterSpecs } from './model/mlp.js';

// Training
export { Optimizer, optimizerConfig, type OptimizerConfig, type OptimizerName } from './train/optimizer.js';
export {
  learningRate,
  compileSchedule,
  scheduleValues,
  customSchedule,
  checkScheduleConfig,
  parseSchedule,
  parseDecayShape,
  SCHEDULES,
  DECAY_SHAPES,
  SCHEDULE_DEFAULTS,
  type CompiledSchedule,
  type DecayShape,
  type ScheduleConfig,
  type ScheduleFunction,
  type ScheduleFieldNames,
  type ScheduleName,
  type SchedulePhase,
} from './train/schedule.js';
export { train, type TrainOptions, type TrainResult } from './train/trainer.js';
export {
  branchPlot,
  checkBranchFractions,
  mainBranchSchedule,
  planBranches,
  runWsdBranches,
  trainWithCurve,
  writeWsdBranches,
  type BranchPlan,
  type Curve,
  type StepWatcher,
  type WsdBranchConfig,
  type WsdBranchesResult,
} from './train/branches.js';
export { RiverValleyProbe, type RiverValleyOptions, type ValleyRecord } from './curvature/river-valley.js';
export { runTraining, toDevice, type RunConfig, type RunResult } from './train/run.js';
export { TrajectoryRecorder, type TrajectoryManifest } from './train/recorder.js';
export { accuracy, evaluateSamples, type SampleMetrics } from './train/evaluate.js';
export { SAF_DIRECTIONS, SafState, checkSafConfig, parseSaf, safLossAndGradients, safTerm, type SafBatchResult, type SafConfig, type SafDirection } from './train/saf.js';
export {
  BISIMULATION_DEFAULT_GAMMA,
  bisimulationLoss,
  type BisimulationInputs,
  type BisimulationOptions,
  type BisimulationResult,
} from './train/bisimulation.js';

// Unlearning (docs/unlearning.md)
export { parseForgetSpec, resolveForget, forgetInput, type ForgetSpec, type ForgetSplit, type TrainingRows } from './unlearn/forget.js';
export {
  unlearn,
  unlearnConfig,
  checkUnlearnConfig,
  parseUnlearnMethod,
  UNLEARN_METHODS,
  METHOD_DEFAULTS,
  type UnlearnConfig,
  type UnlearnData,
  type UnlearnHooks,
  type UnlearnMethod,
  type UnlearnReport,
} from './unlearn/methods.js';
export { GuStepper, RetainBasis, GU_DEFAULTS, type GuConfig, type GuGeometry, type GuScope, type GuStats } from './unlearn/gu.js';
export {
  predictLogits,
  sampleStats,
  rocAuc,
  lossMiaAuc,
  fitLogistic,
  miaEfficacy,
  meanKl,
  type MiaEfficacy,
  type SampleStats,
} from './unlearn/metrics.js';
export { measure, evaluateUnlearning, type EvalSets, type HarnessData, type HarnessOptions, type HarnessResult, type ModelMetrics } from './unlearn/evaluate.js';

// Loss landscapes (issue 10): directions, many grid points per dispatch, mode connectivity, trajectories
export {
  gaussianDirection,
  normalizeDirection,
  orthogonalize,
  checkWeights,
  NORMALIZATIONS,
  type BiasMode,
  type Normalization,
  type Weights,
} from './landscape/directions.js';
export { BatchedEvaluator, evaluatePoints, evaluateOneByOne, uploadData, freeData, type DeviceBatches, type Family, type PointResults, type EvaluateOptions as LandscapeEvaluateOptions } from './landscape/evaluate.js';
export { axisValues, gridCoefs, shardPoints, type Axis, type GridSpec } from './landscape/grid.js';
export { pointsId, runPoints, type RunPointsInput, type RunPointsResult } from './landscape/run.js';
export { makeDirections, parseDirs, hessianEigenvectors, type DirectionSource, type DirectionInfo } from './landscape/sources.js';
export { barrier, bezierCoefs, bezierFamily, lineCoefs, linspace, trainBezier } from './landscape/connect.js';
export { trajectoryPca, projectPath } from './landscape/trajectory.js';
export { mergeParts, makePart, decodePart, encodePart, type LandscapeResult, type LandscapePart } from './landscape/result.js';
export { surfaceSpec, curvesSpec, renderVegaSvg, type SurfacePlot, type CurvesPlot } from './plot/surface.js';

// Plots (Vega → SVG → PNG)
export { lineChartSpec, renderSvg, svgToPng, writePlot, type LinePlot, type Series } from './plot/index.js';

// Benchmarks on this machine (`riverbed bench`)
export { runBench, timeCalls, type BenchOptions, type BenchReport, type BenchResult, type Limits, type MachineInfo, type Timing } from './bench/index.js';

/** Curvature of a model's loss (or of any symmetric operator): products, eigenpairs, traces, densities. */
export { checkVector, countingOperator, denseOperator, functionOperator, type LinearOperator } from './operator.js';
export {
  freeBatches,
  ggnOperator,
  hessianOperator,
  uploadBatches,
  type CurvatureOperatorOptions,
  type HostData,
  type ModelCurvatureOperator,
} from './model-operators.js';
export { exactResiduals, lanczos, llaCriterion, type EigenResult, type LanczosOptions, type LlaResult, type Which } from './lanczos.js';
export { powerIteration, type PowerOptions, type PowerResult } from './power.js';
export { hutchinson, hutchPlusPlus, type TraceEstimate, type TraceOptions } from './trace.js';
export { gaussianDensity, integrate, spectralDensity, type DensityOptions, type SpectralDensity } from './density.js';
export { defaultErrorBarSizes, errorBars, subsetData, type ErrorBarOptions, type ErrorBarReport, type ErrorBarRow } from './errorbars.js';
export { symmetricEigen, tridiagonalEigen, type SymmetricEigen } from './symeig.js';
export { meanInterval, studentTQuantile, summarize, type Summary } from './stats.js';
export {
  ALPHA_REQ_RELATIVE_FLOOR,
  RANKME_EPS,
  alphaReq,
  conditionNumber,
  covarianceEigenvalues,
  powerLawFit,
  rankMe,
  rankMeOf,
  singularValues,
  type ConditionNumber,
  type PowerLawFit,
} from './spectral.js';
export { radiusFromJvp, updateRadius, weightsOnHost, type UpdateRadius } from './ghosts.js';
export { PROBES, TrainProbes, parseProbe, representationLayer, type ProbeName, type ProbeRecord, type ProbeSpec } from './train-probes.js';
export {
  CurvatureProduct,
  flattenParameters,
  ggnVectorProduct,
  hessianVectorProduct,
  logitsJvp,
  parameterLayout,
  type CurvatureKind,
  type CurvatureProductOptions,
  type DeviceBatch,
  type ParameterBlock,
  type ParameterLayout,
} from '../model/hvp.js';

// The JavaScript-facing wrappers, one per kernel. Arguments are validated in TypeScript
// (src/backends/native/) and again here: count, types, and every array's length against the sizes
// given, so a wrong direct call throws instead of reading or writing out of bounds
// (test/unit/native-addon-robust.test.ts calls every export wrongly). Kernels themselves
// (gemm.h, cld.h, …) know nothing of Node-API.
#pragma once
#include <napi.h>

namespace riverbed {

Napi::Value Info(const Napi::CallbackInfo& info);
Napi::Value Sgemm(const Napi::CallbackInfo& info);
Napi::Value AddBias(const Napi::CallbackInfo& info);
Napi::Value Activation(const Napi::CallbackInfo& info);
Napi::Value ActivationGrad(const Napi::CallbackInfo& info);
Napi::Value SoftmaxXent(const Napi::CallbackInfo& info);
Napi::Value SumRows(const Napi::CallbackInfo& info);
Napi::Value Sum(const Napi::CallbackInfo& info);
Napi::Value Dot(const Napi::CallbackInfo& info);
Napi::Value Axpy(const Napi::CallbackInfo& info);
Napi::Value Scale(const Napi::CallbackInfo& info);
Napi::Value GatherRows(const Napi::CallbackInfo& info);
Napi::Value SgdStep(const Napi::CallbackInfo& info);
Napi::Value AdamStep(const Napi::CallbackInfo& info);
Napi::Value SumBandwidth(const Napi::CallbackInfo& info);
Napi::Value CldScores(const Napi::CallbackInfo& info);  // → Promise<number>
Napi::Value MapFile(const Napi::CallbackInfo& info);
Napi::Value Mul(const Napi::CallbackInfo& info);
Napi::Value ActivationRGrad(const Napi::CallbackInfo& info);
Napi::Value SoftmaxHessianVec(const Napi::CallbackInfo& info);
Napi::Value MlpCurvatureProduct(const Napi::CallbackInfo& info);  // fused HVP / GGN product (mlp_hvp.h)
Napi::Value MlpCurvatureProductAsync(const Napi::CallbackInfo& info);  // → Promise<number>, on a libuv worker
// Fused training steps (mlp_train.h; wrappers in mlp_train_binding.cc): a workspace per call site,
// and the steps of one call → Promise<Σ loss>, on a libuv worker.
Napi::Value MlpTrainWorkspace(const Napi::CallbackInfo& info);
Napi::Value MlpTrainSteps(const Napi::CallbackInfo& info);

// Per-environment data (the fused product's workspaces); called once by each environment's Init.
void InitInstance(Napi::Env env);

}  // namespace riverbed

// riverbed's native addon: registration only. Kernels live in one .h/.cc pair per family,
// their JavaScript wrappers in bindings.cc.
#include <napi.h>

#include "bindings.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace riverbed;
  const struct {
    const char* name;
    Napi::Value (*fn)(const Napi::CallbackInfo&);
  } fns[] = {
      {"info", Info},           {"sgemm", Sgemm},       {"addBias", AddBias},
      {"activation", Activation}, {"activationGrad", ActivationGrad}, {"softmaxXent", SoftmaxXent},
      {"sumRows", SumRows},     {"sum", Sum},           {"dot", Dot},
      {"axpy", Axpy},           {"scale", Scale},       {"gatherRows", GatherRows},
      {"sgdStep", SgdStep},     {"adamStep", AdamStep}, {"sumBandwidth", SumBandwidth},
      {"cldScores", CldScores}, {"mapFile", MapFile},
      {"mul", Mul},             {"activationRGrad", ActivationRGrad}, {"softmaxHessianVec", SoftmaxHessianVec},
      {"mlpCurvatureProduct", MlpCurvatureProduct},
  };
  for (const auto& f : fns) exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
  return exports;
}

}  // namespace

NODE_API_MODULE(riverbed_native, Init)

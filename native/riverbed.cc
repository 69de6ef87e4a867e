// riverbed's native addon: registration only. Kernels live in one .h/.cc pair per family,
// their JavaScript wrappers in bindings.cc — or, for newer ops, in the kernel file itself,
// registered with RIVERBED_EXPORT (registry.h).
#include <napi.h>

#include <exception>
#include <string>
#include <vector>

#include "bindings.h"
#include "registry.h"

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
      {"mlpCurvatureProduct", MlpCurvatureProduct}, {"mlpCurvatureProductAsync", MlpCurvatureProductAsync},
      {"mlpTrainWorkspace", MlpTrainWorkspace}, {"mlpTrainSteps", MlpTrainSteps},
  };
  InitInstance(env);
  // The hand-listed entries above, then every export a kernel file registered itself (registry.h).
  std::vector<RegisteredExport> all;
  for (const auto& f : fns) all.push_back({f.name, f.fn});
  for (const auto& r : registered_exports()) all.push_back(r);
  for (const auto& f : all) {
    // The name is the callback's data (bindings.cc prefixes its errors with it); a C++ exception
    // that is not already a JS error (std::bad_alloc of a workspace) becomes one instead of abort().
    auto fn = f.fn;
    auto guarded = [fn](const Napi::CallbackInfo& info) -> Napi::Value {
      try {
        return fn(info);
      } catch (const Napi::Error&) {
        throw;
      } catch (const std::exception& e) {
        throw Napi::Error::New(info.Env(), std::string(static_cast<const char*>(info.Data())) + ": " + e.what());
      }
    };
    exports.Set(f.name, Napi::Function::New(env, guarded, f.name, const_cast<char*>(f.name)));
  }
  return exports;
}

}  // namespace

NODE_API_MODULE(riverbed_native, Init)

// Self-registering addon exports and the calling convention of generic ops.
//
// A kernel file registers its entry point itself (RIVERBED_EXPORT), so adding an op never edits
// riverbed.cc or bindings.cc. Generic ops (src/backends/ops.ts, `generic()`) are called by the
// TypeScript executor as  fn(plan, ...tensor params, ...outputs): `plan` is a plain object of
// numbers (the op's checked plan and the call's scalars), then one typed array per tensor
// parameter in declaration order, then one per declared output. GenericArgs checks all of it —
// count, types, every array's exact length — and throws a TypeError/RangeError before a kernel
// runs, so a wrong direct call never reads or writes out of bounds.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace riverbed {

using ExportFn = Napi::Value (*)(const Napi::CallbackInfo&);
struct RegisteredExport {
  const char* name;
  ExportFn fn;
};
// A function-local static: initialised on first use, whatever the order of static initialisers.
inline std::vector<RegisteredExport>& registered_exports() {
  static std::vector<RegisteredExport> exports;
  return exports;
}
struct ExportRegistrar {
  ExportRegistrar(const char* name, ExportFn fn) { registered_exports().push_back({name, fn}); }
};
#define RIVERBED_EXPORT(name, fn) static ::riverbed::ExportRegistrar riverbed_export_##fn(name, fn)

class GenericArgs {
 public:
  // `arrays`: how many typed arrays follow the plan.
  GenericArgs(const Napi::CallbackInfo& info, size_t arrays) : info_(info) {
    const char* n = static_cast<const char*>(info.Data());
    name_ = n ? n : "riverbed generic op";
    if (info.Length() != arrays + 1) type("expects a plan and " + std::to_string(arrays) + " arrays, got " + std::to_string(info.Length()) + " arguments");
    if (!info[0].IsObject()) type("argument 0 (plan) must be an object");
    plan_ = info[0].As<Napi::Object>();
  }
  // A finite number of the plan.
  double num(const char* key) const {
    Napi::Value v = plan_.Get(key);
    if (!v.IsNumber()) type(std::string("plan.") + key + " must be a number");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d)) range(std::string("plan.") + key + " must be finite");
    return d;
  }
  // A size of the plan: an integer in [0, 2^53).
  size_t dim(const char* key) const {
    const double d = num(key);
    if (!(d >= 0 && d <= 9007199254740991.0 && std::floor(d) == d)) range(std::string("plan.") + key + " must be a non-negative integer");
    return (size_t)d;
  }
  // Array i (0-based after the plan): a Float32Array of exactly n elements.
  float* f32(size_t i, size_t n) const { return array<float>(i, n, napi_float32_array, "Float32Array"); }
  int32_t* i32(size_t i, size_t n) const { return array<int32_t>(i, n, napi_int32_array, "Int32Array"); }

  [[noreturn]] void type(const std::string& m) const { throw Napi::TypeError::New(info_.Env(), name_ + ": " + m); }
  [[noreturn]] void range(const std::string& m) const { throw Napi::RangeError::New(info_.Env(), name_ + ": " + m); }

 private:
  template <typename T>
  T* array(size_t i, size_t n, napi_typedarray_type want, const char* tname) const {
    napi_typedarray_type kind;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(info_.Env(), info_[i + 1], &kind, &length, &data, nullptr, nullptr) != napi_ok || kind != want) {
      type("argument " + std::to_string(i + 1) + " must be a " + tname);
    }
    if (length != n) range("argument " + std::to_string(i + 1) + " has " + std::to_string(length) + " elements; the plan needs " + std::to_string(n));
    return static_cast<T*>(data);
  }
  const Napi::CallbackInfo& info_;
  std::string name_;
  Napi::Object plan_;
};

}  // namespace riverbed

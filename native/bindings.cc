#include "bindings.h"

#include <string>

#include "cld.h"
#include "cpu.h"
#include "elementwise.h"
#include "gemm.h"
#include "mlp_hvp.h"
#include "mmap.h"
#include "optim.h"
#include "pool.h"
#include "reduce.h"
#include "softmax.h"

namespace riverbed {
namespace {

template <typename T>
struct Span {
  T* data;
  size_t length;
};

// One napi_get_typedarray_info call per argument (type, length and data together): the small
// kernels of a small MLP are dominated by per-call costs like this one.
template <typename T, napi_typedarray_type kind>
Span<T> typed(const Napi::CallbackInfo& info, size_t i, const char* what) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(info.Env(), info[i], &type, &length, &data, nullptr, nullptr) != napi_ok || type != kind) {
    Napi::Env env = info.Env();
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
    throw Napi::TypeError::New(env, std::string("argument ") + std::to_string(i) + " (" + what + ") has the wrong type");
  }
  return {static_cast<T*>(data), length};
}
Span<float> f32(const Napi::CallbackInfo& info, size_t i, const char* what) {
  return typed<float, napi_float32_array>(info, i, what);
}
Span<int32_t> i32(const Napi::CallbackInfo& info, size_t i, const char* what) {
  return typed<int32_t, napi_int32_array>(info, i, what);
}
Span<double> f64(const Napi::CallbackInfo& info, size_t i, const char* what) {
  return typed<double, napi_float64_array>(info, i, what);
}
double num(const Napi::CallbackInfo& info, size_t i) {
  double v;
  if (napi_get_value_double(info.Env(), info[i], &v) != napi_ok) {
    Napi::Env env = info.Env();
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
    throw Napi::TypeError::New(env, "argument " + std::to_string(i) + " must be a number");
  }
  return v;
}
size_t count(const Napi::CallbackInfo& info, size_t i) {
  const double v = num(info, i);
  if (!(v >= 0)) throw Napi::RangeError::New(info.Env(), "argument " + std::to_string(i) + " must be >= 0");
  return (size_t)v;
}
bool flag(const Napi::CallbackInfo& info, size_t i) { return info[i].ToBoolean().Value(); }

// The CLD kernel off the main thread. The baton holds plain pointers; the typed arrays stay
// referenced by the worker until it completes.
class CldWorker : public Napi::AsyncWorker {
 public:
  struct Baton {
    const void* traj;
    bool f64;
    size_t E, N, C;
    const int32_t* labels;
    const double* z;
    float* out;
    long bad = -1;
  };

  CldWorker(Napi::Env env, const Baton& b, const Napi::CallbackInfo& info)
      : Napi::AsyncWorker(env, "riverbed:cld"), baton_(b), deferred_(Napi::Promise::Deferred::New(env)) {
    const size_t args[4] = {0, 3, 4, 6};  // trajectory, labels, classZ, out
    for (int k = 0; k < 4; k++) keep_[k] = Napi::Persistent(info[args[k]].As<Napi::Object>());
  }
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    const Baton& b = baton_;
    baton_.bad = b.f64 ? cld_scores_f64(static_cast<const double*>(b.traj), b.E, b.N, b.labels, b.z, b.C, b.out)
                       : cld_scores_f32(static_cast<const float*>(b.traj), b.E, b.N, b.labels, b.z, b.C, b.out);
  }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), (double)baton_.bad)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Baton baton_;
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference keep_[4];
};

}  // namespace

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("threads", Napi::Number::New(info.Env(), pool_threads()));
  o.Set("isa", Napi::String::New(info.Env(), isa_name(cpu_isa())));
  return o;
}

// sgemm(M, N, K, A, transA, B, transB, C)
Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  sgemm((int)count(info, 0), (int)count(info, 1), (int)count(info, 2), f32(info, 3, "A").data, flag(info, 4),
        f32(info, 5, "B").data, flag(info, 6), f32(info, 7, "C").data);
  return info.Env().Undefined();
}

// addBias(x, bias, out, rows, cols)
Napi::Value AddBias(const Napi::CallbackInfo& info) {
  add_bias(f32(info, 0, "x").data, f32(info, 1, "bias").data, f32(info, 2, "out").data, count(info, 3), count(info, 4));
  return info.Env().Undefined();
}

// activation(kind, x, out)
Napi::Value Activation(const Napi::CallbackInfo& info) {
  auto x = f32(info, 1, "x");
  activation((Act)(int)num(info, 0), x.data, f32(info, 2, "out").data, x.length);
  return info.Env().Undefined();
}

// activationGrad(kind, x, gy, out)
Napi::Value ActivationGrad(const Napi::CallbackInfo& info) {
  auto x = f32(info, 1, "x");
  activation_grad((Act)(int)num(info, 0), x.data, f32(info, 2, "gy").data, f32(info, 3, "out").data, x.length);
  return info.Env().Undefined();
}

// softmaxXent(logits, labels, loss, grad, B, C) → first bad label row or -1
Napi::Value SoftmaxXent(const Napi::CallbackInfo& info) {
  const long bad = softmax_xent(f32(info, 0, "logits").data, i32(info, 1, "labels").data, f32(info, 2, "loss").data,
                                f32(info, 3, "grad").data, count(info, 4), count(info, 5));
  return Napi::Number::New(info.Env(), (double)bad);
}

// sumRows(x, out, rows, cols)
Napi::Value SumRows(const Napi::CallbackInfo& info) {
  sum_rows(f32(info, 0, "x").data, f32(info, 1, "out").data, count(info, 2), count(info, 3));
  return info.Env().Undefined();
}

Napi::Value Sum(const Napi::CallbackInfo& info) {
  auto x = f32(info, 0, "x");
  return Napi::Number::New(info.Env(), sum(x.data, x.length));
}

Napi::Value Dot(const Napi::CallbackInfo& info) {
  auto x = f32(info, 0, "x");
  return Napi::Number::New(info.Env(), dot(x.data, f32(info, 1, "y").data, x.length));
}

// axpy(alpha, x, y, out)
Napi::Value Axpy(const Napi::CallbackInfo& info) {
  auto x = f32(info, 1, "x");
  axpy(num(info, 0), x.data, f32(info, 2, "y").data, f32(info, 3, "out").data, x.length);
  return info.Env().Undefined();
}

// scale(alpha, x, out)
Napi::Value Scale(const Napi::CallbackInfo& info) {
  auto x = f32(info, 1, "x");
  scale(num(info, 0), x.data, f32(info, 2, "out").data, x.length);
  return info.Env().Undefined();
}

// gatherRows(x, rows, cols, idx, out) → first bad index position or -1
Napi::Value GatherRows(const Napi::CallbackInfo& info) {
  auto idx = i32(info, 3, "idx");
  const long bad = gather_rows(f32(info, 0, "x").data, count(info, 1), count(info, 2), idx.data, idx.length,
                               f32(info, 4, "out").data);
  return Napi::Number::New(info.Env(), (double)bad);
}

// sgdStep(p, g, v, lr, wd, momentum, nesterov)
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  auto p = f32(info, 0, "param");
  sgd_step(p.data, f32(info, 1, "grad").data, f32(info, 2, "velocity").data, p.length, num(info, 3), num(info, 4),
           num(info, 5), flag(info, 6));
  return info.Env().Undefined();
}

// adamStep(p, g, m, v, lr, wd, beta1, beta2, eps, step, decoupled)
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  auto p = f32(info, 0, "param");
  adam_step(p.data, f32(info, 1, "grad").data, f32(info, 2, "m").data, f32(info, 3, "v").data, p.length, num(info, 4),
            num(info, 5), num(info, 6), num(info, 7), num(info, 8), num(info, 9), flag(info, 10));
  return info.Env().Undefined();
}

// mul(x, y, out)
Napi::Value Mul(const Napi::CallbackInfo& info) {
  auto x = f32(info, 0, "x");
  mul(x.data, f32(info, 1, "y").data, f32(info, 2, "out").data, x.length);
  return info.Env().Undefined();
}

// activationRGrad(kind, z, rz, ga, rga, out)
Napi::Value ActivationRGrad(const Napi::CallbackInfo& info) {
  auto z = f32(info, 1, "z");
  activation_rgrad((Act)(int)num(info, 0), z.data, f32(info, 2, "rz").data, f32(info, 3, "ga").data,
                   f32(info, 4, "rga").data, f32(info, 5, "out").data, z.length);
  return info.Env().Undefined();
}

// softmaxHessianVec(logits, r, out, B, C)
Napi::Value SoftmaxHessianVec(const Napi::CallbackInfo& info) {
  softmax_hessian_vec(f32(info, 0, "logits").data, f32(info, 1, "r").data, f32(info, 2, "out").data, count(info, 3),
                      count(info, 4));
  return info.Env().Undefined();
}

// mlpCurvatureProduct(layers Int32Array [act, in, out, hasBias, active] per layer, params
//   Array<Float32Array> (each linear layer's weight, then its bias if any), x, labels, B, v, out,
//   ggn, scale, accumulate, stateH Array<Float32Array> | null, stateG Array<Float32Array|null> | null,
//   stateD Array<Float32Array|null> | null, stateValid) → first bad label row or -1. Shapes are validated in TypeScript.
Napi::Value MlpCurvatureProduct(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto spec = i32(info, 0, "layers");
  if (spec.length % 5 != 0) throw Napi::TypeError::New(env, "layers must hold 5 integers per layer");
  if (!info[1].IsArray()) throw Napi::TypeError::New(env, "params must be an array of Float32Array");
  Napi::Array params = info[1].As<Napi::Array>();
  auto f32_at = [&](Napi::Array arr, uint32_t k, const char* what) -> float* {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    Napi::Value e = arr.Get(k);
    if (napi_get_typedarray_info(env, e, &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_float32_array) {
      if (env.IsExceptionPending()) env.GetAndClearPendingException();
      throw Napi::TypeError::New(env, std::string(what) + "[" + std::to_string(k) + "] must be a Float32Array");
    }
    return static_cast<float*>(data);
  };
  MlpHvpArgs a{};
  const size_t n = spec.length / 5;
  uint32_t next = 0;
  for (size_t i = 0; i < n; i++) {
    const int32_t* s = spec.data + 5 * i;
    MlpHvpLayer l{s[0], s[1], s[2], nullptr, nullptr, s[4] != 0};
    if (l.act < 0) {
      if (next >= params.Length()) throw Napi::RangeError::New(env, "too few parameter arrays for the layers");
      l.weight = f32_at(params, next++, "params");
      if (s[3]) {
        if (next >= params.Length()) throw Napi::RangeError::New(env, "too few parameter arrays for the layers");
        l.bias = f32_at(params, next++, "params");
      }
    }
    a.layers.push_back(l);
  }
  a.x = f32(info, 2, "x").data;
  a.labels = i32(info, 3, "labels").data;
  a.B = count(info, 4);
  a.v = f32(info, 5, "v").data;
  a.out = f32(info, 6, "out").data;
  a.ggn = flag(info, 7);
  a.scale = num(info, 8);
  a.accumulate = flag(info, 9);
  std::vector<float*> sh, sg, sd;
  if (info[10].IsArray()) {
    if (!info[11].IsArray() || !info[12].IsArray()) throw Napi::TypeError::New(env, "stateG and stateD must be arrays with stateH");
    Napi::Array H = info[10].As<Napi::Array>(), G = info[11].As<Napi::Array>(), D = info[12].As<Napi::Array>();
    if (H.Length() != n || G.Length() != n || D.Length() != n) throw Napi::RangeError::New(env, "state arrays must have one entry per layer");
    for (uint32_t k = 0; k < n; k++) {
      sh.push_back(f32_at(H, k, "stateH"));
      sg.push_back(G.Get(k).IsTypedArray() ? f32_at(G, k, "stateG") : nullptr);
      sd.push_back(D.Get(k).IsTypedArray() ? f32_at(D, k, "stateD") : nullptr);
    }
    a.state_h = sh.data();
    a.state_g = sg.data();
    a.state_d = sd.data();
  }
  a.state_valid = flag(info, 13);
  return Napi::Number::New(env, (double)mlp_curvature_product(a));
}

Napi::Value SumBandwidth(const Napi::CallbackInfo& info) {
  auto x = f32(info, 0, "x");
  return Napi::Number::New(info.Env(), sum_bandwidth(x.data, x.length));
}

// cldScores(traj (Float32Array|Float64Array), E, N, labels, z, C, out) → Promise<first bad label or -1>
Napi::Value CldScores(const Napi::CallbackInfo& info) {
  CldWorker::Baton b{};
  Napi::Value t = info[0];
  if (!t.IsTypedArray()) throw Napi::TypeError::New(info.Env(), "trajectory must be a Float32Array or Float64Array");
  const auto kind = t.As<Napi::TypedArray>().TypedArrayType();
  if (kind == napi_float32_array) b.traj = f32(info, 0, "trajectory").data, b.f64 = false;
  else if (kind == napi_float64_array) b.traj = f64(info, 0, "trajectory").data, b.f64 = true;
  else throw Napi::TypeError::New(info.Env(), "trajectory must be a Float32Array or Float64Array");
  b.E = count(info, 1);
  b.N = count(info, 2);
  b.labels = i32(info, 3, "labels").data;
  b.z = f64(info, 4, "classZ").data;
  b.C = count(info, 5);
  b.out = f32(info, 6, "out").data;
  auto* w = new CldWorker(info.Env(), b, info);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// mapFile(path) → ArrayBuffer over a read-only mapping, unmapped when collected
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "path must be a string");
  Mapping m = map_file(info[0].As<Napi::String>().Utf8Value());
  if (!m.error.empty()) throw Napi::Error::New(env, m.error);
  if (!m.data) return Napi::ArrayBuffer::New(env, 0);
  const size_t len = m.length;
  return Napi::ArrayBuffer::New(env, m.data, len, [len](Napi::Env, void* data) { unmap(data, len); });
}

}  // namespace riverbed

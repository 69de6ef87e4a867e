#include "bindings.h"

#include <cmath>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

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

// Every entry point checks its argument count, the type of every argument and the length of every
// array against the sizes it is given, and throws a TypeError / RangeError naming the function
// (registered as the callback's data, riverbed.cc) before any kernel runs: the TypeScript wrappers
// validate first, but a wrong direct call must never read or write out of bounds.
const char* fname(const Napi::CallbackInfo& info) {
  const char* name = static_cast<const char*>(info.Data());
  return name ? name : "riverbed native addon";
}
[[noreturn]] void type_error(const Napi::CallbackInfo& info, const std::string& msg) {
  Napi::Env env = info.Env();
  if (env.IsExceptionPending()) env.GetAndClearPendingException();
  throw Napi::TypeError::New(env, std::string(fname(info)) + ": " + msg);
}
[[noreturn]] void range_error(const Napi::CallbackInfo& info, const std::string& msg) {
  throw Napi::RangeError::New(info.Env(), std::string(fname(info)) + ": " + msg);
}
std::string arg(size_t i, const char* what) { return "argument " + std::to_string(i) + " (" + what + ")"; }

void arity(const Napi::CallbackInfo& info, size_t n) {
  if (info.Length() != n) {
    type_error(info, "expects " + std::to_string(n) + " arguments, got " + std::to_string(info.Length()));
  }
}

// One napi_get_typedarray_info call per argument (type, length and data together): the small
// kernels of a small MLP are dominated by per-call costs like this one.
template <typename T, napi_typedarray_type kind>
Span<T> typed(const Napi::CallbackInfo& info, size_t i, const char* what, const char* type_name) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(info.Env(), info[i], &type, &length, &data, nullptr, nullptr) != napi_ok || type != kind) {
    type_error(info, arg(i, what) + " must be a " + type_name);
  }
  return {static_cast<T*>(data), length};
}
Span<float> f32(const Napi::CallbackInfo& info, size_t i, const char* what) {
  return typed<float, napi_float32_array>(info, i, what, "Float32Array");
}
Span<int32_t> i32(const Napi::CallbackInfo& info, size_t i, const char* what) {
  return typed<int32_t, napi_int32_array>(info, i, what, "Int32Array");
}
Span<double> f64(const Napi::CallbackInfo& info, size_t i, const char* what) {
  return typed<double, napi_float64_array>(info, i, what, "Float64Array");
}
double num(const Napi::CallbackInfo& info, size_t i) {
  double v;
  if (napi_get_value_double(info.Env(), info[i], &v) != napi_ok) type_error(info, "argument " + std::to_string(i) + " must be a number");
  return v;
}
// A size or count: an integer in [0, max] (2^53 − 1 by default; INT32_MAX where a kernel takes int).
size_t count(const Napi::CallbackInfo& info, size_t i, double max = 9007199254740991.0) {
  const double v = num(info, i);
  if (!(v >= 0 && v <= max && std::floor(v) == v)) {
    std::ostringstream o;
    o << "argument " << i << " must be an integer in [0, " << (long long)max << "], got " << v;
    range_error(info, o.str());
  }
  return (size_t)v;
}
constexpr double INT_DIM = 2147483647.0;
bool flag(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsBoolean()) type_error(info, "argument " + std::to_string(i) + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}
// An activation code (elementwise.h's Act).
Act act(const Napi::CallbackInfo& info, size_t i) {
  const double v = num(info, i);
  if (!(v == 0 || v == 1 || v == 2 || v == 3)) range_error(info, "argument " + std::to_string(i) + " must be an activation code 0..3");
  return (Act)(int)v;
}
// a·b, or a RangeError when it does not fit in size_t.
size_t checked_mul(const Napi::CallbackInfo& info, size_t a, size_t b) {
  size_t r;
  if (__builtin_mul_overflow(a, b, &r)) range_error(info, "sizes overflow");
  return r;
}
template <typename T>
Span<T> expect(const Napi::CallbackInfo& info, Span<T> s, size_t n, const char* what) {
  if (s.length != n) {
    range_error(info, std::string(what) + " has " + std::to_string(s.length) + " elements; the sizes given need " + std::to_string(n));
  }
  return s;
}

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

// Free workspaces of the fused curvature product: a call takes one (or a new one) and gives it
// back, so concurrent products (async ones of one environment) never share scratch.
struct WorkspacePool {
  std::mutex mtx;
  std::vector<std::unique_ptr<MlpHvpWorkspace>> free;
};
class WorkspaceLease {
 public:
  explicit WorkspaceLease(std::shared_ptr<WorkspacePool> pool) : pool_(std::move(pool)) {
    std::lock_guard<std::mutex> lk(pool_->mtx);
    if (pool_->free.empty()) {
      ws_ = std::make_unique<MlpHvpWorkspace>();
    } else {
      ws_ = std::move(pool_->free.back());
      pool_->free.pop_back();
    }
  }
  ~WorkspaceLease() {
    std::lock_guard<std::mutex> lk(pool_->mtx);
    pool_->free.push_back(std::move(ws_));
  }
  MlpHvpWorkspace& get() { return *ws_; }

 private:
  std::shared_ptr<WorkspacePool> pool_;
  std::unique_ptr<MlpHvpWorkspace> ws_;
};

// What the addon keeps per Node-API environment (the main thread and every worker_thread that
// loads it): no mutable process-global state but the shared thread pool (pool.h). In-flight async
// products hold the workspace pool by shared_ptr, so an environment torn down never frees it
// under them.
struct Instance {
  std::shared_ptr<WorkspacePool> hvp = std::make_shared<WorkspacePool>();
};
Instance& instance(const Napi::CallbackInfo& info) {
  Instance* in = info.Env().GetInstanceData<Instance>();
  if (!in) throw Napi::Error::New(info.Env(), std::string(fname(info)) + ": the addon's instance data is missing");
  return *in;
}

// A checked fused-product call: the kernel's arguments and every typed array it touches.
struct HvpCall {
  MlpHvpArgs a{};
  std::vector<float*> sh, sg, sd;
  std::vector<napi_value> arrays;  // valid in the calling scope only
  void bind_state() {
    if (sh.empty()) return;
    a.state_h = sh.data();
    a.state_g = sg.data();
    a.state_d = sd.data();
  }
};

bool absent(const Napi::Value& v) { return v.IsNull() || v.IsUndefined(); }

// Checks every argument of mlpCurvatureProduct(Async) against the layer specs: widths chain, one
// Float32Array of out·in (+ out for a bias) per linear layer, x [B, in], labels [B], v and out of
// the active layers' size, kept state arrays of B·width each.
void parse_hvp(const Napi::CallbackInfo& info, HvpCall& c) {
  arity(info, 14);
  Napi::Env env = info.Env();
  auto spec = i32(info, 0, "layers");
  if (spec.length == 0 || spec.length % 5 != 0) range_error(info, "layers must hold 5 integers per layer, at least one layer");
  if (!info[1].IsArray()) type_error(info, arg(1, "params") + " must be an array of Float32Array");
  Napi::Array params = info[1].As<Napi::Array>();
  const size_t B = count(info, 4, INT_DIM);
  const bool ggn = flag(info, 7);
  auto f32_at = [&](Napi::Array arr, uint32_t k, const char* what, size_t n) -> float* {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    Napi::Value e = arr.Get(k);
    const std::string name = std::string(what) + "[" + std::to_string(k) + "]";
    if (napi_get_typedarray_info(env, e, &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_float32_array) {
      type_error(info, name + " must be a Float32Array");
    }
    if (length != n) range_error(info, name + " has " + std::to_string(length) + " elements; the layers need " + std::to_string(n));
    c.arrays.push_back(e);
    return static_cast<float*>(data);
  };
  const size_t n = spec.length / 5;
  const uint32_t nparams = params.Length();
  uint32_t next = 0;
  size_t vsize = 0;
  int lowest = -1;
  for (size_t i = 0; i < n; i++) {
    const int32_t* s = spec.data + 5 * i;
    const std::string at = "layers[" + std::to_string(i) + "]: ";
    if (s[0] < -1 || s[0] > 3) range_error(info, at + "activation code must be -1 (linear) or 0..3");
    if (s[1] < 1 || s[2] < 1) range_error(info, at + "widths must be >= 1");
    if ((s[3] != 0 && s[3] != 1) || (s[4] != 0 && s[4] != 1)) range_error(info, at + "hasBias and active must be 0 or 1");
    if (i > 0 && s[1] != c.a.layers.back().out) range_error(info, at + "takes " + std::to_string(s[1]) + " features, the previous layer gives " + std::to_string(c.a.layers.back().out));
    MlpHvpLayer l{s[0], s[1], s[2], nullptr, nullptr, s[4] != 0};
    if (l.act >= 0) {
      if (s[1] != s[2] || s[3] || s[4]) range_error(info, at + "an activation layer has in == out, no bias and is not active");
    } else {
      const size_t w = checked_mul(info, (size_t)l.out, (size_t)l.in);
      if (next >= nparams) range_error(info, "params holds " + std::to_string(nparams) + " arrays; the layers need more");
      l.weight = f32_at(params, next++, "params", w);
      if (s[3]) {
        if (next >= nparams) range_error(info, "params holds " + std::to_string(nparams) + " arrays; the layers need more");
        l.bias = f32_at(params, next++, "params", (size_t)l.out);
      }
      if (l.active) {
        if (lowest < 0) lowest = (int)i;
        vsize += w + (s[3] ? (size_t)l.out : 0);
      }
    }
    c.a.layers.push_back(l);
  }
  if (next != nparams) range_error(info, "params holds " + std::to_string(nparams) + " arrays; the layers need " + std::to_string(next));
  if (c.a.layers.back().act >= 0) range_error(info, "the last layer must be linear (the logits)");
  if (lowest < 0) range_error(info, "no layer is active");
  const size_t in0 = (size_t)c.a.layers.front().in;
  auto x = expect(info, f32(info, 2, "x"), checked_mul(info, B, in0), "x");
  auto labels = expect(info, i32(info, 3, "labels"), B, "labels");
  auto v = expect(info, f32(info, 5, "v"), vsize, "v");
  auto out = expect(info, f32(info, 6, "out"), vsize, "out");
  for (size_t k : {2, 3, 5, 6}) c.arrays.push_back(info[k]);
  c.a.x = x.data;
  c.a.labels = labels.data;
  c.a.B = B;
  c.a.v = v.data;
  c.a.out = out.data;
  c.a.ggn = ggn;
  c.a.scale = num(info, 8);
  c.a.accumulate = flag(info, 9);
  if (absent(info[10])) {
    if (!absent(info[11]) || !absent(info[12])) type_error(info, "stateG and stateD must be null without stateH");
  } else {
    if (!info[10].IsArray() || !info[11].IsArray() || !info[12].IsArray()) type_error(info, "stateH, stateG and stateD must be arrays (or all null)");
    Napi::Array H = info[10].As<Napi::Array>(), G = info[11].As<Napi::Array>(), D = info[12].As<Napi::Array>();
    if (H.Length() != n || G.Length() != n || D.Length() != n) range_error(info, "state arrays must have one entry per layer");
    for (uint32_t k = 0; k < n; k++) {
      const MlpHvpLayer& l = c.a.layers[k];
      const size_t w = checked_mul(info, B, (size_t)l.out);
      c.sh.push_back(f32_at(H, k, "stateH", w));
      // The kernel reads G[k] (Hessian, from the lowest active layer up) and D[k] (activations)
      // only; an entry it does not read must be null.
      if (!ggn && (int)k >= lowest) c.sg.push_back(f32_at(G, k, "stateG", w));
      else if (!absent(G.Get(k))) type_error(info, "stateG[" + std::to_string(k) + "] must be null");
      else c.sg.push_back(nullptr);
      if (l.act >= 0) c.sd.push_back(f32_at(D, k, "stateD", checked_mul(info, 2, w)));
      else if (!absent(D.Get(k))) type_error(info, "stateD[" + std::to_string(k) + "] must be null");
      else c.sd.push_back(nullptr);
    }
  }
  c.a.state_valid = flag(info, 13);
}

// The fused product on a libuv worker: the typed arrays stay referenced until it completes; the
// caller must not change them meanwhile (the TypeScript side awaits before touching them).
class HvpWorker : public Napi::AsyncWorker {
 public:
  HvpWorker(Napi::Env env, HvpCall&& call, std::shared_ptr<WorkspacePool> pool)
      : Napi::AsyncWorker(env, "riverbed:curvature"), call_(std::move(call)), pool_(std::move(pool)),
        deferred_(Napi::Promise::Deferred::New(env)) {
    for (napi_value v : call_.arrays) keep_.push_back(Napi::Persistent(Napi::Value(env, v).As<Napi::Object>()));
    call_.arrays.clear();
    call_.bind_state();
  }
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    WorkspaceLease ws(pool_);
    bad_ = mlp_curvature_product(call_.a, ws.get());
  }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), (double)bad_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  HvpCall call_;
  std::shared_ptr<WorkspacePool> pool_;
  Napi::Promise::Deferred deferred_;
  std::vector<Napi::ObjectReference> keep_;
  long bad_ = -1;
};

}  // namespace

void InitInstance(Napi::Env env) { env.SetInstanceData(new Instance()); }

Napi::Value Info(const Napi::CallbackInfo& info) {
  arity(info, 0);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("threads", Napi::Number::New(info.Env(), pool_threads()));
  o.Set("isa", Napi::String::New(info.Env(), isa_name(cpu_isa())));
  return o;
}

// sgemm(M, N, K, A, transA, B, transB, C)
// A holds M·K values ([M,K], or [K,M] with transA), B K·N, C M·N.
Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  arity(info, 8);
  const size_t M = count(info, 0, INT_DIM), N = count(info, 1, INT_DIM), K = count(info, 2, INT_DIM);
  auto A = expect(info, f32(info, 3, "A"), checked_mul(info, M, K), "A (M*K)");
  auto B = expect(info, f32(info, 5, "B"), checked_mul(info, K, N), "B (K*N)");
  auto C = expect(info, f32(info, 7, "C"), checked_mul(info, M, N), "C (M*N)");
  sgemm((int)M, (int)N, (int)K, A.data, flag(info, 4), B.data, flag(info, 6), C.data);
  return info.Env().Undefined();
}

// addBias(x, bias, out, rows, cols)
Napi::Value AddBias(const Napi::CallbackInfo& info) {
  arity(info, 5);
  const size_t rows = count(info, 3), cols = count(info, 4), n = checked_mul(info, rows, cols);
  add_bias(expect(info, f32(info, 0, "x"), n, "x").data, expect(info, f32(info, 1, "bias"), cols, "bias").data,
           expect(info, f32(info, 2, "out"), n, "out").data, rows, cols);
  return info.Env().Undefined();
}

// activation(kind, x, out)
Napi::Value Activation(const Napi::CallbackInfo& info) {
  arity(info, 3);
  auto x = f32(info, 1, "x");
  activation(act(info, 0), x.data, expect(info, f32(info, 2, "out"), x.length, "out").data, x.length);
  return info.Env().Undefined();
}

// activationGrad(kind, x, gy, out)
Napi::Value ActivationGrad(const Napi::CallbackInfo& info) {
  arity(info, 4);
  auto x = f32(info, 1, "x");
  activation_grad(act(info, 0), x.data, expect(info, f32(info, 2, "gy"), x.length, "gy").data,
                  expect(info, f32(info, 3, "out"), x.length, "out").data, x.length);
  return info.Env().Undefined();
}

// softmaxXent(logits, labels, loss, grad, B, C) → first bad label row or -1
Napi::Value SoftmaxXent(const Napi::CallbackInfo& info) {
  arity(info, 6);
  const size_t B = count(info, 4), C = count(info, 5), n = checked_mul(info, B, C);
  if (C == 0 && B > 0) range_error(info, "C must be >= 1");
  const long bad = softmax_xent(expect(info, f32(info, 0, "logits"), n, "logits (B*C)").data,
                                expect(info, i32(info, 1, "labels"), B, "labels (B)").data,
                                expect(info, f32(info, 2, "loss"), B, "loss (B)").data,
                                expect(info, f32(info, 3, "grad"), n, "grad (B*C)").data, B, C);
  return Napi::Number::New(info.Env(), (double)bad);
}

// sumRows(x, out, rows, cols)
Napi::Value SumRows(const Napi::CallbackInfo& info) {
  arity(info, 4);
  const size_t rows = count(info, 2), cols = count(info, 3);
  sum_rows(expect(info, f32(info, 0, "x"), checked_mul(info, rows, cols), "x (rows*cols)").data,
           expect(info, f32(info, 1, "out"), cols, "out (cols)").data, rows, cols);
  return info.Env().Undefined();
}

Napi::Value Sum(const Napi::CallbackInfo& info) {
  arity(info, 1);
  auto x = f32(info, 0, "x");
  return Napi::Number::New(info.Env(), sum(x.data, x.length));
}

Napi::Value Dot(const Napi::CallbackInfo& info) {
  arity(info, 2);
  auto x = f32(info, 0, "x");
  return Napi::Number::New(info.Env(), dot(x.data, expect(info, f32(info, 1, "y"), x.length, "y").data, x.length));
}

// axpy(alpha, x, y, out)
Napi::Value Axpy(const Napi::CallbackInfo& info) {
  arity(info, 4);
  auto x = f32(info, 1, "x");
  axpy(num(info, 0), x.data, expect(info, f32(info, 2, "y"), x.length, "y").data,
       expect(info, f32(info, 3, "out"), x.length, "out").data, x.length);
  return info.Env().Undefined();
}

// scale(alpha, x, out)
Napi::Value Scale(const Napi::CallbackInfo& info) {
  arity(info, 3);
  auto x = f32(info, 1, "x");
  scale(num(info, 0), x.data, expect(info, f32(info, 2, "out"), x.length, "out").data, x.length);
  return info.Env().Undefined();
}

// gatherRows(x, rows, cols, idx, out) → first bad index position or -1
Napi::Value GatherRows(const Napi::CallbackInfo& info) {
  arity(info, 5);
  const size_t rows = count(info, 1), cols = count(info, 2);
  auto idx = i32(info, 3, "idx");
  const long bad = gather_rows(expect(info, f32(info, 0, "x"), checked_mul(info, rows, cols), "x (rows*cols)").data, rows,
                               cols, idx.data, idx.length,
                               expect(info, f32(info, 4, "out"), checked_mul(info, idx.length, cols), "out (idx.length*cols)").data);
  return Napi::Number::New(info.Env(), (double)bad);
}

// sgdStep(p, g, v, lr, wd, momentum, nesterov)
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  arity(info, 7);
  auto p = f32(info, 0, "param");
  sgd_step(p.data, expect(info, f32(info, 1, "grad"), p.length, "grad").data,
           expect(info, f32(info, 2, "velocity"), p.length, "velocity").data, p.length, num(info, 3), num(info, 4),
           num(info, 5), flag(info, 6));
  return info.Env().Undefined();
}

// adamStep(p, g, m, v, lr, wd, beta1, beta2, eps, step, decoupled)
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  arity(info, 11);
  auto p = f32(info, 0, "param");
  adam_step(p.data, expect(info, f32(info, 1, "grad"), p.length, "grad").data, expect(info, f32(info, 2, "m"), p.length, "m").data,
            expect(info, f32(info, 3, "v"), p.length, "v").data, p.length, num(info, 4), num(info, 5), num(info, 6),
            num(info, 7), num(info, 8), num(info, 9), flag(info, 10));
  return info.Env().Undefined();
}

// mul(x, y, out)
Napi::Value Mul(const Napi::CallbackInfo& info) {
  arity(info, 3);
  auto x = f32(info, 0, "x");
  mul(x.data, expect(info, f32(info, 1, "y"), x.length, "y").data, expect(info, f32(info, 2, "out"), x.length, "out").data,
      x.length);
  return info.Env().Undefined();
}

// activationRGrad(kind, z, rz, ga, rga, out)
Napi::Value ActivationRGrad(const Napi::CallbackInfo& info) {
  arity(info, 6);
  auto z = f32(info, 1, "z");
  const size_t n = z.length;
  activation_rgrad(act(info, 0), z.data, expect(info, f32(info, 2, "rz"), n, "rz").data,
                   expect(info, f32(info, 3, "ga"), n, "ga").data, expect(info, f32(info, 4, "rga"), n, "rga").data,
                   expect(info, f32(info, 5, "out"), n, "out").data, n);
  return info.Env().Undefined();
}

// softmaxHessianVec(logits, r, out, B, C)
Napi::Value SoftmaxHessianVec(const Napi::CallbackInfo& info) {
  arity(info, 5);
  const size_t B = count(info, 3), C = count(info, 4), n = checked_mul(info, B, C);
  softmax_hessian_vec(expect(info, f32(info, 0, "logits"), n, "logits (B*C)").data, expect(info, f32(info, 1, "r"), n, "r (B*C)").data,
                      expect(info, f32(info, 2, "out"), n, "out (B*C)").data, B, C);
  return info.Env().Undefined();
}

// mlpCurvatureProduct(layers Int32Array [act, in, out, hasBias, active] per layer, params
//   Array<Float32Array> (each linear layer's weight, then its bias if any), x, labels, B, v, out,
//   ggn, scale, accumulate, stateH Array<Float32Array> | null, stateG Array<Float32Array|null> | null,
//   stateD Array<Float32Array|null> | null, stateValid) → first bad label row or -1.
Napi::Value MlpCurvatureProduct(const Napi::CallbackInfo& info) {
  HvpCall c;
  parse_hvp(info, c);
  c.bind_state();
  WorkspaceLease ws(instance(info).hvp);
  return Napi::Number::New(info.Env(), (double)mlp_curvature_product(c.a, ws.get()));
}

// mlpCurvatureProductAsync(same arguments) → Promise<first bad label row or -1>, computed on a libuv
// worker. Argument errors throw at once, as in the synchronous call.
Napi::Value MlpCurvatureProductAsync(const Napi::CallbackInfo& info) {
  HvpCall c;
  parse_hvp(info, c);
  auto* w = new HvpWorker(info.Env(), std::move(c), instance(info).hvp);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Value SumBandwidth(const Napi::CallbackInfo& info) {
  arity(info, 1);
  auto x = f32(info, 0, "x");
  return Napi::Number::New(info.Env(), sum_bandwidth(x.data, x.length));
}

// cldScores(traj (Float32Array|Float64Array), E, N, labels, z, C, out) → Promise<first bad label or -1>
// traj holds E·N values, labels N, classZ (E−1)·C (none when E = 0), out N; C >= 1 when N > 0.
Napi::Value CldScores(const Napi::CallbackInfo& info) {
  arity(info, 7);
  CldWorker::Baton b{};
  Napi::Value t = info[0];
  if (!t.IsTypedArray()) type_error(info, "argument 0 (trajectory) must be a Float32Array or Float64Array");
  const auto kind = t.As<Napi::TypedArray>().TypedArrayType();
  size_t tlen = 0;
  if (kind == napi_float32_array) {
    auto s = f32(info, 0, "trajectory");
    b.traj = s.data, b.f64 = false, tlen = s.length;
  } else if (kind == napi_float64_array) {
    auto s = f64(info, 0, "trajectory");
    b.traj = s.data, b.f64 = true, tlen = s.length;
  } else {
    type_error(info, "argument 0 (trajectory) must be a Float32Array or Float64Array");
  }
  b.E = count(info, 1);
  b.N = count(info, 2);
  b.C = count(info, 5);
  if (b.C == 0 && b.N > 0) range_error(info, "numClasses must be >= 1 when there are samples");
  if (tlen != checked_mul(info, b.E, b.N)) range_error(info, "trajectory has " + std::to_string(tlen) + " values; E*N = " + std::to_string(b.E * b.N));
  b.labels = expect(info, i32(info, 3, "labels"), b.N, "labels (N)").data;
  b.z = expect(info, f64(info, 4, "classZ"), checked_mul(info, b.E > 0 ? b.E - 1 : 0, b.C), "classZ ((E-1)*C)").data;
  b.out = expect(info, f32(info, 6, "out"), b.N, "out (N)").data;
  auto* w = new CldWorker(info.Env(), b, info);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// mapFile(path) → ArrayBuffer over a read-only mapping, unmapped when collected
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  arity(info, 1);
  Napi::Env env = info.Env();
  if (!info[0].IsString()) type_error(info, "argument 0 (path) must be a string");
  Mapping m = map_file(info[0].As<Napi::String>().Utf8Value());
  if (!m.error.empty()) throw Napi::Error::New(env, m.error);
  if (!m.data) return Napi::ArrayBuffer::New(env, 0);
  const size_t len = m.length;
  return Napi::ArrayBuffer::New(env, m.data, len, [len](Napi::Env, void* data) { unmap(data, len); });
}

}  // namespace riverbed

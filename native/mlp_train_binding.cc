// JavaScript wrappers of the fused training step (mlp_train.h): argument checks (every length
// against the layer specs, every row and label in range: a wrong call throws, never reads or
// writes out of bounds) and the libuv worker the steps run on.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "bindings.h"
#include "mlp_train.h"

namespace riverbed {
namespace {

// Marks the externals this file hands out, so a foreign External is refused (a constant, not state).
constexpr napi_type_tag kWorkspaceTag = {0x7269766572626564ULL, 0x747261696e77730aULL};
constexpr double INT_DIM = 2147483647.0;  // GEMM dimensions are int

// The workspace of one call site, shared with the worker running on it.
struct WorkspaceHolder {
  std::shared_ptr<TrainWorkspace> ws = std::make_shared<TrainWorkspace>();
};

[[noreturn]] void fail_type(Napi::Env env, const std::string& msg) {
  if (env.IsExceptionPending()) env.GetAndClearPendingException();
  throw Napi::TypeError::New(env, "mlpTrainSteps: " + msg);
}
[[noreturn]] void fail_range(Napi::Env env, const std::string& msg) { throw Napi::RangeError::New(env, "mlpTrainSteps: " + msg); }

template <typename T, napi_typedarray_type kind>
T* typed(Napi::Env env, Napi::Value v, const std::string& what, const char* type_name, size_t* length) {
  napi_typedarray_type type;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, v, &type, length, &data, nullptr, nullptr) != napi_ok || type != kind) {
    fail_type(env, what + " must be a " + type_name);
  }
  return static_cast<T*>(data);
}
float* f32_exact(Napi::Env env, Napi::Value v, const std::string& what, size_t n) {
  size_t len = 0;
  float* p = typed<float, napi_float32_array>(env, v, what, "Float32Array", &len);
  if (len != n) fail_range(env, what + " has " + std::to_string(len) + " elements, expected " + std::to_string(n));
  return p;
}
size_t mul_checked(Napi::Env env, size_t a, size_t b) {
  if (a != 0 && b > SIZE_MAX / a) fail_range(env, "sizes overflow");
  return a * b;
}

// A checked call: the kernel's arguments, owned copies of the rows and their labels (JavaScript
// may change its arrays meanwhile without making them out of range), and every typed array the
// kernel reads or writes, kept referenced until it completes.
struct Call {
  TrainArgs a{};
  std::vector<int32_t> rows, labels;
  std::vector<double> lr;
  std::vector<napi_value> arrays;
  std::shared_ptr<TrainWorkspace> ws;
};

// mlpTrainSteps(spec Int32Array [act, in, out, hasBias] per layer, params Array<Float32Array>
//   (each linear layer's weight, then its bias if any), state Array<Float32Array> (per parameter:
//   velocity (sgd), or m then v (adam, adamw)), x Float32Array [M·D], labels Int32Array [M],
//   rows Int32Array [n], batch, lr Float64Array [ceil(n / batch)], hyper Float64Array
//   [optimizer 0 sgd | 1 adam | 2 adamw, weightDecay, momentum, nesterov, beta1, beta2, eps, stepsBefore],
//   loss Float32Array [n], workspace (from mlpTrainWorkspace))
void parse(const Napi::CallbackInfo& info, Call& c) {
  Napi::Env env = info.Env();
  if (info.Length() != 11) fail_type(env, "expects 11 arguments, got " + std::to_string(info.Length()));
  size_t len = 0;
  const int32_t* spec = typed<int32_t, napi_int32_array>(env, info[0], "argument 0 (layers)", "Int32Array", &len);
  if (len == 0 || len % 4 != 0) fail_range(env, "layers must hold 4 integers per layer, at least one layer");
  const size_t nl = len / 4;
  if (!info[1].IsArray()) fail_type(env, "argument 1 (params) must be an array of Float32Array");
  if (!info[2].IsArray()) fail_type(env, "argument 2 (state) must be an array of Float32Array");
  Napi::Array params = info[1].As<Napi::Array>(), state = info[2].As<Napi::Array>();
  size_t hl = 0;
  const double* hyper = typed<double, napi_float64_array>(env, info[8], "argument 8 (hyper)", "Float64Array", &hl);
  if (hl != 8) fail_range(env, "hyper must hold 8 numbers");
  for (size_t k = 0; k < 8; k++)
    if (!std::isfinite(hyper[k])) fail_range(env, "hyper[" + std::to_string(k) + "] must be finite");
  const double kind = hyper[0];
  if (kind != 0 && kind != 1 && kind != 2) fail_range(env, "optimizer must be 0 (sgd), 1 (adam) or 2 (adamw)");
  const uint32_t slots = kind == 0 ? 1 : 2;
  if (!(hyper[7] >= 0 && hyper[7] == std::floor(hyper[7]))) fail_range(env, "stepsBefore must be an integer >= 0");

  // Layers, parameters and their optimizer state.
  uint32_t next = 0;
  auto take = [&](size_t n) -> std::pair<float*, std::pair<float*, float*>> {
    if (next >= params.Length()) fail_range(env, "params holds " + std::to_string(params.Length()) + " arrays; the layers need more");
    const std::string at = "params[" + std::to_string(next) + "]";
    Napi::Value pv = params.Get(next);
    float* p = f32_exact(env, pv, at, n);
    c.arrays.push_back(pv);
    float* s[2] = {nullptr, nullptr};
    for (uint32_t k = 0; k < slots; k++) {
      const uint32_t j = next * slots + k;
      if (j >= state.Length()) fail_range(env, "state holds " + std::to_string(state.Length()) + " arrays; the parameters need more");
      Napi::Value sv = state.Get(j);
      s[k] = f32_exact(env, sv, "state[" + std::to_string(j) + "]", n);
      c.arrays.push_back(sv);
    }
    next++;
    return {p, {s[0], s[1]}};
  };
  for (size_t i = 0; i < nl; i++) {
    const int32_t* s = spec + 4 * i;
    const std::string at = "layers[" + std::to_string(i) + "]: ";
    if (s[0] < -1 || s[0] > 3) fail_range(env, at + "activation code must be -1 (linear) or 0..3");
    if (s[1] < 1 || s[2] < 1) fail_range(env, at + "widths must be >= 1");
    if (s[3] != 0 && s[3] != 1) fail_range(env, at + "hasBias must be 0 or 1");
    if (i > 0 && s[1] != c.a.layers.back().out) {
      fail_range(env, at + "takes " + std::to_string(s[1]) + " features, the previous layer gives " + std::to_string(c.a.layers.back().out));
    }
    TrainLayer l{s[0], s[1], s[2], nullptr, nullptr, {nullptr, nullptr}, {nullptr, nullptr}};
    if (l.act >= 0) {
      if (s[1] != s[2] || s[3]) fail_range(env, at + "an activation layer has in == out and no bias");
    } else {
      auto w = take(mul_checked(env, (size_t)l.out, (size_t)l.in));
      l.weight = w.first, l.wstate[0] = w.second.first, l.wstate[1] = w.second.second;
      if (s[3]) {
        auto b = take((size_t)l.out);
        l.bias = b.first, l.bstate[0] = b.second.first, l.bstate[1] = b.second.second;
      }
    }
    c.a.layers.push_back(l);
  }
  if (next != params.Length()) fail_range(env, "params holds " + std::to_string(params.Length()) + " arrays; the layers need " + std::to_string(next));
  if (state.Length() != (size_t)next * slots) {
    fail_range(env, "state holds " + std::to_string(state.Length()) + " arrays; the parameters need " + std::to_string((size_t)next * slots));
  }
  if (c.a.layers.back().act >= 0) fail_range(env, "the last layer must be linear (the logits)");
  const size_t D = (size_t)c.a.layers.front().in, C = (size_t)c.a.layers.back().out;

  // Data: x [M, D], a label per row of x, the rows of this call and their labels.
  size_t xl = 0;
  const float* x = typed<float, napi_float32_array>(env, info[3], "argument 3 (x)", "Float32Array", &xl);
  if (xl % D != 0) fail_range(env, "x has " + std::to_string(xl) + " elements, not a multiple of the " + std::to_string(D) + " input features");
  const size_t M = xl / D;
  size_t ll = 0;
  const int32_t* labels = typed<int32_t, napi_int32_array>(env, info[4], "argument 4 (labels)", "Int32Array", &ll);
  if (ll != M) fail_range(env, "labels has " + std::to_string(ll) + " elements; x has " + std::to_string(M) + " rows");
  size_t n = 0;
  const int32_t* rows = typed<int32_t, napi_int32_array>(env, info[5], "argument 5 (rows)", "Int32Array", &n);
  c.rows.assign(rows, rows + n);
  c.labels.resize(n);
  for (size_t r = 0; r < n; r++) {
    const int32_t row = c.rows[r];
    if (row < 0 || (size_t)row >= M) fail_range(env, "rows[" + std::to_string(r) + "] = " + std::to_string(row) + " is outside [0, " + std::to_string(M) + ")");
    const int32_t y = labels[row];
    if (y < 0 || (size_t)y >= C) {
      fail_range(env, "label " + std::to_string(y) + " of row " + std::to_string(row) + " is outside [0, " + std::to_string(C) + ")");
    }
    c.labels[r] = y;
  }
  double batch = 0;
  if (napi_get_value_double(env, info[6], &batch) != napi_ok) fail_type(env, "argument 6 (batch) must be a number");
  if (!(batch >= 1 && batch <= INT_DIM && batch == std::floor(batch))) fail_range(env, "batch must be an integer in [1, 2^31)");
  const size_t B = (size_t)batch;
  const size_t steps = (n + B - 1) / B;
  size_t lrl = 0;
  const double* lr = typed<double, napi_float64_array>(env, info[7], "argument 7 (lr)", "Float64Array", &lrl);
  if (lrl != steps) fail_range(env, "lr has " + std::to_string(lrl) + " entries for " + std::to_string(steps) + " steps");
  c.lr.assign(lr, lr + lrl);
  for (size_t s = 0; s < steps; s++)
    if (!std::isfinite(c.lr[s])) fail_range(env, "lr[" + std::to_string(s) + "] must be finite");
  float* loss = f32_exact(env, info[9], "argument 9 (loss)", n);
  for (size_t k : {3, 9}) c.arrays.push_back(info[k]);

  // The call site's workspace.
  Napi::Value wv = info[10];
  if (!wv.IsExternal() || !wv.As<Napi::External<WorkspaceHolder>>().CheckTypeTag(&kWorkspaceTag)) {
    fail_type(env, "argument 10 (workspace) must come from mlpTrainWorkspace()");
  }
  c.ws = wv.As<Napi::External<WorkspaceHolder>>().Data()->ws;
  c.arrays.push_back(wv);

  c.a.x = x;
  c.a.rows = c.rows.data();
  c.a.labels = c.labels.data();
  c.a.M = M;
  c.a.n = n;
  c.a.batch = B;
  c.a.lr = c.lr.data();
  c.a.opt = (TrainOpt)(int)kind;
  c.a.wd = hyper[1];
  c.a.momentum = hyper[2];
  c.a.nesterov = hyper[3] != 0;
  c.a.beta1 = hyper[4];
  c.a.beta2 = hyper[5];
  c.a.eps = hyper[6];
  c.a.step0 = hyper[7];
  c.a.loss = loss;
}

// The steps on a libuv worker (the event loop keeps running); the kernel spreads each GEMM over
// the addon's thread pool. The caller must not change or free the arrays until the promise settles.
class TrainWorker : public Napi::AsyncWorker {
 public:
  TrainWorker(Napi::Env env, Call&& call)
      : Napi::AsyncWorker(env, "riverbed:train"), call_(std::move(call)), deferred_(Napi::Promise::Deferred::New(env)) {
    for (napi_value v : call_.arrays) keep_.push_back(Napi::Persistent(Napi::Value(env, v)));
    call_.arrays.clear();
  }
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      sum_ = mlp_train_steps(call_.a, *call_.ws);
    } catch (const std::exception& e) {
      SetError(std::string("mlpTrainSteps: ") + e.what());
    }
    call_.ws->busy.store(false);
  }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), sum_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Call call_;
  Napi::Promise::Deferred deferred_;
  std::vector<Napi::Reference<Napi::Value>> keep_;
  double sum_ = 0;
};

}  // namespace

Napi::Value MlpTrainWorkspace(const Napi::CallbackInfo& info) {
  if (info.Length() != 0) {
    throw Napi::TypeError::New(info.Env(), "mlpTrainWorkspace: expects 0 arguments, got " + std::to_string(info.Length()));
  }
  auto ext = Napi::External<WorkspaceHolder>::New(info.Env(), new WorkspaceHolder(),
                                                  [](Napi::Env, WorkspaceHolder* h) { delete h; });
  ext.TypeTag(&kWorkspaceTag);
  return ext;
}

Napi::Value MlpTrainSteps(const Napi::CallbackInfo& info) {
  Call c;
  parse(info, c);
  bool idle = false;
  if (!c.ws->busy.compare_exchange_strong(idle, true)) {
    throw Napi::Error::New(info.Env(), "mlpTrainSteps: the workspace is in use by another call (one call at a time per call site)");
  }
  std::shared_ptr<TrainWorkspace> ws = c.ws;
  TrainWorker* w;
  try {
    w = new TrainWorker(info.Env(), std::move(c));
  } catch (...) {
    ws->busy.store(false);
    throw;
  }
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

}  // namespace riverbed

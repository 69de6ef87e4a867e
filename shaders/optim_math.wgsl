// One element's optimizer update, prepended with `//!include optim_math` (not a kernel family on
// its own): optim.wgsl's per-tensor steps and mlp_train.wgsl's fused training step run this code,
// so both do exactly the same maths (src/backends/js is the reference):
//   sgd  (PyTorch): g' = g + wd·p; v = μ·v + g'; p −= lr·(nesterov ? g' + μ·v : v)
//   adam (PyTorch Adam / AdamW): decoupled ? p ·= 1 − lr·wd : g += wd·p;
//        m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p −= lr·(m/bc1) / (sqrt(v/bc2) + eps)
//   (bc1 = 1 − β1^t and bc2 = 1 − β2^t computed on the host in f64.)

// Returns (new parameter, new velocity).
fn sgd_update(pv: f32, grad: f32, vel: f32, lr: f32, wd: f32, momentum: f32, nesterov: bool) -> vec2<f32> {
  let g = grad + wd * pv;
  let v = momentum * vel + g;
  let step = select(v, g + momentum * v, nesterov);
  return vec2<f32>(pv - lr * step, v);
}

// Returns (new parameter, new first moment m, new second moment v).
fn adam_update(pv0: f32, grad: f32, m0: f32, v0: f32, lr: f32, wd: f32, beta1: f32, beta2: f32, eps: f32, bc1: f32, bc2: f32, decoupled: bool) -> vec3<f32> {
  var pv = pv0;
  var g = grad;
  if (decoupled) { pv = pv * (1.0 - lr * wd); } else { g = g + wd * pv; }
  let m = beta1 * m0 + (1.0 - beta1) * g;
  let v = beta2 * v0 + (1.0 - beta2) * g * g;
  return vec3<f32>(pv - (lr * (m / bc1)) / (sqrt(v / bc2) + eps), m, v);
}

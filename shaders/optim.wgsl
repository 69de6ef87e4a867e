// Optimizer steps, in place over elements [first, first + count), matching src/backends/js:
//   sgd  (PyTorch): g' = g + wd·p; v = μ·v + g'; p −= lr·(nesterov ? g' + μ·v : v)
//   adam (PyTorch Adam / AdamW): decoupled ? p ·= 1 − lr·wd : g += wd·p;
//        m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p −= lr·(m/bc1) / (sqrt(v/bc2) + eps)
//   (bc1 = 1 − β1^t and bc2 = 1 − β2^t computed on the host in f64.)
//!include common

struct Params {
  count: u32,
  first: u32,
  pBase: u32,
  gBase: u32,
  vBase: u32,
  mBase: u32,
  lr: f32,
  wd: f32,
  momentum: f32,
  nesterov: u32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  bc1: f32,
  bc2: f32,
  decoupled: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> vel: array<f32>;
@group(0) @binding(4) var<storage, read_write> mom: array<f32>;

@compute @workgroup_size(256)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  let pv = param[gi - p.pBase];
  let g = grad[gi - p.gBase] + p.wd * pv;
  let v = p.momentum * vel[gi - p.vBase] + g;
  vel[gi - p.vBase] = v;
  let step = select(v, g + p.momentum * v, p.nesterov != 0u);
  param[gi - p.pBase] = pv - p.lr * step;
}

@compute @workgroup_size(256)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  var pv = param[gi - p.pBase];
  var g = grad[gi - p.gBase];
  if (p.decoupled != 0u) { pv = pv * (1.0 - p.lr * p.wd); } else { g = g + p.wd * pv; }
  let m = p.beta1 * mom[gi - p.mBase] + (1.0 - p.beta1) * g;
  let v = p.beta2 * vel[gi - p.vBase] + (1.0 - p.beta2) * g * g;
  mom[gi - p.mBase] = m;
  vel[gi - p.vBase] = v;
  param[gi - p.pBase] = pv - (p.lr * (m / p.bc1)) / (sqrt(v / p.bc2) + p.eps);
}

// Adaptive optimizer steps run by the generic executor (src/backends/ops.ts): in place over
// elements [first, first + count); each tensor is bound by its parameter name with a `<name>Base`.
//   adagrad (torch.optim.Adagrad): lr' = lr / (1 + (step − 1)·lrDecay); g += wd·p; A += g²;
//           p −= lr'·g / (√A + eps)
//   classp  (the paper): A += |g|^p everywhere; where g² > threshold, w −= lr·g / (eps + A)^(1/p)
//!include common

struct Params {
  count: u32,
  first: u32,
  paramBase: u32,
  gradBase: u32,
  accumBase: u32,
  maskBase: u32,
  lr: f32,
  weightDecay: f32,
  lrDecay: f32,
  eps: f32,
  step: f32,
  power: f32,
  threshold: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> accum: array<f32>;
@group(0) @binding(4) var<storage, read_write> mask: array<f32>;

@compute @workgroup_size(256)
fn adagrad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  let w = param[gi - p.paramBase];
  let g = grad[gi - p.gradBase] + p.weightDecay * w;
  let a = accum[gi - p.accumBase] + g * g;
  accum[gi - p.accumBase] = a;
  let clr = p.lr / (1.0 + (p.step - 1.0) * p.lrDecay);
  param[gi - p.paramBase] = w - clr * g / (sqrt(a) + p.eps);
}

@compute @workgroup_size(256)
fn classp(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  let g = grad[gi - p.gradBase];
  // |g|^p as exp2(p·log2|g|), 0 when g = 0 (WGSL's pow is undefined for a zero base).
  let ag = abs(g);
  let gp = select(0.0, exp2(p.power * log2(ag)), ag > 0.0);
  let a = accum[gi - p.accumBase] + gp;
  accum[gi - p.accumBase] = a;
  if (g * g > p.threshold) {
    param[gi - p.paramBase] = param[gi - p.paramBase] - p.lr * g / exp2(log2(p.eps + a) / p.power);
  }
}

// CLASSP's gate as a 0/1 mask, by the comparison classp makes (f32 g·g > threshold).
@compute @workgroup_size(256)
fn classpGate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  let g = grad[gi - p.gradBase];
  mask[gi - p.maskBase] = select(0.0, 1.0, g * g > p.threshold);
}

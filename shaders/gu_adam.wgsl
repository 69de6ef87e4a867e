// GU's Adam-geometry step (src/backends/ops.ts guAdamStep), run by the generic executor in place over
// elements [first, first + count); each tensor is bound by its parameter name with a `<name>Base`:
//   param −= lr·metric·dir (the metric the projection used); v = β2·v + (1 − β2)·dir²;
//   metric = 1 / (√v + eps), the metric of the next step.
//!include common

struct Params {
  count: u32,
  first: u32,
  paramBase: u32,
  dirBase: u32,
  vBase: u32,
  metricBase: u32,
  lr: f32,
  beta2: f32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> dir: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> metric: array<f32>;

@compute @workgroup_size(256)
fn step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  let d = dir[gi - p.dirBase];
  param[gi - p.paramBase] = param[gi - p.paramBase] - p.lr * metric[gi - p.metricBase] * d;
  let vi = p.beta2 * v[gi - p.vBase] + (1.0 - p.beta2) * d * d;
  v[gi - p.vBase] = vi;
  metric[gi - p.metricBase] = 1.0 / (sqrt(vi) + p.eps);
}

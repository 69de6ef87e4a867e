// Optimizer steps, in place over elements [first, first + count), matching src/backends/js.
// The maths of one element is optim_math.wgsl's (shared with the fused training step, mlp_train.wgsl).
//!include common
//!include optim_math

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
  let r = sgd_update(param[gi - p.pBase], grad[gi - p.gBase], vel[gi - p.vBase], p.lr, p.wd, p.momentum, p.nesterov != 0u);
  vel[gi - p.vBase] = r.y;
  param[gi - p.pBase] = r.x;
}

@compute @workgroup_size(256)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  let r = adam_update(param[gi - p.pBase], grad[gi - p.gBase], mom[gi - p.mBase], vel[gi - p.vBase],
    p.lr, p.wd, p.beta1, p.beta2, p.eps, p.bc1, p.bc2, p.decoupled != 0u);
  mom[gi - p.mBase] = r.y;
  vel[gi - p.vBase] = r.z;
  param[gi - p.pBase] = r.x;
}

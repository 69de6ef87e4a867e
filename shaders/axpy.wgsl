// axpy (out = y + alpha·x), scale (out = alpha·x) and mul (out = x ⊙ y) over elements
// [first, first + count).
//!include common

struct Params {
  count: u32,
  first: u32,
  xBase: u32,
  yBase: u32,
  oBase: u32,
  alpha: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> o: array<f32>;

@compute @workgroup_size(256)
fn axpy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  o[gi - p.oBase] = y[gi - p.yBase] + p.alpha * x[gi - p.xBase];
}

@compute @workgroup_size(256)
fn scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  o[gi - p.oBase] = p.alpha * x[gi - p.xBase];
}

@compute @workgroup_size(256)
fn mul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  o[gi - p.oBase] = x[gi - p.xBase] * y[gi - p.yBase];
}

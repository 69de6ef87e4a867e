// Elementwise family: bias add, activations (relu, tanh, sigmoid, gelu) and their gradients.
// Entry points: bias_add, act_forward, act_backward. OP: 0 relu, 1 tanh, 2 sigmoid, 3 gelu.
// Each dispatch covers elements [first, first + count) of a tensor; *Base is the first element
// of the bound range of each buffer (bindings are sub-ranges when a tensor is tiled).
//!include common
//!include activation

struct Params {
  count: u32,
  first: u32,
  xBase: u32,
  gBase: u32,
  yBase: u32,
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn bias_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  y[gi - p.yBase] = x[gi - p.xBase] + g[gi % p.n - p.gBase];
}

@compute @workgroup_size(256)
fn act_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  y[gi - p.yBase] = act(x[gi - p.xBase]);
}

@compute @workgroup_size(256)
fn act_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  y[gi - p.yBase] = g[gi - p.gBase] * act_grad(x[gi - p.xBase]);
}

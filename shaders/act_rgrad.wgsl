// R-operator of the activation backward gz = ga ⊙ f'(z) (Pearlmutter):
// out = ga ⊙ f''(z) ⊙ rz + rga ⊙ f'(z), over elements [first, first + count).
// *Base is the first element of each buffer's bound range (sub-ranges when a tensor is tiled).
//!include common
//!include activation

struct Params {
  count: u32,
  first: u32,
  zBase: u32,
  rzBase: u32,
  gaBase: u32,
  rgaBase: u32,
  oBase: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> rz: array<f32>;
@group(0) @binding(3) var<storage, read> ga: array<f32>;
@group(0) @binding(4) var<storage, read> rga: array<f32>;
@group(0) @binding(5) var<storage, read_write> o: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  let v = z[gi - p.zBase];
  o[gi - p.oBase] = ga[gi - p.gaBase] * act_grad2(v) * rz[gi - p.rzBase] + rga[gi - p.rgaBase] * act_grad(v);
}

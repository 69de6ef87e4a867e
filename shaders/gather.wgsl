// gatherRows: out[r, :] = x[idx[r], :]. One invocation per output element of the chunk
// [first, first + count); x may be bound in row chunks [xRow0, xRow0 + xRows): each dispatch
// writes only the rows whose source lies in its chunk. The dispatch with xRow0 = 0 writes NaN
// for an index outside [0, m), which no later chunk overwrites.
//!include common

struct Params {
  count: u32,
  first: u32,
  n: u32,
  m: u32,
  xRow0: u32,
  xRows: u32,
  xBase: u32,
  iBase: u32,
  oBase: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> o: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  let r = gi / p.n;
  let c = gi % p.n;
  let src = idx[r - p.iBase];
  if (src < 0 || u32(src) >= p.m) {
    if (p.xRow0 == 0u) {
      var nanBits = 0x7fc00000u; // a var: WGSL rejects NaN in constant expressions
      o[gi - p.oBase] = bitcast<f32>(nanBits);
    }
    return;
  }
  let s = u32(src);
  if (s >= p.xRow0 && s < p.xRow0 + p.xRows) {
    o[gi - p.oBase] = x[s * p.n + c - p.xBase];
  }
}

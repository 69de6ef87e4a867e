// Per-row Hessian of softmax cross-entropy w.r.t. the logits applied to r:
// out = p ⊙ r − p·(pᵀr), p = softmax(z_row). Rows [first, first + count) of a [B, c] chunk.
//   rows: one invocation per row (c ≤ the loop chunk, chosen on the host);
//   wide: one 256-wide workgroup per row, strided loops (≤ c/256 iterations, so rows far past
//         lavapipe's 65 535-iteration loop cap) and tree reductions in workgroup memory.
//!include common

struct Params {
  count: u32,
  first: u32,
  c: u32,
  zBase: u32,
  rBase: u32,
  oBase: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> r: array<f32>;
@group(0) @binding(3) var<storage, read_write> o: array<f32>;

@compute @workgroup_size(64)
fn rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 64u);
  if (i >= p.count) { return; }
  let row = p.first + i;
  let z0 = row * p.c - p.zBase;
  let r0 = row * p.c - p.rBase;
  let o0 = row * p.c - p.oBase;
  var mx = z[z0];
  for (var j = 1u; j < p.c; j++) { mx = max(mx, z[z0 + j]); }
  var s = 0.0;
  var pr = 0.0;
  for (var j = 0u; j < p.c; j++) {
    let e = exp(z[z0 + j] - mx);
    s += e;
    pr += e * r[r0 + j];
  }
  pr = pr / s;
  let inv = 1.0 / s;
  for (var j = 0u; j < p.c; j++) {
    o[o0 + j] = exp(z[z0 + j] - mx) * inv * (r[r0 + j] - pr);
  }
}

const WG: u32 = 256u;
var<workgroup> red: array<f32, 256>;
var<workgroup> red2: array<f32, 256>;

@compute @workgroup_size(256)
fn wide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x + wid.y * nwg.x; // workgroup-uniform: the early return keeps barriers uniform
  if (i >= p.count) { return; }
  let row = p.first + i;
  let z0 = row * p.c - p.zBase;
  let r0 = row * p.c - p.rBase;
  let o0 = row * p.c - p.oBase;

  var mx = z[z0];
  for (var j = lid; j < p.c; j += WG) { mx = max(mx, z[z0 + j]); }
  red[lid] = mx;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h = h / 2u) {
    if (lid < h) { red[lid] = max(red[lid], red[lid + h]); }
    workgroupBarrier();
  }
  mx = red[0];
  workgroupBarrier();

  var s = 0.0;
  var pr = 0.0;
  for (var j = lid; j < p.c; j += WG) {
    let e = exp(z[z0 + j] - mx);
    s += e;
    pr += e * r[r0 + j];
  }
  red[lid] = s;
  red2[lid] = pr;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h = h / 2u) {
    if (lid < h) {
      red[lid] += red[lid + h];
      red2[lid] += red2[lid + h];
    }
    workgroupBarrier();
  }
  let inv = 1.0 / red[0];
  let prn = red2[0] * inv;
  for (var j = lid; j < p.c; j += WG) {
    o[o0 + j] = exp(z[z0 + j] - mx) * inv * (r[r0 + j] - prn);
  }
}

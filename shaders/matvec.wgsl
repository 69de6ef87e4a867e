// Matrix × vector (matmul with N = 1 or M = 1): y[r] = Σ_k mat(r, k) · v[k] for rows
// [r0, r0 + rc) and k in [k0, k0 + kc). The register-blocked matmul tiles waste most of their
// work on a vector, and a long K would run in one workgroup; these entries do not.
//   cols:       mat(r, k) = m[k·R + r] (the matrix stored K-major): one invocation per r, so
//               neighbours read neighbouring elements; kc ≤ the loop chunk, chunks accumulate.
//   rows_short: mat(r, k) = m[r·K + k], short K: one invocation per r, chunks accumulate.
//   rows_split: mat(r, k) = m[r·K + k], long K: one workgroup per (row, block of bs elements)
//               writes a tree-reduced partial sum to part[r·nb + b0 + block];
//   rows_finish then sums each row's nb partials into y (nb ≤ 65 535, checked on the host).
// *Base is the first element of each bound range (tiling past the binding cap).
//!include common

struct Params {
  R: u32,
  K: u32,
  r0: u32,
  rc: u32,
  k0: u32,
  kc: u32,
  mBase: u32,
  vBase: u32,
  yBase: u32,
  pBase: u32,
  nb: u32,
  nbc: u32,
  b0: u32,
  bs: u32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> m: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;

fn store(r: u32, acc: f32) {
  let yi = r - p.yBase;
  if (p.accumulate != 0u) { y[yi] += acc; } else { y[yi] = acc; }
}

@compute @workgroup_size(256)
fn cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.rc) { return; }
  let r = p.r0 + i;
  var acc = 0.0;
  for (var kk = 0u; kk < p.kc; kk++) {
    let k = p.k0 + kk;
    acc += m[k * p.R + r - p.mBase] * v[k - p.vBase];
  }
  store(r, acc);
}

@compute @workgroup_size(256)
fn rows_short(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.rc) { return; }
  let r = p.r0 + i;
  let row = r * p.K + p.k0 - p.mBase;
  let v0 = p.k0 - p.vBase;
  var acc = 0.0;
  for (var kk = 0u; kk < p.kc; kk++) { acc += m[row + kk] * v[v0 + kk]; }
  store(r, acc);
}

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn rows_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x; // workgroup-uniform, so the early return keeps barriers uniform
  if (g >= p.rc * p.nbc) { return; }
  let r = p.r0 + g / p.nbc;
  let blk = g % p.nbc;
  let kStart = p.k0 + blk * p.bs;
  let kEnd = min(kStart + p.bs, p.k0 + p.kc);
  var acc = 0.0;
  for (var k = kStart + lid; k < kEnd; k += 256u) {
    acc += m[r * p.K + k - p.mBase] * v[k - p.vBase];
  }
  red[lid] = acc;
  workgroupBarrier();
  for (var h = 128u; h > 0u; h = h / 2u) {
    if (lid < h) { red[lid] += red[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0u) { part[r * p.nb + p.b0 + blk - p.pBase] = red[0]; }
}

@compute @workgroup_size(256)
fn rows_finish(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.rc) { return; }
  let r = p.r0 + i;
  var acc = 0.0;
  for (var b = 0u; b < p.nb; b++) { acc += part[r * p.nb + b - p.pBase]; }
  store(r, acc);
}

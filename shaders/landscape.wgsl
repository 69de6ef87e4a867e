// Landscape ops (src/backends/ops.ts pointCombine, batchedMatmul): many grid points per dispatch.
//   (both apply the activation OP to their outputs when act = 1)
//   combine: out[q, r] = Σ_t coef[q, t]·basis[t, r] over elements [first, first + count) of out;
//            the terms t0 .. t0 + nt − 1 of this dispatch, added to out when accumulate = 1 (a basis
//            too large for one binding is bound one term at a time).
//   bmm:     c_q = a_q [M,K] · b_q [N,K]ᵀ (+ bias_q [N]) for points p0 + z, z = wid.y / mTiles;
//            4 × 4 outputs per invocation, workgroup 8 × 8 (a 32 × 32 block), no workgroup memory
//            (barriers are slow on lavapipe), the K loop cut into chunks of ≤ kb (lavapipe's
//            65 535-iteration cap); later chunks accumulate, the first adds the bias.
// *Base is the first element of each bound range (tiling past the storage-binding cap).
//!include common
//!include activation

struct Params {
  count: u32,
  first: u32,
  s: u32,
  j: u32,
  t0: u32,
  nt: u32,
  accumulate: u32,
  coefBase: u32,
  basisBase: u32,
  outBase: u32,
  M: u32,
  N: u32,
  K: u32,
  k0: u32,
  kb: u32,
  p0: u32,
  m0: u32,
  mb: u32,
  n0: u32,
  nb: u32,
  mTiles: u32,
  aBase: u32,
  bBase: u32,
  cBase: u32,
  biasBase: u32,
  hasBias: u32,
  act: u32,
}
// act = 1: apply the activation OP (an override constant) to every output; 0: none.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> coef: array<f32>;
@group(0) @binding(2) var<storage, read> basis: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> a: array<f32>;
@group(0) @binding(5) var<storage, read> b: array<f32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>;
@group(0) @binding(7) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(256)
fn combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let idx = linear_id(wid, nwg, lid, 256u);
  if (idx >= p.count) { return; }
  let i = p.first + idx;
  let q = i / p.s;
  let r = i % p.s;
  var acc = 0.0;
  if (p.accumulate != 0u) { acc = out[i - p.outBase]; }
  for (var t = 0u; t < p.nt; t++) {
    let term = p.t0 + t;
    acc += coef[q * p.j + term - p.coefBase] * basis[term * p.s + r - p.basisBase];
  }
  // The activation only after the last term (a basis bound term by term accumulates first).
  if (p.act != 0u && p.t0 + p.nt == p.j) { acc = act(acc); }
  out[i - p.outBase] = acc;
}

fn a_at(q: u32, i: u32, k: u32) -> f32 {
  return a[(q * p.M + i) * p.K + k - p.aBase];
}
fn b_at(q: u32, j: u32, k: u32) -> f32 {
  return b[(q * p.N + j) * p.K + k - p.bBase];
}

@compute @workgroup_size(8, 8)
fn bmm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let q = p.p0 + wid.y / p.mTiles;
  let i0 = p.m0 + ((wid.y % p.mTiles) * 8u + lid.y) * 4u;
  let j0 = p.n0 + (wid.x * 8u + lid.x) * 4u;
  let iEnd = p.m0 + p.mb;
  let jEnd = p.n0 + p.nb;
  if (i0 >= iEnd || j0 >= jEnd) { return; }
  let ir = vec4<u32>(i0, min(i0 + 1u, iEnd - 1u), min(i0 + 2u, iEnd - 1u), min(i0 + 3u, iEnd - 1u));
  let jc = vec4<u32>(j0, min(j0 + 1u, jEnd - 1u), min(j0 + 2u, jEnd - 1u), min(j0 + 3u, jEnd - 1u));
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var t = 0u; t < p.kb; t++) {
    let k = p.k0 + t;
    let bv = vec4<f32>(b_at(q, jc.x, k), b_at(q, jc.y, k), b_at(q, jc.z, k), b_at(q, jc.w, k));
    acc0 += a_at(q, ir.x, k) * bv;
    acc1 += a_at(q, ir.y, k) * bv;
    acc2 += a_at(q, ir.z, k) * bv;
    acc3 += a_at(q, ir.w, k) * bv;
  }
  var rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var r = 0u; r < 4u; r++) {
    let i = i0 + r;
    if (i >= iEnd) { break; }
    for (var e = 0u; e < 4u; e++) {
      let j = j0 + e;
      if (j >= jEnd) { break; }
      let at = (q * p.M + i) * p.N + j - p.cBase;
      var v = rows[r][e];
      if (p.accumulate != 0u) {
        v += c[at];
      } else if (p.hasBias != 0u) {
        v += bias[q * p.N + j - p.biasBase];
      }
      // The activation after the last K chunk (earlier chunks leave partial sums).
      if (p.act != 0u && p.k0 + p.kb >= p.K) { v = act(v); }
      c[at] = v;
    }
  }
}

// GU's projection (src/backends/ops.ts guProject): g⊥ = g − U·a, a = (UᵀHU)⁻¹UᵀHg, over the
// active basis rows r_i = (rowFirst + i) % rowK, i < nact. Elements [first, first + count) of a
// chunk; the basis element of row r and element gi is u[r·stride + gi − ucol0 − uBase].
//   gram_partial — per workgroup, `per` elements in tiles of 64 (rows, g and h staged in workgroup
//                  memory): the nact(nact+1)/2 Gram entries u_i·h·u_j (i ≥ j) and nact entries
//                  u_i·h·g, each thread ≤ 3 of them, accumulated as double-float pairs, written as
//                  row outBase + w of a [rows, terms] pair matrix (reduce.wgsl cols_combine sums it)
//   solve        — one invocation: the Jacobi-scaled, skipping Cholesky of src/backends/js/gu.ts in
//                  double-float arithmetic (~44 bits), coefficients a as pairs into `coef`
//   update       — elementwise: o = g − Σ a_i·u_i, accumulated as pairs, rounded once
// Every loop is ≤ 65 535 iterations (lavapipe's cap): `per` is at most 64·1024 and nact ≤ 32.
//!include common
//!include dfloat

struct Params {
  count: u32,
  first: u32,
  gBase: u32,
  hBase: u32,
  oBase: u32,
  uBase: u32,
  ucol0: u32,
  stride: u32,
  rowK: u32,
  rowFirst: u32,
  nact: u32,
  weighted: u32,
  per: u32,
  outBase: u32,
  one_a: f32,
  one_b: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> h: array<f32>;
@group(0) @binding(4) var<storage, read_write> pout: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read> pin: array<vec2<f32>>;
@group(0) @binding(6) var<storage, read_write> coef: array<vec2<f32>>;
@group(0) @binding(7) var<storage, read_write> o: array<f32>;

const TILE: u32 = 64u;
const PIVOT_TOL: f32 = 1e-10;

// ---- double-float products (dfloat.wgsl has the sums) -------------------------------------------

// Veltkamp split a = hi + lo with 12-bit halves; the uniforms one_a = one_b = 1 keep the compiler
// from folding c − (c − a) to a.
fn split(a: f32) -> vec2<f32> {
  let c = (4097.0 * a) * p.one_a;
  let d = (c - a) * p.one_b;
  let hi = c - d;
  return vec2<f32>(hi, a - hi);
}
// a·b = s + e exactly (Dekker).
fn two_prod(a: f32, b: f32) -> vec2<f32> {
  let s = a * b;
  let x = split(a);
  let y = split(b);
  let e = ((x.x * y.x - s) + x.x * y.y + x.y * y.x) + x.y * y.y;
  return vec2<f32>(s, e);
}
fn df_mul(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let t = two_prod(a.x, b.x);
  return fast_two_sum(t.x, t.y + (a.x * b.y + a.y * b.x));
}
fn df_mul1(a: vec2<f32>, b: f32) -> vec2<f32> {
  let t = two_prod(a.x, b);
  return fast_two_sum(t.x, t.y + a.y * b);
}
fn df_neg(a: vec2<f32>) -> vec2<f32> {
  return vec2<f32>(-a.x, -a.y);
}
fn df_sub(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  return df_add(a, df_neg(b));
}
fn df_div(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let q1 = a.x / b.x;
  let r = df_sub(a, df_mul1(b, q1));
  let q2 = r.x / b.x;
  return fast_two_sum(q1, q2);
}
fn df_sqrt(a: vec2<f32>) -> vec2<f32> {
  if (a.x <= 0.0) { return vec2<f32>(0.0, 0.0); }
  let x = sqrt(a.x);
  let r = df_sub(a, two_prod(x, x));
  return fast_two_sum(x, r.x / (2.0 * x));
}

// ---- pass 1: Gram matrix and UᵀHg ----------------------------------------------------------------

var<workgroup> su: array<f32, 2048>; // 32 rows × TILE
var<workgroup> sg: array<f32, 64>;
var<workgroup> sh: array<f32, 64>;

fn row_of(i: u32) -> u32 {
  return (p.rowFirst + i) % p.rowK;
}

// Term t: (i, j) with j ≤ i for a Gram entry (t < k(k+1)/2), or (i, k) for u_i·h·g.
fn term(t: u32, k: u32) -> vec2<u32> {
  let tri = k * (k + 1u) / 2u;
  if (t >= tri) { return vec2<u32>(t - tri, k); }
  var i = 0u;
  while ((i + 1u) * (i + 2u) / 2u <= t) { i++; }
  return vec2<u32>(i, t - i * (i + 1u) / 2u);
}

fn term_sum(ij: vec2<u32>, k: u32, acc: vec2<f32>) -> vec2<f32> {
  var a = acc;
  for (var e = 0u; e < TILE; e++) {
    let other = select(su[ij.y * TILE + e], sg[e], ij.y == k);
    a = df_add1(a, su[ij.x * TILE + e] * sh[e] * other);
  }
  return a;
}

@compute @workgroup_size(256)
fn gram_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x + wid.y * nwg.x;
  let k = p.nact;
  let nt = k * (k + 1u) / 2u + k;
  let ij0 = term(lid, k);
  let ij1 = term(lid + 256u, k);
  let ij2 = term(lid + 512u, k);
  var acc0 = vec2<f32>(0.0, 0.0);
  var acc1 = vec2<f32>(0.0, 0.0);
  var acc2 = vec2<f32>(0.0, 0.0);
  let start = w * p.per;
  let end = min(start + p.per, p.count);
  for (var t0 = start; t0 < end; t0 += TILE) {
    for (var q = lid; q < TILE * (k + 2u); q += 256u) {
      let row = q / TILE;
      let e = q % TILE;
      let li = t0 + e;
      var v = 0.0;
      if (li < end) {
        let gi = p.first + li;
        if (row < k) {
          v = u[row_of(row) * p.stride + gi - p.ucol0 - p.uBase];
        } else if (row == k) {
          v = g[gi - p.gBase];
        } else {
          v = select(1.0, h[gi - p.hBase], p.weighted == 1u);
        }
      }
      if (row < k) { su[row * TILE + e] = v; } else if (row == k) { sg[e] = v; } else { sh[e] = v; }
    }
    workgroupBarrier();
    if (lid < nt) { acc0 = term_sum(ij0, k, acc0); }
    if (lid + 256u < nt) { acc1 = term_sum(ij1, k, acc1); }
    if (lid + 512u < nt) { acc2 = term_sum(ij2, k, acc2); }
    workgroupBarrier();
  }
  let row = (p.outBase + w) * nt;
  if (lid < nt) { pout[row + lid] = acc0; }
  if (lid + 256u < nt) { pout[row + lid + 256u] = acc1; }
  if (lid + 512u < nt) { pout[row + lid + 512u] = acc2; }
}

// ---- the k×k solve -------------------------------------------------------------------------------

var<workgroup> L: array<vec2<f32>, 1024>;
var<workgroup> sc: array<vec2<f32>, 32>;
var<workgroup> y: array<vec2<f32>, 32>;
var<workgroup> skip: array<u32, 32>;

fn gram(i: u32, j: u32) -> vec2<f32> {
  let hi = max(i, j);
  return pin[hi * (hi + 1u) / 2u + min(i, j)];
}

@compute @workgroup_size(1)
fn solve() {
  let k = p.nact;
  let tri = k * (k + 1u) / 2u;
  for (var i = 0u; i < k; i++) {
    let d = gram(i, i);
    sc[i] = select(vec2<f32>(0.0, 0.0), df_div(vec2<f32>(1.0, 0.0), df_sqrt(d)), d.x > 0.0);
  }
  for (var i = 0u; i < k; i++) {
    skip[i] = 0u;
    for (var j = 0u; j < i; j++) {
      L[i * 32u + j] = vec2<f32>(0.0, 0.0);
      if (skip[j] == 1u) { continue; }
      var v = df_mul(df_mul(sc[i], sc[j]), gram(i, j));
      for (var m = 0u; m < j; m++) { v = df_sub(v, df_mul(L[i * 32u + m], L[j * 32u + m])); }
      L[i * 32u + j] = df_div(v, L[j * 32u + j]);
    }
    var d = df_mul(df_mul(sc[i], sc[i]), gram(i, i));
    for (var m = 0u; m < i; m++) { d = df_sub(d, df_mul(L[i * 32u + m], L[i * 32u + m])); }
    if (sc[i].x == 0.0 || !(d.x + d.y > PIVOT_TOL)) {
      skip[i] = 1u;
      for (var m = 0u; m < i; m++) { L[i * 32u + m] = vec2<f32>(0.0, 0.0); }
    } else {
      L[i * 32u + i] = df_sqrt(d);
    }
  }
  for (var i = 0u; i < k; i++) {
    y[i] = vec2<f32>(0.0, 0.0);
    if (skip[i] == 1u) { continue; }
    var v = df_mul(sc[i], pin[tri + i]);
    for (var m = 0u; m < i; m++) { v = df_sub(v, df_mul(L[i * 32u + m], y[m])); }
    y[i] = df_div(v, L[i * 32u + i]);
  }
  for (var ii = 0u; ii < k; ii++) {
    let i = k - 1u - ii;
    coef[i] = vec2<f32>(0.0, 0.0);
    if (skip[i] == 1u) { continue; }
    var v = y[i];
    for (var m = i + 1u; m < k; m++) { v = df_sub(v, df_mul(L[m * 32u + i], coef[m])); }
    coef[i] = df_div(v, L[i * 32u + i]);
  }
  for (var i = 0u; i < k; i++) { coef[i] = df_mul(coef[i], sc[i]); }
}

// ---- pass 2: g − U·a -----------------------------------------------------------------------------

@compute @workgroup_size(256)
fn update(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let li = linear_id(wid, nwg, lid, 256u);
  if (li >= p.count) { return; }
  let gi = p.first + li;
  var acc = vec2<f32>(g[gi - p.gBase], 0.0);
  for (var i = 0u; i < p.nact; i++) {
    let a = coef[i];
    if (a.x == 0.0) { continue; }
    acc = df_add(acc, df_mul1(a, -u[row_of(i) * p.stride + gi - p.ucol0 - p.uBase]));
  }
  o[gi - p.oBase] = acc.x + acc.y;
}

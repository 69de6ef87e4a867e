// The fused training step of an MLP on mean cross-entropy (Backend.mlpTrainSteps; the maths of
// model/mlp.ts + train/optimizer.ts, and native/mlp_train.cc's fusion). Per mini-batch:
//   gather       xb = x[rows[r0 + r], :]                           (one invocation per element)
//   fwd_b/_a/_ba z = in·Wᵀ (+ bias); h = f(z)                      (GEMM, bias/activation epilogue)
//   xent         loss[r0 + r] = CE(z_r, y); dz = (softmax − onehot)/k   (one invocation per row)
//   bwd_in       gin = (g·W) ⊙ f'(z_below)                          (GEMM, activation-derivative epilogue)
//   wgrad_sgd/_adam  the optimizer update of W with gᵀ·in           (GEMM, optimizer epilogue)
//   bgrad_sgd/_adam  the optimizer update of the bias with Σ_r g   (one invocation per column)
// GEMMs as matmul.wgsl's `main` (4 × 4 of C per invocation, workgroup 32 × 32 of C, no workgroup
// memory): C[m0:m0+mb, n0:n0+nb] over K chunk [k0, k0 + kb) of ≤ the runtime's loop chunk
// (lavapipe stops loops at 65 535 iterations). Earlier chunks leave partial sums in c; the last
// (last = 1) adds them (accumulate = 1) and runs the epilogue. *Base is the first element of each
// bound range (tiling past the storage-binding cap). The optimizer maths is optim_math.wgsl's.
//!include common
//!include activation
//!include dfloat
//!include optim_math

struct Params {
  M: u32,
  N: u32,
  K: u32,
  m0: u32,
  n0: u32,
  k0: u32,
  mb: u32,
  nb: u32,
  kb: u32,
  aBase: u32,
  bBase: u32,
  cBase: u32,
  accumulate: u32,
  last: u32,
  biasBase: u32,
  hBase: u32,
  zBase: u32,
  pBase: u32,
  s0Base: u32,
  s1Base: u32,
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
  count: u32,
  first: u32,
  n: u32,
  m: u32,
  xRow0: u32,
  xRows: u32,
  xBase: u32,
  iBase: u32,
  oBase: u32,
  r0: u32,
  yBase: u32,
  lBase: u32,
  invBatch: f32,
  one_a: f32,
  one_b: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
// GEMM operands: C (+)= op(A)·op(B); c is the output (fwd: z; bwd_in: gin) or the gradient scratch (wgrad, bgrad).
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
// Epilogue operands.
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> h: array<f32>;
@group(0) @binding(6) var<storage, read> zin: array<f32>;
@group(0) @binding(7) var<storage, read_write> param: array<f32>;
@group(0) @binding(8) var<storage, read_write> s0: array<f32>;
@group(0) @binding(9) var<storage, read_write> s1: array<f32>;
// gather and xent.
@group(0) @binding(10) var<storage, read> x: array<f32>;
@group(0) @binding(11) var<storage, read> idx: array<i32>;
@group(0) @binding(12) var<storage, read_write> xb: array<f32>;
@group(0) @binding(13) var<storage, read> ys: array<i32>;
@group(0) @binding(14) var<storage, read_write> loss: array<f32>;

override TRANS_A: bool = false;
override TRANS_B: bool = false;

fn a_at(i: u32, k: u32) -> f32 {
  if (TRANS_A) { return a[k * p.M + i - p.aBase]; }
  return a[i * p.K + k - p.aBase];
}
fn b_at(k: u32, j: u32) -> f32 {
  if (TRANS_B) { return b[j * p.K + k - p.bBase]; }
  return b[k * p.N + j - p.bBase];
}

// The 4 × 4 block of op(A)·op(B) over this chunk at rows i0.., columns j0.. (matmul.wgsl's main):
// reads clamped to the block so edge invocations stay in bounds; their extra results are not stored.
fn gemm4(i0: u32, j0: u32) -> array<vec4<f32>, 4> {
  let iEnd = p.m0 + p.mb;
  let jEnd = p.n0 + p.nb;
  let ir = vec4<u32>(min(i0, iEnd - 1u), min(i0 + 1u, iEnd - 1u), min(i0 + 2u, iEnd - 1u), min(i0 + 3u, iEnd - 1u));
  let jc = vec4<u32>(min(j0, jEnd - 1u), min(j0 + 1u, jEnd - 1u), min(j0 + 2u, jEnd - 1u), min(j0 + 3u, jEnd - 1u));
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var t = 0u; t < p.kb; t++) {
    let k = p.k0 + t;
    let bv = vec4<f32>(b_at(k, jc.x), b_at(k, jc.y), b_at(k, jc.z), b_at(k, jc.w));
    acc0 += a_at(ir.x, k) * bv;
    acc1 += a_at(ir.y, k) * bv;
    acc2 += a_at(ir.z, k) * bv;
    acc3 += a_at(ir.w, k) * bv;
  }
  return array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
}

fn row0(wid: vec3<u32>, lid: vec3<u32>) -> u32 {
  return p.m0 + (wid.y * 8u + lid.y) * 4u;
}
fn col0(wid: vec3<u32>, lid: vec3<u32>) -> u32 {
  return p.n0 + (wid.x * 8u + lid.x) * 4u;
}

// This chunk's value of C at (i, j): the block's sum plus the earlier chunks' partial sum.
fn chunk_sum(acc: f32, at: u32) -> f32 {
  if (p.accumulate != 0u) { return acc + c[at - p.cBase]; }
  return acc;
}

// z = in·Wᵀ + bias.
@compute @workgroup_size(8, 8)
fn fwd_b(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i0 = row0(wid, lid);
  let j0 = col0(wid, lid);
  if (i0 >= p.m0 + p.mb || j0 >= p.n0 + p.nb) { return; }
  let acc = gemm4(i0, j0);
  for (var r = 0u; r < 4u; r++) {
    let i = i0 + r;
    if (i >= p.m0 + p.mb) { break; }
    for (var q = 0u; q < 4u; q++) {
      let j = j0 + q;
      if (j >= p.n0 + p.nb) { break; }
      let at = i * p.N + j;
      var v = chunk_sum(acc[r][q], at);
      if (p.last != 0u) { v += bias[j - p.biasBase]; }
      c[at - p.cBase] = v;
    }
  }
}

// z = in·Wᵀ; h = f(z) (OP: activation.wgsl's code).
@compute @workgroup_size(8, 8)
fn fwd_a(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i0 = row0(wid, lid);
  let j0 = col0(wid, lid);
  if (i0 >= p.m0 + p.mb || j0 >= p.n0 + p.nb) { return; }
  let acc = gemm4(i0, j0);
  for (var r = 0u; r < 4u; r++) {
    let i = i0 + r;
    if (i >= p.m0 + p.mb) { break; }
    for (var q = 0u; q < 4u; q++) {
      let j = j0 + q;
      if (j >= p.n0 + p.nb) { break; }
      let at = i * p.N + j;
      let v = chunk_sum(acc[r][q], at);
      c[at - p.cBase] = v;
      if (p.last != 0u) { h[at - p.hBase] = act(v); }
    }
  }
}

// z = in·Wᵀ + bias; h = f(z).
@compute @workgroup_size(8, 8)
fn fwd_ba(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i0 = row0(wid, lid);
  let j0 = col0(wid, lid);
  if (i0 >= p.m0 + p.mb || j0 >= p.n0 + p.nb) { return; }
  let acc = gemm4(i0, j0);
  for (var r = 0u; r < 4u; r++) {
    let i = i0 + r;
    if (i >= p.m0 + p.mb) { break; }
    for (var q = 0u; q < 4u; q++) {
      let j = j0 + q;
      if (j >= p.n0 + p.nb) { break; }
      let at = i * p.N + j;
      var v = chunk_sum(acc[r][q], at);
      if (p.last != 0u) {
        v += bias[j - p.biasBase];
        h[at - p.hBase] = act(v);
      }
      c[at - p.cBase] = v;
    }
  }
}

// gin = (g·W) ⊙ f'(z) of the activation below (z: its input, same shape as gin).
@compute @workgroup_size(8, 8)
fn bwd_in(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i0 = row0(wid, lid);
  let j0 = col0(wid, lid);
  if (i0 >= p.m0 + p.mb || j0 >= p.n0 + p.nb) { return; }
  let acc = gemm4(i0, j0);
  for (var r = 0u; r < 4u; r++) {
    let i = i0 + r;
    if (i >= p.m0 + p.mb) { break; }
    for (var q = 0u; q < 4u; q++) {
      let j = j0 + q;
      if (j >= p.n0 + p.nb) { break; }
      let at = i * p.N + j;
      var v = chunk_sum(acc[r][q], at);
      if (p.last != 0u) { v = act_grad(zin[at - p.zBase]) * v; }
      c[at - p.cBase] = v;
    }
  }
}

// W's SGD update with its gradient gᵀ·in (C has W's layout [out, in]); s0 = velocity.
@compute @workgroup_size(8, 8)
fn wgrad_sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i0 = row0(wid, lid);
  let j0 = col0(wid, lid);
  if (i0 >= p.m0 + p.mb || j0 >= p.n0 + p.nb) { return; }
  let acc = gemm4(i0, j0);
  for (var r = 0u; r < 4u; r++) {
    let i = i0 + r;
    if (i >= p.m0 + p.mb) { break; }
    for (var q = 0u; q < 4u; q++) {
      let j = j0 + q;
      if (j >= p.n0 + p.nb) { break; }
      let at = i * p.N + j;
      let g = chunk_sum(acc[r][q], at);
      if (p.last == 0u) {
        c[at - p.cBase] = g;
        continue;
      }
      let u = sgd_update(param[at - p.pBase], g, s0[at - p.s0Base], p.lr, p.wd, p.momentum, p.nesterov != 0u);
      s0[at - p.s0Base] = u.y;
      param[at - p.pBase] = u.x;
    }
  }
}

// W's Adam / AdamW update with its gradient gᵀ·in; s0 = m, s1 = v.
@compute @workgroup_size(8, 8)
fn wgrad_adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i0 = row0(wid, lid);
  let j0 = col0(wid, lid);
  if (i0 >= p.m0 + p.mb || j0 >= p.n0 + p.nb) { return; }
  let acc = gemm4(i0, j0);
  for (var r = 0u; r < 4u; r++) {
    let i = i0 + r;
    if (i >= p.m0 + p.mb) { break; }
    for (var q = 0u; q < 4u; q++) {
      let j = j0 + q;
      if (j >= p.n0 + p.nb) { break; }
      let at = i * p.N + j;
      let g = chunk_sum(acc[r][q], at);
      if (p.last == 0u) {
        c[at - p.cBase] = g;
        continue;
      }
      let u = adam_update(param[at - p.pBase], g, s0[at - p.s0Base], s1[at - p.s1Base],
        p.lr, p.wd, p.beta1, p.beta2, p.eps, p.bc1, p.bc2, p.decoupled != 0u);
      s0[at - p.s0Base] = u.y;
      s1[at - p.s1Base] = u.z;
      param[at - p.pBase] = u.x;
    }
  }
}

// Column j of a = g [rows, N] summed over rows [k0, k0 + kb) in double-float (as sumRows), plus
// the earlier chunks' sum kept in c.
fn col_sum(j: u32) -> f32 {
  var acc = vec2<f32>(0.0, 0.0);
  for (var t = 0u; t < p.kb; t++) {
    acc = df_add1(acc, a[(p.k0 + t) * p.N + j - p.aBase]);
  }
  var v = acc.x + acc.y;
  if (p.accumulate != 0u) { v += c[j - p.cBase]; }
  return v;
}

// The bias's SGD update with its gradient Σ_r g[r, :]; s0 = velocity. One invocation per column.
@compute @workgroup_size(64)
fn bgrad_sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = linear_id(wid, nwg, lid, 64u);
  if (j >= p.N) { return; }
  let g = col_sum(j);
  if (p.last == 0u) {
    c[j - p.cBase] = g;
    return;
  }
  let u = sgd_update(param[j - p.pBase], g, s0[j - p.s0Base], p.lr, p.wd, p.momentum, p.nesterov != 0u);
  s0[j - p.s0Base] = u.y;
  param[j - p.pBase] = u.x;
}

// The bias's Adam / AdamW update; s0 = m, s1 = v.
@compute @workgroup_size(64)
fn bgrad_adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = linear_id(wid, nwg, lid, 64u);
  if (j >= p.N) { return; }
  let g = col_sum(j);
  if (p.last == 0u) {
    c[j - p.cBase] = g;
    return;
  }
  let u = adam_update(param[j - p.pBase], g, s0[j - p.s0Base], s1[j - p.s1Base],
    p.lr, p.wd, p.beta1, p.beta2, p.eps, p.bc1, p.bc2, p.decoupled != 0u);
  s0[j - p.s0Base] = u.y;
  s1[j - p.s1Base] = u.z;
  param[j - p.pBase] = u.x;
}

// xb (this step's [k, n]) = rows of x, elements [first, first + count); idx holds the call's rows
// (this step's start at r0); x may be bound in row chunks [xRow0, xRow0 + xRows) (gather.wgsl).
// The rows were checked on the host.
@compute @workgroup_size(256)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let gi = p.first + i;
  let r = gi / p.n;
  let col = gi % p.n;
  let s = u32(idx[p.r0 + r - p.iBase]);
  if (s >= p.xRow0 && s < p.xRow0 + p.xRows) {
    xb[gi - p.oBase] = x[s * p.n + col - p.xBase];
  }
}

// log(1 + t) for t ≥ 0 (softmax_ce.wgsl's): series below 0.01, else log(1 + t).
fn log1p_small(t: f32) -> f32 {
  if (t < 0.01) {
    return t * (1.0 + t * (-0.5 + t * (0.33333333 + t * (-0.25 + t * 0.2))));
  }
  return log(1.0 + t);
}

// Rows [first, first + count) of this step's logits a [k, n]: loss[r0 + row] = logsumexp − z_y and
// c = (softmax − onehot(y))·invBatch, the gradient of the batch mean (softmax_ce.wgsl's maths,
// then scale's). Labels ys are the call's, in row order; checked on the host. n ≤ 65 535.
@compute @workgroup_size(64)
fn xent(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 64u);
  if (i >= p.count) { return; }
  let row = p.first + i;
  let z0 = row * p.n - p.aBase;
  let g0 = row * p.n - p.cBase;
  let y = u32(ys[p.r0 + row - p.yBase]);
  var mx = a[z0];
  var jm = 0u;
  for (var j = 1u; j < p.n; j++) {
    let v = a[z0 + j];
    if (v > mx) { mx = v; jm = j; }
  }
  var t = 0.0;
  for (var j = 0u; j < p.n; j++) {
    if (j != jm) { t += exp(a[z0 + j] - mx); }
  }
  loss[p.r0 + row - p.lBase] = log1p_small(t) + (mx - a[z0 + y]);
  let inv = 1.0 / (1.0 + t);
  for (var j = 0u; j < p.n; j++) {
    c[g0 + j] = (exp(a[z0 + j] - mx) * inv - select(0.0, 1.0, j == y)) * p.invBatch;
  }
}

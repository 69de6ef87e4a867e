// The bisimulation loss (src/backends/ops.ts bisimulationLoss; the maths as native/bisim.cc),
// in four entry points (each binds at most 8 storage buffers, WebGPU's default per-stage limit):
//   dist_z     — one invocation per pair i of [first, first + count), j its partner: Σ (z_i − z_j)²
//                over columns [c0, c0 + cn) into acc[i].x (continued from acc when c0 > 0, so no
//                loop passes lavapipe's 65 535-iteration cap);
//   dist_pred  — then Σ (μ_i − μ_j)² and Σ (σ_i − σ_j)² over columns [c0, c0 + cn) into acc[i].y, .z;
//   pair_terms — terms[i] = res², res = dist − (|r_i − r_j| + γ·√(acc.y + acc.z)), dist = √acc.x,
//                and the pair's gradient coefficient 2·res / (B·dist) (0 where dist = 0);
//   grad_rows  — one invocation per gradient element g = r·D + c of [first, first + count):
//                coef_r·(z_r − z_j) − coef_k·(z_k − z_r), j = perm[r], k = inv[r] (row r belongs to
//                two pairs, r and k: written once, no atomics).
// aligned = 0: every tensor is bound whole and the partner arrays (zp, mp, sp, rp; zq, cq) are the
// same bindings, read at row perm[i] (inv[r]). aligned = 1 (some tensor is past one binding): the
// partner rows were gathered in row order (zp = z[perm], zq = z[inv], cq = coef[inv], …) and every
// binding is a window of rows, read at row i itself. Each `xBase` is the window's first element.
//!include common

struct Params {
  count: u32,
  first: u32,
  d: u32,
  e: u32,
  c0: u32,
  cn: u32,
  aligned: u32,
  hasSigma: u32,
  gamma: f32,
  scale: f32,
  zBase: u32,
  zpBase: u32,
  zqBase: u32,
  muBase: u32,
  mpBase: u32,
  sgBase: u32,
  spBase: u32,
  rwBase: u32,
  rpBase: u32,
  permBase: u32,
  invBase: u32,
  accBase: u32,
  termsBase: u32,
  coefBase: u32,
  cqBase: u32,
  gradBase: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> zp: array<f32>;
@group(0) @binding(3) var<storage, read> zq: array<f32>;
@group(0) @binding(4) var<storage, read> mu: array<f32>;
@group(0) @binding(5) var<storage, read> mp: array<f32>;
@group(0) @binding(6) var<storage, read> sg: array<f32>;
@group(0) @binding(7) var<storage, read> sp: array<f32>;
@group(0) @binding(8) var<storage, read> rw: array<f32>;
@group(0) @binding(9) var<storage, read> rp: array<f32>;
@group(0) @binding(10) var<storage, read> perm: array<i32>;
@group(0) @binding(11) var<storage, read> inv: array<i32>;
@group(0) @binding(12) var<storage, read_write> acc: array<vec4<f32>>;
@group(0) @binding(13) var<storage, read_write> terms: array<f32>;
@group(0) @binding(14) var<storage, read_write> coefw: array<f32>;
@group(0) @binding(15) var<storage, read> coef: array<f32>;
@group(0) @binding(16) var<storage, read> cq: array<f32>;
@group(0) @binding(17) var<storage, read_write> grad: array<f32>;

// The partner row of pair i in the partner arrays.
fn partner(i: u32) -> u32 {
  if (p.aligned == 1u) { return i; }
  return u32(perm[i - p.permBase]);
}

@compute @workgroup_size(256)
fn dist_z(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = linear_id(wid, nwg, lid, 256u);
  if (t >= p.count) { return; }
  let i = p.first + t;
  let j = partner(i);
  var a = vec4<f32>(0.0, 0.0, 0.0, 0.0);
  if (p.c0 > 0u) { a = acc[i - p.accBase]; }
  let end = min(p.c0 + p.cn, p.d);
  for (var c = p.c0; c < end; c++) {
    let v = z[i * p.d + c - p.zBase] - zp[j * p.d + c - p.zpBase];
    a.x += v * v;
  }
  acc[i - p.accBase] = a;
}

// After dist_z: adds the μ and σ sums of columns [c0, c0 + cn).
@compute @workgroup_size(256)
fn dist_pred(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = linear_id(wid, nwg, lid, 256u);
  if (t >= p.count) { return; }
  let i = p.first + t;
  let j = partner(i);
  var a = acc[i - p.accBase];
  let end = min(p.c0 + p.cn, p.e);
  for (var c = p.c0; c < end; c++) {
    let v = mu[i * p.e + c - p.muBase] - mp[j * p.e + c - p.mpBase];
    a.y += v * v;
    if (p.hasSigma == 1u) {
      let s = sg[i * p.e + c - p.sgBase] - sp[j * p.e + c - p.spBase];
      a.z += s * s;
    }
  }
  acc[i - p.accBase] = a;
}

@compute @workgroup_size(256)
fn pair_terms(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = linear_id(wid, nwg, lid, 256u);
  if (t >= p.count) { return; }
  let i = p.first + t;
  let j = partner(i);
  let a = acc[i - p.accBase];
  let dist = sqrt(a.x);
  let res = dist - (abs(rw[i - p.rwBase] - rp[j - p.rpBase]) + p.gamma * sqrt(a.y + a.z));
  terms[i - p.termsBase] = res * res;
  var cf = 0.0;
  if (dist > 0.0) { cf = p.scale * res / dist; }
  coefw[i - p.coefBase] = cf;
}

@compute @workgroup_size(256)
fn grad_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = linear_id(wid, nwg, lid, 256u);
  if (t >= p.count) { return; }
  let g = p.first + t;
  let r = g / p.d;
  let c = g - r * p.d;
  let j = partner(r);
  var k = r;
  if (p.aligned == 0u) { k = u32(inv[r - p.invBase]); }
  let x = z[g - p.zBase];
  let zj = zp[j * p.d + c - p.zpBase];
  let zk = zq[k * p.d + c - p.zqBase];
  grad[g - p.gradBase] = coef[r - p.coefBase] * (x - zj) - cq[k - p.cqBase] * (zk - x);
}

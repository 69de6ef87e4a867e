// C[m0:m0+mb, n0:n0+nb] (+)= op(A)[.., k0:k0+kb] · op(B)[k0:k0+kb, ..]; op(X) = Xᵀ when TRANS_X.
// Register-blocked, no workgroup memory (barriers are slow on lavapipe): `main` gives each
// invocation a 4 × 4 block of C (workgroup 32 × 32), `main8` an 8 × 8 block (64 × 64); on
// lavapipe at 1024³ main8 is faster without transposes (5.4 vs 2.9 GFLOP/s) and slower with. No workgroup
// memory (barriers are slow on lavapipe). The K loop runs kb ≤ the runtime's loop chunk
// (lavapipe stops loops at 65 535 iterations); longer K accumulates over several dispatches
// (accumulate = 1). *Base is the first element of each bound range (tiling past the binding cap).
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
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

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

// 4 × 4 per invocation.
@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i0 = p.m0 + (wid.y * 8u + lid.y) * 4u;
  let j0 = p.n0 + (wid.x * 8u + lid.x) * 4u;
  let iEnd = p.m0 + p.mb;
  let jEnd = p.n0 + p.nb;
  if (i0 >= iEnd || j0 >= jEnd) { return; }
  // Clamp reads to the block so edge invocations stay in bounds; their extra results are not written.
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
  var rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var r = 0u; r < 4u; r++) {
    let i = i0 + r;
    if (i >= iEnd) { break; }
    for (var q = 0u; q < 4u; q++) {
      let j = j0 + q;
      if (j >= jEnd) { break; }
      let at = i * p.N + j - p.cBase;
      var v = rows[r][q];
      if (p.accumulate != 0u) { v += c[at]; }
      c[at] = v;
    }
  }
}

// 8 × 8 per invocation.
@compute @workgroup_size(8, 8)
fn main8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i0 = p.m0 + (wid.y * 8u + lid.y) * 8u;
  let j0 = p.n0 + (wid.x * 8u + lid.x) * 8u;
  let iEnd = p.m0 + p.mb;
  let jEnd = p.n0 + p.nb;
  if (i0 >= iEnd || j0 >= jEnd) { return; }
  // Clamp reads to the block so edge invocations stay in bounds; their extra results are not written.
  var ir: array<u32, 8>;
  var jc: array<u32, 8>;
  for (var q = 0u; q < 8u; q++) {
    ir[q] = min(i0 + q, iEnd - 1u);
    jc[q] = min(j0 + q, jEnd - 1u);
  }
  var acc: array<vec4<f32>, 16>;
  for (var q = 0u; q < 16u; q++) { acc[q] = vec4<f32>(0.0); }
  for (var t = 0u; t < p.kb; t++) {
    let k = p.k0 + t;
    let b0 = vec4<f32>(b_at(k, jc[0]), b_at(k, jc[1]), b_at(k, jc[2]), b_at(k, jc[3]));
    let b1 = vec4<f32>(b_at(k, jc[4]), b_at(k, jc[5]), b_at(k, jc[6]), b_at(k, jc[7]));
    for (var r = 0u; r < 8u; r++) {
      let av = a_at(ir[r], k);
      acc[2u * r] += av * b0;
      acc[2u * r + 1u] += av * b1;
    }
  }
  for (var r = 0u; r < 8u; r++) {
    let i = i0 + r;
    if (i >= iEnd) { break; }
    for (var q = 0u; q < 8u; q++) {
      let j = j0 + q;
      if (j >= jEnd) { break; }
      let at = i * p.N + j - p.cBase;
      var v = acc[2u * r + q / 4u][q % 4u];
      if (p.accumulate != 0u) { v += c[at]; }
      c[at] = v;
    }
  }
}

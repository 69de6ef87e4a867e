// Per-sample softmax cross-entropy: loss[b] = logsumexp(z_b) − z_b[y_b], grad = softmax(z_b) − onehot(y_b).
// One invocation per row of the chunk [first, first + count); C ≤ 65 535 (lavapipe's loop cap),
// checked on the host. A label outside [0, C) gives NaN loss and gradient.
//!include common

struct Params {
  count: u32,
  first: u32,
  c: u32,
  zBase: u32,
  yBase: u32,
  lBase: u32,
  gBase: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;

// log(1 + t) for t ≥ 0: series below 0.01 (error < t⁶/6), else log(1 + t) (relative error ≤ 2⁻²⁴/t).
fn log1p_small(t: f32) -> f32 {
  if (t < 0.01) {
    return t * (1.0 + t * (-0.5 + t * (0.33333333 + t * (-0.25 + t * 0.2))));
  }
  return log(1.0 + t);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 64u);
  if (i >= p.count) { return; }
  let row = p.first + i;
  let z0 = row * p.c - p.zBase;
  let g0 = row * p.c - p.gBase;
  let y = labels[row - p.yBase];
  var nanBits = 0x7fc00000u; // a var: WGSL rejects NaN in constant expressions
  let nan = bitcast<f32>(nanBits);
  if (y < 0 || u32(y) >= p.c) {
    loss[row - p.lBase] = nan;
    for (var j = 0u; j < p.c; j++) { grad[g0 + j] = nan; }
    return;
  }
  // Sum of exp(z − max) over all but the (first) maximum, so a near-zero loss keeps its
  // relative accuracy: loss = log1p(t) + max − z_y.
  var mx = z[z0];
  var jm = 0u;
  for (var j = 1u; j < p.c; j++) {
    let v = z[z0 + j];
    if (v > mx) { mx = v; jm = j; }
  }
  var t = 0.0;
  for (var j = 0u; j < p.c; j++) {
    if (j != jm) { t += exp(z[z0 + j] - mx); }
  }
  let s = 1.0 + t;
  loss[row - p.lBase] = log1p_small(t) + (mx - z[z0 + u32(y)]);
  let inv = 1.0 / s;
  for (var j = 0u; j < p.c; j++) {
    grad[g0 + j] = exp(z[z0 + j] - mx) * inv - select(0.0, 1.0, j == u32(y));
  }
}

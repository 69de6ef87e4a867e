// Reductions in double-float (hi + lo pairs of f32) with workgroup trees:
//   partial   — sum (MODE 0) or dot (MODE 1) of x[first, first + count): one pair per block of 4096
//   combine   — pairs → one pair per block of 4096
//   finalize  — pairs → f32 (hi + lo), elementwise
//   cols_partial / cols_combine — column sums of a [rows, n] matrix in blocks of 256 rows
// Every loop is ≤ 256 iterations (lavapipe stops loops at 65 535). Accuracy: each pair carries
// ~44 bits, so a sum is within a few f32 ulps of the exact sum of the inputs (products of a dot
// are rounded to f32 first: ≤ 2⁻²⁴·Σ|x·y| on top).
//!include common
//!include dfloat

struct Params {
  count: u32,
  first: u32,
  xBase: u32,
  yBase: u32,
  outBase: u32,
  n: u32,
  rows: u32,
  one_a: f32,
  one_b: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> pin: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> pout: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read_write> outv: array<f32>;

override MODE: u32 = 0u;
const ITEMS: u32 = 16u;
const BLOCK: u32 = 4096u; // 256 × ITEMS

var<workgroup> sh: array<vec2<f32>, 256>;

fn tree(lid: u32, v: vec2<f32>) -> vec2<f32> {
  sh[lid] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) { sh[lid] = df_add(sh[lid], sh[lid + s]); }
    workgroupBarrier();
  }
  return sh[0];
}

@compute @workgroup_size(256)
fn partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x + wid.y * nwg.x;
  var acc = vec2<f32>(0.0, 0.0);
  for (var k = 0u; k < ITEMS; k++) {
    let i = w * BLOCK + k * 256u + lid;
    if (i < p.count) {
      let gi = p.first + i;
      var v = x[gi - p.xBase];
      if (MODE == 1u) { v = v * y[gi - p.yBase]; }
      acc = df_add1(acc, v);
    }
  }
  let r = tree(lid, acc);
  if (lid == 0u) { pout[p.outBase + w] = r; }
}

@compute @workgroup_size(256)
fn combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x + wid.y * nwg.x;
  var acc = vec2<f32>(0.0, 0.0);
  for (var k = 0u; k < ITEMS; k++) {
    let i = w * BLOCK + k * 256u + lid;
    if (i < p.count) { acc = df_add(acc, pin[i]); }
  }
  let r = tree(lid, acc);
  if (lid == 0u) { pout[w] = r; }
}

@compute @workgroup_size(256)
fn finalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid, 256u);
  if (i >= p.count) { return; }
  let v = pin[i];
  outv[i] = v.x + v.y;
}

// Column sums: workgroup w handles columns [cg·256, cg·256 + 256) of row block rb (256 rows).
// count = rows in this chunk (starting at row `first`); output row of the partials = outBase + rb.
@compute @workgroup_size(256)
fn cols_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x + wid.y * nwg.x;
  let groups = (p.n + 255u) / 256u;
  let cg = w % groups;
  let rb = w / groups;
  let j = cg * 256u + lid;
  if (j >= p.n) { return; }
  var acc = vec2<f32>(0.0, 0.0);
  let r0 = rb * 256u;
  let r1 = min(r0 + 256u, p.count);
  for (var r = r0; r < r1; r++) {
    acc = df_add1(acc, x[(p.first + r) * p.n + j - p.xBase]);
  }
  pout[(p.outBase + rb) * p.n + j] = acc;
}

// pairs [count, n] → [ceil(count/256), n]
@compute @workgroup_size(256)
fn cols_combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x + wid.y * nwg.x;
  let groups = (p.n + 255u) / 256u;
  let cg = w % groups;
  let rb = w / groups;
  let j = cg * 256u + lid;
  if (j >= p.n) { return; }
  var acc = vec2<f32>(0.0, 0.0);
  let r0 = rb * 256u;
  let r1 = min(r0 + 256u, p.count);
  for (var r = r0; r < r1; r++) {
    acc = df_add(acc, pin[r * p.n + j]);
  }
  pout[rb * p.n + j] = acc;
}

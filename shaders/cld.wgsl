// Fused CLD scores (Coresets from trajectories: correlation of loss differences).
//
// One invocation per 4 samples (vec4 lanes; slab rows are padded to whole vec4s). It walks
// the `rows` differences d_e = T[e+1] − T[e] of this chunk in a single pass over a slab
// [rows + 1, stride4·4] of the trajectory (a tile of samples, uploaded by the host) and
// keeps, with δ_e = d_e − d_0 (shifted one-pass form, no f32 cancellation):
//   S1 = Σ δ,  S2 = Σ δ²,  Sdz = Σ δ·z[e, y]
// then r = (Sdz − mean_δ·Σ_e z[e, y]) / (D·std), std = sqrt(S2/D − mean_δ²) (population),
// and r = 0 when every difference equals the first exactly (or std is 0).
//
// f32 trajectories (F64 = false): each difference is the exact pair (hi, lo) from TwoSum, so
// "all equal" is decided exactly, as the float64 reference does.
// f64 trajectories (F64 = true): the host splits each value into hi = f32(x), lo = f32(x − hi)
// (second slab) and decides "all equal" exactly in f64 (flags, 1 = all equal); d = hi-pair + lo.
//
// Long epoch counts run as several dispatches (first/last flags) carrying the six running
// vec4 values per invocation in `state`; a single chunk never touches it.
//!include common
//!include dfloat

struct Params {
  lanes: u32,
  stride4: u32,
  rows: u32,
  e0: u32,
  numClasses: u32,
  first: u32,
  last: u32,
  tileStart: u32,
  labelBase: u32,
  outBase: u32,
  flagBase: u32,
  D: f32,
  one_a: f32,
  one_b: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> hi: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> lo: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> labels: array<i32>;
@group(0) @binding(4) var<storage, read> z: array<f32>;
@group(0) @binding(5) var<storage, read> sumz: array<f32>;
@group(0) @binding(6) var<storage, read_write> outv: array<f32>;
@group(0) @binding(7) var<storage, read_write> state: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> flags: array<u32>;

override F64: bool = false;

fn label_of(lane: u32) -> u32 {
  let l = min(lane, p.lanes - 1u);
  return u32(labels[p.tileStart + l - p.labelBase]);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = linear_id(wid, nwg, lid, 64u);
  let lane0 = g * 4u;
  if (lane0 >= p.lanes) { return; }
  let y = vec4<u32>(label_of(lane0), label_of(lane0 + 1u), label_of(lane0 + 2u), label_of(lane0 + 3u));
  let C = p.numClasses;

  var prevH = hi[g];
  var prevL = vec4<f32>(0.0);
  if (F64) { prevL = lo[g]; }
  var h0: vec4<f32>;
  var l0: vec4<f32>;
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  var sdz = vec4<f32>(0.0);
  var same = vec4<f32>(1.0);
  if (p.first != 0u) {
    var s: vec4<f32>;
    var e: vec4<f32>;
    let cur = hi[p.stride4 + g];
    two_sum4(cur, -prevH, &s, &e);
    if (F64) { e = e + (lo[p.stride4 + g] - prevL); }
    h0 = s;
    l0 = e;
  } else {
    let b = g * 6u;
    h0 = state[b];
    l0 = state[b + 1u];
    s1 = state[b + 2u];
    s2 = state[b + 3u];
    sdz = state[b + 4u];
    same = state[b + 5u];
  }
  for (var k = 0u; k < p.rows; k++) {
    let at = (k + 1u) * p.stride4 + g;
    let cur = hi[at];
    var dh: vec4<f32>;
    var dl: vec4<f32>;
    two_sum4(cur, -prevH, &dh, &dl);
    prevH = cur;
    if (F64) {
      let curL = lo[at];
      dl = dl + (curL - prevL);
      prevL = curL;
    }
    same = select(vec4<f32>(0.0), same, (dh == h0) & (dl == l0));
    let delta = (dh - h0) + (dl - l0);
    let zr = (p.e0 + k) * C;
    let zv = vec4<f32>(z[zr + y.x], z[zr + y.y], z[zr + y.z], z[zr + y.w]);
    s1 += delta;
    s2 += delta * delta;
    sdz += delta * zv;
  }
  if (p.last == 0u) {
    let b = g * 6u;
    state[b] = h0;
    state[b + 1u] = l0;
    state[b + 2u] = s1;
    state[b + 3u] = s2;
    state[b + 4u] = sdz;
    state[b + 5u] = same;
    return;
  }
  let D = p.D;
  let mean = s1 / D;
  let variance = max(s2 / D - mean * mean, vec4<f32>(0.0));
  let sd = sqrt(variance);
  let sz = vec4<f32>(sumz[y.x], sumz[y.y], sumz[y.z], sumz[y.w]);
  var r = (sdz - mean * sz) / (D * sd);
  var zero = (same != vec4<f32>(0.0)) | (sd == vec4<f32>(0.0));
  if (F64) {
    let f = vec4<u32>(
      flags[p.tileStart + min(lane0, p.lanes - 1u) - p.flagBase],
      flags[p.tileStart + min(lane0 + 1u, p.lanes - 1u) - p.flagBase],
      flags[p.tileStart + min(lane0 + 2u, p.lanes - 1u) - p.flagBase],
      flags[p.tileStart + min(lane0 + 3u, p.lanes - 1u) - p.flagBase]);
    zero = (f != vec4<u32>(0u)) | (sd == vec4<f32>(0.0));
  }
  r = select(r, vec4<f32>(0.0), zero);
  let o = p.tileStart + lane0 - p.outBase;
  outv[o] = r.x;
  if (lane0 + 1u < p.lanes) { outv[o + 1u] = r.y; }
  if (lane0 + 2u < p.lanes) { outv[o + 2u] = r.z; }
  if (lane0 + 3u < p.lanes) { outv[o + 3u] = r.w; }
}

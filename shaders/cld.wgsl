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
// f32 trajectories (F64 = false): the slab holds trajectory rows e0 … e0 + rows; each
// difference is the exact pair (hi, lo) from TwoSum, so "all equal" is decided exactly, as
// the float64 reference does, and δ = (hi − hi₀) + (lo − lo₀) keeps ~f32 precision of δ.
// f64 trajectories (F64 = true): the host computes, in float64 as the reference does, the
// mean difference and δ_e = (T[e+1] − T[e]) − mean (rounded to f32 once, so even ulp-level
// structure of the f64 differences survives) plus the exact "all equal" flags; the slab holds
// the `rows` δ rows and the kernel uses mean_δ = 0 (the reference's centring), Σz unused.
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
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read> z: array<f32>;
@group(0) @binding(4) var<storage, read> sumz: array<f32>;
@group(0) @binding(5) var<storage, read_write> outv: array<f32>;
@group(0) @binding(6) var<storage, read_write> state: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> flags: array<u32>;

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

  var h0 = vec4<f32>(0.0);
  var l0 = vec4<f32>(0.0);
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  var sdz = vec4<f32>(0.0);
  var same = vec4<f32>(1.0);
  if (p.first == 0u) {
    let b = g * 6u;
    h0 = state[b];
    l0 = state[b + 1u];
    s1 = state[b + 2u];
    s2 = state[b + 3u];
    sdz = state[b + 4u];
    same = state[b + 5u];
  }
  if (F64) {
    for (var k = 0u; k < p.rows; k++) {
      let delta = hi[k * p.stride4 + g];
      let zr = (p.e0 + k) * C;
      let zv = vec4<f32>(z[zr + y.x], z[zr + y.y], z[zr + y.z], z[zr + y.w]);
      s1 += delta;
      s2 += delta * delta;
      sdz += delta * zv;
    }
  } else {
    var prevH = hi[g];
    if (p.first != 0u) {
      two_sum4(hi[p.stride4 + g], -prevH, &h0, &l0);
    }
    for (var k = 0u; k < p.rows; k++) {
      let cur = hi[(k + 1u) * p.stride4 + g];
      var dh: vec4<f32>;
      var dl: vec4<f32>;
      two_sum4(cur, -prevH, &dh, &dl);
      prevH = cur;
      same = select(vec4<f32>(0.0), same, (dh == h0) & (dl == l0));
      let delta = (dh - h0) + (dl - l0);
      let zr = (p.e0 + k) * C;
      let zv = vec4<f32>(z[zr + y.x], z[zr + y.y], z[zr + y.z], z[zr + y.w]);
      s1 += delta;
      s2 += delta * delta;
      sdz += delta * zv;
    }
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
  let mean = select(s1 / D, vec4<f32>(0.0), F64);
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

// Shared helpers, prepended with `//!include common` (not a kernel family on its own).

// Linear invocation id of a 1-D kernel dispatched as a 2-D grid of workgroups (≤ 65 535 per dimension).
fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, wg: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * wg + lid;
}

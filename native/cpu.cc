#include "cpu.h"

#include <cstdlib>
#include <cstring>

namespace riverbed {

static Isa detect() {
  Isa best = Isa::generic;
#if RB_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = Isa::avx2;
  if (best == Isa::avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
    best = Isa::avx512;
#endif
  if (const char* cap = std::getenv("RIVERBED_ISA")) {
    Isa want = best;
    if (!std::strcmp(cap, "generic") || !std::strcmp(cap, "default")) want = Isa::generic;
    else if (!std::strcmp(cap, "avx2")) want = Isa::avx2;
    else if (!std::strcmp(cap, "avx512f") || !std::strcmp(cap, "avx512")) want = Isa::avx512;
    if (want < best) best = want;
  }
  return best;
}

Isa cpu_isa() {
  static const Isa isa = detect();
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512f";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

}  // namespace riverbed

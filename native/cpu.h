// Runtime CPU dispatch: which instruction-set path the hot kernels take on this machine.
// The shipped binary is built without -march=native; per-ISA functions carry
// __attribute__((target(...))) and are picked here once.
#pragma once

namespace riverbed {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

// Best supported path; RIVERBED_ISA=generic|avx2|avx512f caps it (for testing the fallbacks).
Isa cpu_isa();
const char* isa_name(Isa isa);

}  // namespace riverbed

#if defined(__x86_64__) || defined(__i386__)
#define RB_X86 1
#define RB_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma,bmi2")))
#define RB_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define RB_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RB_X86 0
#define RB_TARGET_AVX512
#define RB_TARGET_AVX2
#define RB_CLONES
#endif

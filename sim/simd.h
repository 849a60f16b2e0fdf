// SPK_SIM_VECTOR_CLONES marks a hot loop to be compiled twice on x86-64: for
// the baseline (SSE2) and for AVX2, picked once at load time by the CPU it
// runs on. Elsewhere it expands to nothing. The loops stay plain C++ that the
// compiler vectorises; no intrinsics, so results are the same on every path.
//
// ThreadSanitizer builds go without clones: their load-time resolver runs
// instrumented before the TSan runtime is up and crashes the process.
#ifndef SPK_SIM_SIMD_H_
#define SPK_SIM_SIMD_H_

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_THREAD__) && \
    !defined(SPK_SIM_NO_CLONES)
#define SPK_SIM_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SPK_SIM_VECTOR_CLONES
#endif

#endif  // SPK_SIM_SIMD_H_

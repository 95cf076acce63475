@testable import LoomTrain
import Testing

/// The kernel-selection rules as a pure function, and the sgemm check. Nothing here sets
/// OPENBLAS_CORETYPE or calls `BLAS.selectKernel()` (which may re-execute the process).
@Suite struct KernelSelectionTests {
    static let avx2: Set<String> = ["sse4_2", "avx", "avx2", "fma", "f16c"]
    static let avx512 = avx2.union(["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"])

    @Test func genericKernelIsReplaced() {
        #expect(KernelSelection.decide(currentCore: "Prescott", cpuFlags: Self.avx2, environment: [:]) == .reexecute(coreType: "Haswell"))
        #expect(KernelSelection.decide(currentCore: "Prescott", cpuFlags: Self.avx512, environment: [:]) == .reexecute(coreType: "SkylakeX"))
        #expect(KernelSelection.decide(currentCore: "Sandybridge", cpuFlags: Self.avx2, environment: ["LOOM_BLAS_AUTO": "1"])
                == .reexecute(coreType: "Haswell"))
        // avx512f alone (no bw/dq/vl, as on Knights Landing) is not SkylakeX material.
        #expect(KernelSelection.decide(currentCore: "Prescott", cpuFlags: Self.avx2.union(["avx512f"]), environment: [:])
                == .reexecute(coreType: "Haswell"))
    }

    @Test func fastOrForcedKernelsAreKept() {
        for core in ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"] {
            #expect(KernelSelection.decide(currentCore: core, cpuFlags: Self.avx512, environment: [:])
                    == .keep(KernelChoice(kernel: core, reason: .openBLASPick)))
        }
        #expect(KernelSelection.decide(currentCore: "Prescott", cpuFlags: Self.avx2, environment: ["OPENBLAS_CORETYPE": "Prescott"])
                == .keep(KernelChoice(kernel: "Prescott", reason: .environment("Prescott"))))
        #expect(KernelSelection.decide(currentCore: "Prescott", cpuFlags: Self.avx2, environment: ["LOOM_BLAS_AUTO": "0"])
                == .keep(KernelChoice(kernel: "Prescott", reason: .disabled)))
        #expect(KernelSelection.decide(currentCore: "Prescott", cpuFlags: ["sse2", "sse3", "avx"], environment: [:])
                == .keep(KernelChoice(kernel: "Prescott", reason: .noBetterKernel)))
        #expect(KernelSelection.decide(currentCore: "armv8", cpuFlags: ["fp", "asimd"], environment: [:])
                == .keep(KernelChoice(kernel: "armv8", reason: .noBetterKernel)))
    }

    @Test func reexecutedProcessVerifies() {
        let env = ["OPENBLAS_CORETYPE": "Haswell", "LOOM_BLAS_SELECTED": "1", "LOOM_BLAS_ORIGINAL": "Prescott"]
        #expect(KernelSelection.decide(currentCore: "Haswell", cpuFlags: Self.avx2, environment: env) == .verify(original: "Prescott"))
        // Without OPENBLAS_CORETYPE the marker means nothing (a stale variable): the normal rules apply.
        #expect(KernelSelection.decide(currentCore: "Haswell", cpuFlags: Self.avx2, environment: ["LOOM_BLAS_SELECTED": "1"])
                == .keep(KernelChoice(kernel: "Haswell", reason: .openBLASPick)))
    }

    @Test func descriptionsSayWhy() {
        #expect("\(KernelChoice(kernel: "Haswell", reason: .chosenByLoom(original: "Prescott")))"
                == "Haswell (chosen by loom; OpenBLAS picked Prescott; sgemm checked)")
        #expect("\(KernelChoice(kernel: "Haswell", reason: .openBLASPick))" == "Haswell (OpenBLAS's own pick)")
    }

    @Test func cpuFlagsFromCpuinfo() {
        let text = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n"
        #expect(KernelSelection.cpuFlags(cpuinfo: text) == ["fpu", "sse2", "avx2", "fma"])
        #expect(KernelSelection.cpuFlags(cpuinfo: "Features\t: fp asimd\n") == ["fp", "asimd"])
        #expect(KernelSelection.cpuFlags(cpuinfo: "") == [])
    }

    @Test func sgemmCheckPassesOnOpenBLASAndCatchesWrongProducts() {
        let real = SgemmCheck.run()
        #expect(real.passed && real.relativeError < 1e-6, "OpenBLAS sgemm: relative error \(real.relativeError)")
        // One wrong element out of 8051 (1% off) is enough to fail.
        let slightlyWrong = SgemmCheck.run { m, n, k, a, b, c in
            Gemm.multiply(m: m, n: n, k: k, a, lda: k, b, ldb: n, into: c, ldc: n)
            c[17] *= 3
        }
        #expect(!slightlyWrong.passed)
        let garbage = SgemmCheck.run { m, n, _, _, _, c in c.update(repeating: .nan, count: m * n) }
        #expect(!garbage.passed)
    }
}

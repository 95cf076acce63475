import Foundation

/// Choosing OpenBLAS's kernel: the rules as a pure function, and the re-execution that applies them.
///
/// Debian's OpenBLAS 0.3.21 does not recognise some newer CPUs and falls back to a generic
/// kernel ("Prescott", about 5x slower for sgemm). It reads OPENBLAS_CORETYPE only when the
/// library loads, so the only way to change kernels is to re-execute the process with it set.
/// The re-executed process checks one sgemm against a double-precision reference before
/// trusting the kernel; if that fails it re-executes once more with the original environment and
/// LOOM_BLAS_AUTO=0.
public enum KernelSelection {
    /// Kernels that are already fast: never replaced.
    public static let fastKernels: Set<String> = ["haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"]

    /// Set in the re-executed process (with OPENBLAS_CORETYPE): verify, then report.
    public static let selectedVariable = "LOOM_BLAS_SELECTED"
    /// What OpenBLAS picked before the re-execution, for the report.
    public static let originalVariable = "LOOM_BLAS_ORIGINAL"
    /// "0" turns selection off.
    public static let autoVariable = "LOOM_BLAS_AUTO"
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"

    public enum Decision: Sendable, Hashable {
        /// Do nothing; the process runs this kernel for this reason.
        case keep(KernelChoice)
        /// Re-execute with OPENBLAS_CORETYPE set to this kernel.
        case reexecute(coreType: String)
        /// This is the re-executed process: check sgemm on the chosen kernel, which replaced `original`.
        case verify(original: String)
    }

    /// The rules, in order:
    /// 1. LOOM_BLAS_SELECTED=1 (with OPENBLAS_CORETYPE): this process was re-executed; verify.
    /// 2. OPENBLAS_CORETYPE set, LOOM_BLAS_AUTO=0, or a kernel in ``fastKernels``: keep.
    /// 3. Otherwise SkylakeX when the CPU has avx512f, avx512bw, avx512dq and avx512vl; Haswell when
    ///    it has avx2 and fma; keep when neither (or when that is the current kernel already).
    public static func decide(currentCore: String, cpuFlags: Set<String>, environment: [String: String]) -> Decision {
        if environment[selectedVariable] == "1", environment[coreTypeVariable] != nil {
            return .verify(original: environment[originalVariable] ?? "unknown")
        }
        if let forced = environment[coreTypeVariable] {
            return .keep(KernelChoice(kernel: currentCore, reason: .environment(forced)))
        }
        if environment[autoVariable] == "0" {
            return .keep(KernelChoice(kernel: currentCore, reason: .disabled))
        }
        if fastKernels.contains(currentCore.lowercased()) {
            return .keep(KernelChoice(kernel: currentCore, reason: .openBLASPick))
        }
        let pick: String
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(cpuFlags.contains) {
            pick = "SkylakeX"
        } else if cpuFlags.contains("avx2") && cpuFlags.contains("fma") {
            pick = "Haswell"
        } else {
            return .keep(KernelChoice(kernel: currentCore, reason: .noBetterKernel))
        }
        if pick.lowercased() == currentCore.lowercased() {
            return .keep(KernelChoice(kernel: currentCore, reason: .openBLASPick))
        }
        return .reexecute(coreType: pick)
    }

    /// The CPU feature flags of the first processor in /proc/cpuinfo (empty where there is none).
    public static func cpuFlags(cpuinfo: String) -> Set<String> {
        for line in cpuinfo.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            // x86 says "flags", arm64 says "Features".
            guard parts.count == 2, ["flags", "Features"].contains(parts[0].trimmingCharacters(in: .whitespaces)) else { continue }
            return Set(parts[1].split(separator: " ").map(String.init))
        }
        return []
    }

    /// Decides for this process and acts: may `execv` and not return.
    static func apply() -> KernelChoice {
        let environment = ProcessInfo.processInfo.environment
        let current = BLAS.coreName
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        switch decide(currentCore: current, cpuFlags: cpuFlags(cpuinfo: cpuinfo), environment: environment) {
        case .keep(let choice):
            return choice
        case .reexecute(let coreType):
            setenv(coreTypeVariable, coreType, 1)
            setenv(selectedVariable, "1", 1)
            setenv(originalVariable, current, 1)
            let failure = reexecute()
            // Still here: exec failed. Undo, and run on OpenBLAS's pick.
            for name in [coreTypeVariable, selectedVariable, originalVariable] { unsetenv(name) }
            return KernelChoice(kernel: current, reason: .reexecFailed(failure))
        case .verify(let original):
            // Children of this process inherit OPENBLAS_CORETYPE and simply keep it.
            unsetenv(selectedVariable)
            unsetenv(originalVariable)
            let check = SgemmCheck.run()
            if check.passed { return KernelChoice(kernel: current, reason: .chosenByLoom(original: original)) }
            FileHandle.standardError.write(Data((String(
                format: "loom: warning: OpenBLAS kernel %@ failed its sgemm check (relative error %.2e); restarting with OpenBLAS's own pick (%@)\n",
                current, check.relativeError, original)).utf8))
            unsetenv(coreTypeVariable)
            setenv(autoVariable, "0", 1)
            let failure = reexecute()
            // Could not restart: carry on, but say the kernel is suspect.
            return KernelChoice(kernel: current, reason: .reexecFailed("sgemm check failed, then \(failure)"))
        }
    }

    /// `execv("/proc/self/exe", argv)` with the current environment; returns only on failure.
    private static func reexecute() -> String {
        #if os(Linux)
        fflush(nil)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        return String(cString: strerror(errno))
        #else
        return "re-executing is only implemented on Linux"
        #endif
    }
}

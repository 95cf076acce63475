import Glibc

/// Peak resident set size of this process, in bytes (`getrusage`, whose `ru_maxrss` is KiB on Linux).
func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
}

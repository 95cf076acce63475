import Glibc

/// Peak resident set size of this process, in bytes (`getrusage`, whose `ru_maxrss` is KiB on Linux).
func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
}

/// This process's anonymous resident memory now, in bytes (`RssAnon` in /proc/self/status): the
/// part of RSS the kernel cannot drop. A mapped file's pages count in RSS too, but they are clean
/// page cache, shared by every process that maps the file and reclaimable under pressure.
func anonymousResidentBytes() -> Int {
    guard let file = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard text.hasPrefix("RssAnon:") else { continue }
        let kib = text.dropFirst("RssAnon:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) } ?? 0
        return kib * 1024
    }
    return 0
}

import Foundation

/// A byte-bounded folder of whole objects (shards) fetched from a ``ShardSource``: the local
/// cache of a fleet store's `--store` directory.
///
/// - Bounded: the bytes in the folder, downloads in progress included, never pass `limit`.
///   A download reserves its object's size first, evicting the least recently used objects
///   that no read is using; when the rest is in use it waits for a read or download to end.
/// - Deduplicated: concurrent requests for one object share one download.
/// - Crash-safe: a download goes to `.partial-*` in the folder, is fsynced, then renamed into
///   place, so a name in the folder always holds a whole object; partials left by a crash are
///   removed when the cache opens. Deleting the folder loses nothing but cached bytes.
/// - LRU order lives in memory; a reopened cache starts from the files' modification times.
public actor ShardCache {
    public nonisolated let directory: String
    /// The most bytes the folder holds.
    public nonisolated let limit: Int64
    /// Downloads at once (more wait for a slot).
    public nonisolated let maxDownloads: Int
    nonisolated let source: any ShardSource

    struct Entry {
        var size: Int64
        var lastUse: UInt64
        var pins: Int
    }

    /// What happened so far, for `loom cache` reports and tests.
    public struct Statistics: Sendable, Equatable {
        /// Reads served from a file already here.
        public var hits = 0
        /// Whole objects downloaded.
        public var downloads = 0
        /// Reads sent to the source as range GETs, uncached.
        public var rangeReads = 0
        /// Objects removed to make room.
        public var evictions = 0

        public init(hits: Int = 0, downloads: Int = 0, rangeReads: Int = 0, evictions: Int = 0) {
            self.hits = hits
            self.downloads = downloads
            self.rangeReads = rangeReads
            self.evictions = evictions
        }
    }

    private var entries: [String: Entry] = [:]
    private var clock: UInt64 = 0
    private var used: Int64 = 0
    private var reserved: Int64 = 0
    private var downloading = 0
    private var inFlight: [String: Task<Void, any Error>] = [:]
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var statistics = Statistics()

    /// Opens (creating) the cache folder: removes partial downloads, adopts whole files, and
    /// evicts the oldest when they pass `limit` (a smaller `--cache-size` than last time).
    public init(directory: String, limit: Int64, source: any ShardSource, maxDownloads: Int = 4) throws {
        guard limit > 0 else {
            throw ObjectStoreError.configuration("--cache-size", "the cache size must be more than 0 bytes (got \(limit))")
        }
        self.directory = directory
        self.limit = limit
        self.source = source
        self.maxDownloads = max(1, maxDownloads)
        let files = FileManager.default
        do {
            try files.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ObjectStoreError.local(directory, "create the cache folder", errno: errno == 0 ? EIO : errno)
        }
        var found: [(name: String, size: Int64, modified: Date)] = []
        for file in (try? files.contentsOfDirectory(atPath: directory)) ?? [] {
            let path = directory + "/" + file
            if file.hasPrefix(".partial-") || file.hasPrefix("~") {  // a crash's leftovers; objects whose name is not kept
                try? files.removeItem(atPath: path)
                continue
            }
            guard let name = Self.name(forFile: file),
                  let attributes = try? files.attributesOfItem(atPath: path),
                  attributes[.type] as? FileAttributeType == .typeRegular else { continue }
            let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
            found.append((name, size, attributes[.modificationDate] as? Date ?? .distantPast))
        }
        for file in found.sorted(by: { $0.modified < $1.modified }) {
            clock += 1
            entries[file.name] = Entry(size: file.size, lastUse: clock, pins: 0)
            used += file.size
        }
        while used > limit, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            try? files.removeItem(atPath: Self.path(directory, oldest.key))
            used -= oldest.value.size
            entries[oldest.key] = nil
        }
    }

    // MARK: Reading

    /// Bytes `range` of object `name` (fewer at its end). A cached object is read here; one
    /// being downloaded is waited for; otherwise `fetchWhole` downloads it first (the next read
    /// is local), and without it one range GET goes to the source. An object bigger than the
    /// whole cache is always read by range.
    public nonisolated func read(_ name: String, range: Range<Int64>, fetchWhole: Bool = true) async throws -> [UInt8] {
        guard !name.isEmpty, range.lowerBound >= 0 else {
            throw ObjectStoreError(code: .invalidInput, operation: "cache read", endpoint: "", key: name,
                                   reason: name.isEmpty ? "an empty object name" : "the range \(range) starts before the object")
        }
        // An object evicted between its download and this read is fetched again; a few rounds
        // at most, since a fresh download is the newest entry.
        for _ in 0..<4 {
            switch try await acquire(name, fetchWhole: fetchWhole) {
            case .local(let path):
                let bytes = Result { try Self.readFile(path, range: range) }
                await release(name)
                return try bytes.get()
            case .remote:
                return try await source.read(name, range: range)
            case .evicted:
                continue
            }
        }
        return try await source.read(name, range: range)
    }

    /// The whole object, through the cache.
    public nonisolated func data(_ name: String) async throws -> [UInt8] {
        try await read(name, range: 0..<Int64.max)
    }

    /// Downloads `name` unless it is here or coming; throws what the download threw.
    public func fetch(_ name: String) async throws {
        if entries[name] != nil { return }
        try await (inFlight[name] ?? startDownload(name)).value
    }

    /// Starts downloading those of `names` not here or coming, in order (at most
    /// ``maxDownloads`` at once), and returns at once: fetch-ahead in the loader's order.
    /// A failed prefetch is forgotten; the read that needs the object fetches it again.
    public func prefetch(_ names: [String]) {
        for name in names where entries[name] == nil && inFlight[name] == nil {
            _ = startDownload(name)
        }
    }

    /// Takes the whole object at `path` (a file this process just uploaded as `name`) into the
    /// cache by renaming it into place, so a writer's own shards are read back locally. Without
    /// room (or when `name` is cached already) the file is removed instead: it is in the store.
    public func adopt(_ path: String, as name: String) {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? -1
        guard size >= 0, size <= limit, entries[name] == nil, inFlight[name] == nil else {
            unlink(path)
            return
        }
        while used + reserved + size > limit, evictOldestUnpinned() {}
        guard used + reserved + size <= limit, rename(path, Self.path(directory, name)) == 0 else {
            unlink(path)
            return
        }
        used += size
        clock += 1
        entries[name] = Entry(size: size, lastUse: clock, pins: 0)
    }

    /// Forgets and removes a cached object (one `loom gc` deleted from the store).
    public func remove(_ name: String) {
        guard let entry = entries[name], entry.pins == 0 else { return }
        unlink(Self.path(directory, name))
        used -= entry.size
        entries[name] = nil
    }

    /// The limit when neither `--cache-size` nor `LOOM_CACHE_SIZE` gives one: half the space free
    /// on the file system that holds `directory` (or its nearest existing parent) now, so the
    /// cache leaves room for the partial writes beside it.
    public static func defaultLimit(for directory: String) -> Int64 {
        var path = directory
        var info = statvfs()
        while statvfs(path, &info) != 0 {
            let parent = (path as NSString).deletingLastPathComponent
            guard parent != path, !parent.isEmpty else { return 1 << 30 }
            path = parent
        }
        return max(1 << 20, Int64(info.f_bavail) * Int64(info.f_frsize) / 2)
    }

    // MARK: State

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// Bytes in the folder now: whole objects plus reservations of downloads in progress.
    public var bytesUsed: Int64 { used + reserved }

    public var cachedNames: Set<String> { Set(entries.keys) }

    public var stats: Statistics { statistics }

    // MARK: Internals

    enum Acquired {
        case local(String)
        case remote
        case evicted
    }

    private func acquire(_ name: String, fetchWhole: Bool) async throws -> Acquired {
        if pin(name) {
            statistics.hits += 1
            return .local(Self.path(directory, name))
        }
        let task: Task<Void, any Error>
        if let running = inFlight[name] {
            task = running
        } else if fetchWhole {
            task = startDownload(name)
        } else {
            statistics.rangeReads += 1
            return .remote
        }
        do {
            try await task.value
        } catch is TooLarge {
            statistics.rangeReads += 1
            return .remote
        }
        return pin(name) ? .local(Self.path(directory, name)) : .evicted
    }

    private func pin(_ name: String) -> Bool {
        guard entries[name] != nil else { return false }
        clock += 1
        entries[name]!.pins += 1
        entries[name]!.lastUse = clock
        return true
    }

    private func release(_ name: String) {
        entries[name]?.pins -= 1
        wakeWaiters()
    }

    private func startDownload(_ name: String) -> Task<Void, any Error> {
        let task = Task { try await self.download(name) }
        inFlight[name] = task
        return task
    }

    /// Runs inside the download task: reserve, fetch to a partial, fsync, rename, commit.
    private func download(_ name: String) async throws {
        defer { inFlight[name] = nil }
        let size = try await source.size(of: name)
        guard size <= limit else { throw TooLarge() }
        await reserve(size)
        let partial = "\(directory)/.partial-\(UUID().uuidString)"
        do {
            try await source.download(name, to: partial, expectedSize: size)
            let written = (try? FileManager.default.attributesOfItem(atPath: partial)[.size] as? NSNumber)?.int64Value
            guard written == size else {
                throw ObjectStoreError(code: .corrupt, operation: "cache", endpoint: "", key: name,
                                       reason: "downloaded \(written ?? -1) bytes, expected \(size)")
            }
            guard rename(partial, Self.path(directory, name)) == 0 else {
                throw ObjectStoreError.local(Self.path(directory, name), "rename the download into place", errno: errno)
            }
        } catch {
            unlink(partial)
            reserved -= size
            downloading -= 1
            wakeWaiters()
            throw error
        }
        reserved -= size
        downloading -= 1
        used += size
        clock += 1
        entries[name] = Entry(size: size, lastUse: clock, pins: 0)
        statistics.downloads += 1
        wakeWaiters()
    }

    /// Makes room for `size` more bytes and takes a download slot, evicting unpinned objects
    /// oldest first, waiting while what is left is in use.
    private func reserve(_ size: Int64) async {
        while true {
            if downloading < maxDownloads {
                while used + reserved + size > limit, evictOldestUnpinned() {}
                if used + reserved + size <= limit {
                    reserved += size
                    downloading += 1
                    return
                }
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    private func evictOldestUnpinned() -> Bool {
        guard let oldest = entries.filter({ $0.value.pins == 0 }).min(by: { $0.value.lastUse < $1.value.lastUse }) else {
            return false
        }
        unlink(Self.path(directory, oldest.key))
        used -= oldest.value.size
        entries[oldest.key] = nil
        statistics.evictions += 1
        return true
    }

    private func wakeWaiters() {
        let waiting = waiters
        waiters.removeAll()
        for waiter in waiting { waiter.resume() }
    }

    struct TooLarge: Error {}

    // MARK: Files

    /// The file of an object: its name percent-encoded (no `/`), or a digest when that is too long.
    static func path(_ directory: String, _ name: String) -> String {
        let encoded = SigV4Signer.encode(name)
        return directory + "/" + (encoded.utf8.count <= 200 ? encoded : "~" + Hashing.hex(Hashing.sha256(name)))
    }

    /// The object a cache file holds, or nil for digest-named files (their name is unknown; the
    /// cache removes them when it opens) and anything not written by the cache (left alone).
    static func name(forFile file: String) -> String? {
        guard !file.hasPrefix("~"), !file.hasPrefix("."), let name = file.removingPercentEncoding,
              SigV4Signer.encode(name) == file else { return nil }
        return name
    }

    static func readFile(_ path: String, range: Range<Int64>) throws -> [UInt8] {
        let file = try LocalFile(reading: path)
        let start = min(range.lowerBound, file.size), end = min(range.upperBound, file.size)
        return try file.read(offset: start, length: Int(end - start))
    }
}

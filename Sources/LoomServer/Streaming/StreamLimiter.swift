import Synchronization

/// The batch streams in flight, against `--max-streams`.
///
/// Each stream holds up to its memory budget and runs its own decoding threads, so the number
/// at once is what bounds the server's memory: a stream past the limit is refused (503) rather
/// than queued.
final class StreamLimiter: Sendable {
    let limit: Int
    private let open = Mutex(0)

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// A place for one more stream, or nil when all are taken.
    func admit() -> StreamPlace? {
        let admitted = open.withLock { streams -> Bool in
            guard streams < limit else { return false }
            streams += 1
            return true
        }
        return admitted ? StreamPlace(limiter: self) : nil
    }

    fileprivate func release() {
        open.withLock { $0 -= 1 }
    }
}

/// One admitted stream's place. The stream's memory is held by two parties, its producer
/// thread (the loader's ring) and its response body (frames waiting for the socket), and the
/// place is given back only when both have let go, so the limit bounds memory, not just
/// responses.
final class StreamPlace: Sendable {
    private let limiter: StreamLimiter
    private let holders = Mutex(2)

    fileprivate init(limiter: StreamLimiter) {
        self.limiter = limiter
    }

    /// One holder is done; the last gives the place back.
    func leave() {
        let last = holders.withLock { left -> Bool in
            guard left > 0 else { return false }
            left -= 1
            return left == 0
        }
        if last { limiter.release() }
    }

    /// The stream never started (its loader could not be made): give the place back at once.
    func abandon() {
        let held = holders.withLock { left -> Bool in
            defer { left = 0 }
            return left > 0
        }
        if held { limiter.release() }
    }

    deinit { abandon() }
}

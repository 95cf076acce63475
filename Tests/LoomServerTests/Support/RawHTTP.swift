import Foundation
import Glibc

/// A minimal HTTP/1.1 client over a plain socket: sends exactly the bytes a test writes (no
/// path normalisation, which URLSession would apply to `../`), and reads bodies either whole
/// or incrementally (for batch streams).
final class RawHTTP {
    let fd: Int32
    private var buffer: [UInt8] = []

    struct Reply: CustomStringConvertible {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        var text: String { String(decoding: body, as: UTF8.self) }
        func json() throws -> [String: Any] {
            guard let object = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
                throw TestFailure("body is not a JSON object: \(text)")
            }
            return object
        }
        /// The `error` of a JSON error body.
        var error: String { ((try? json())?["error"] as? String) ?? "<no error message: \(text.prefix(200))>" }
        var description: String { "HTTP \(status) \(headers.map { "\($0.0): \($0.1)" }.joined(separator: "; ")) \(text.prefix(500))" }
    }

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw TestFailure("connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 { throw TestFailure("send: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    /// Sends a request; `Connection: close` unless the caller sets it.
    func sendRequest(_ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8] = []) throws {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        var names = Set<String>()
        for (name, value) in headers { head += "\(name): \(value)\r\n"; names.insert(name.lowercased()) }
        if !names.contains("connection") { head += "Connection: close\r\n" }
        if !body.isEmpty && !names.contains("content-length") && !names.contains("transfer-encoding") { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        try send(Array(head.utf8) + body)
    }

    /// More bytes into the buffer; false at end of stream.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 { throw TestFailure("recv: \(String(cString: strerror(errno)))") }
        if n == 0 { return false }
        buffer += chunk[0..<n]
        return true
    }

    func readExactly(_ count: Int) throws -> [UInt8]? {
        while buffer.count < count { if try !fill() { return nil } }
        let out = Array(buffer[0..<count])
        buffer.removeFirst(count)
        return out
    }

    func readLine() throws -> String? {
        while true {
            if let i = buffer.firstIndex(of: 0x0A) {
                let line = buffer[0..<i]
                buffer.removeFirst(i + 1)
                return String(decoding: line.last == 0x0D ? line.dropLast() : line, as: UTF8.self)
            }
            if try !fill() { return nil }
        }
    }

    /// Status line and headers.
    func readHead() throws -> (Int, [(String, String)]) {
        guard let status = try readLine() else { throw TestFailure("connection closed before a response") }
        let parts = status.split(separator: " ")
        guard parts.count >= 2, let code = Int(parts[1]) else { throw TestFailure("bad status line \(status)") }
        var headers: [(String, String)] = []
        while let line = try readLine(), !line.isEmpty {
            let pair = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2 { headers.append((pair[0], pair[1])) }
        }
        return (code, headers)
    }

    // Incremental chunked decoding, for streams.
    private var chunkLeft = 0
    private var chunkedDone = false

    /// Up to `count` bytes of a chunked body: fewer only where the body ends (empty at its end).
    func readChunked(upTo count: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        while out.count < count {
            if chunkedDone { return out }
            if chunkLeft == 0 {
                guard let line = try readLine() else { return out }
                if line.isEmpty { continue }
                guard let size = Int(line.split(separator: ";")[0], radix: 16) else { throw TestFailure("bad chunk size line \(line)") }
                if size == 0 { chunkedDone = true; _ = try readLine(); return out }
                chunkLeft = size
            }
            let take = min(chunkLeft, count - out.count)
            guard let bytes = try readExactly(take) else { return out }
            out += bytes
            chunkLeft -= take
            if chunkLeft == 0 { _ = try readLine() }
        }
        return out
    }

    /// A whole response (the server closes after it: `Connection: close`).
    func readReply(head: Bool = false) throws -> Reply {
        let (status, headers) = try readHead()
        var reply = Reply(status: status, headers: headers, body: [])
        if head || status == 304 || status == 204 { return reply }
        if reply.header("transfer-encoding")?.lowercased() == "chunked" {
            while true {
                let piece = try readChunked(upTo: 1 << 16)
                if piece.isEmpty { break }
                reply.body += piece
            }
        } else if let length = reply.header("content-length").flatMap(Int.init) {
            guard let bytes = try readExactly(length) else { throw TestFailure("body cut short") }
            reply.body = bytes
        } else {
            while try fill() {}
            reply.body = buffer
            buffer.removeAll()
        }
        return reply
    }

    /// One request on a fresh connection.
    static func request(_ port: Int, _ method: String, _ target: String, headers: [(String, String)] = [],
                        body: [UInt8] = []) throws -> Reply {
        let connection = try RawHTTP(port: port)
        try connection.sendRequest(method, target, headers: headers, body: body)
        return try connection.readReply(head: method == "HEAD")
    }
}

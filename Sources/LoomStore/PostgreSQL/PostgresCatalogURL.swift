import Foundation

/// Where a PostgreSQL catalog is: `postgresql://user[:password]@host[:port]/database[?params]`,
/// libpq's URL form. Parameters taken (libpq's names): `sslmode` (`disable`, `allow`, `prefer`,
/// the default, `require`, `verify-ca`, `verify-full`), `host` (a directory holding the server's
/// unix socket, as libpq reads a host starting with `/`), `port`, `user`, `password`, `dbname`,
/// `connect_timeout` (seconds) and `application_name`; any other is refused, as libpq does.
public struct PostgresCatalogURL: Hashable, Sendable, CustomStringConvertible {
    public enum SSLMode: String, Hashable, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var user: String
    public var password: String?
    /// A TCP host, or nil when ``socketDirectory`` is set.
    public var host: String?
    public var port: Int
    public var database: String
    /// The directory holding `.s.PGSQL.<port>` when connecting over a unix socket.
    public var socketDirectory: String?
    public var sslMode: SSLMode
    public var connectTimeoutSeconds: Int
    public var applicationName: String

    /// What errors name: `host:port/database` (or the socket's path), never the password.
    public var endpoint: String {
        if let socketDirectory { return "\(socketDirectory)/.s.PGSQL.\(port)/\(database)" }
        return "\(host ?? "localhost"):\(port)/\(database)"
    }

    /// The URL with the password left out: safe to print.
    public var description: String { "postgresql://\(user)@\(endpoint)" }

    public static func isPostgresURL(_ text: String) -> Bool {
        text.hasPrefix("postgresql://") || text.hasPrefix("postgres://")
    }

    /// - Throws: `StoreError.invalidArgument` naming the URL (without its password) and what is wrong.
    public init(parsing text: String) throws {
        func refuse(_ why: String) -> StoreError {
            StoreError(.invalidArgument, "catalog URL \(Self.masked(text)): \(why) (expected postgresql://user[:password]@host:port/database)")
        }
        guard Self.isPostgresURL(text) else { throw refuse("not a postgresql:// URL") }
        // URLComponents reads an empty host ("user@/db?host=/run/postgresql") only with a host
        // there; put a placeholder in and take it out again.
        let authorityEnd = text.range(of: "://")!.upperBound
        let rest = text[authorityEnd...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        let emptyHost = authority.isEmpty || authority.hasSuffix("@")
        let parsable = emptyHost ? text[..<authorityEnd] + authority + "loom-no-host" + rest.dropFirst(authority.count) : text[...]
        guard let components = URLComponents(string: String(parsable)) else { throw refuse("not a valid URL") }

        var user = components.user, password = components.password
        var host = emptyHost ? nil : components.percentEncodedHost.flatMap { $0.removingPercentEncoding }
        var port = components.port ?? 5432
        var database = String(components.path.dropFirst())
        var sslMode = SSLMode.prefer, timeout = 10, applicationName = "loom"
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw refuse("sslmode \"\(value)\" is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sslMode = mode
            case "host": host = value
            case "port":
                guard let number = Int(value), (1...65535).contains(number) else { throw refuse("port \"\(value)\" is not a port number") }
                port = number
            case "user": user = value
            case "password": password = value
            case "dbname": database = value
            case "connect_timeout":
                guard let seconds = Int(value), seconds >= 0 else { throw refuse("connect_timeout \"\(value)\" is not a number of seconds") }
                timeout = seconds == 0 ? 10 : seconds
            case "application_name": applicationName = value
            default: throw refuse("unknown parameter \"\(item.name)\"")
            }
        }
        guard let user, !user.isEmpty else { throw refuse("no user name") }
        if database.isEmpty { database = user }  // libpq's default
        if database.contains("/") { throw refuse("database name \"\(database)\" has a '/'") }
        self.user = user
        self.password = password
        self.port = port
        self.database = database
        self.sslMode = sslMode
        self.connectTimeoutSeconds = timeout
        self.applicationName = applicationName
        if let host, host.hasPrefix("/") {
            socketDirectory = host
            self.host = nil
        } else {
            socketDirectory = nil
            self.host = (host?.isEmpty ?? true) ? "localhost" : host
        }
    }

    /// `text` with any password replaced by `***`, for error messages.
    static func masked(_ text: String) -> String {
        guard let scheme = text.range(of: "://") else { return text }
        let afterScheme = text[scheme.upperBound...]
        let authorityEnd = afterScheme.firstIndex { $0 == "/" || $0 == "?" } ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        var masked = text
        if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
            masked.replaceSubrange(text.index(after: colon)..<at, with: "***")
        }
        if let range = masked.range(of: #"([?&])password=[^&]*"#, options: .regularExpression) {
            let separator = masked[range].first!
            masked.replaceSubrange(range, with: "\(separator)password=***")
        }
        return masked
    }
}

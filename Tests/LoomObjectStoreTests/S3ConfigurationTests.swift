import AsyncHTTPClient
@testable import LoomObjectStore
import NIOHTTP1
import Testing

@Suite struct S3ConfigurationTests {
    static let credentials = ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret"]

    @Test func locationsParseBucketAndPrefix() throws {
        #expect(try S3Location(parsing: "s3://loom-data") == S3Location(bucket: "loom-data", prefix: ""))
        #expect(try S3Location(parsing: "s3://loom-data/") == S3Location(bucket: "loom-data", prefix: ""))
        let nested = try S3Location(parsing: "s3://loom.data/teams/vision")
        #expect(nested.bucket == "loom.data")
        #expect(nested.prefix == "teams/vision/")
        #expect(nested.key("shards/0001") == "teams/vision/shards/0001")
        #expect(nested.description == "s3://loom.data/teams/vision/")
    }

    @Test(arguments: ["loom-data", "http://loom-data/x", "s3://", "s3://ab", "s3://Upper", "s3://-dash",
                      "s3://under_score", "s3://b-b-b/a//b", "s3://b-b-b/a/../b"])
    func badLocationsNameTheParameter(_ text: String) {
        let error = #expect(throws: ObjectStoreError.self) { try S3Location(parsing: text, parameter: "LOOM_BLOBS") }
        #expect(error?.code == .invalidInput)
        #expect(error?.description.hasPrefix("LOOM_BLOBS: '\(text)'") == true, "\(String(describing: error))")
    }

    @Test func environmentGivesCredentialsRegionAndEndpoint() throws {
        var environment = Self.credentials
        environment["AWS_SESSION_TOKEN"] = "token"
        environment["AWS_REGION"] = "eu-west-1"
        environment["AWS_ENDPOINT_URL"] = "http://general.example:9000"
        environment["AWS_ENDPOINT_URL_S3"] = "http://127.0.0.1:8333/"
        let configuration = try S3Configuration.fromEnvironment(environment)
        #expect(configuration.credentials == AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret", sessionToken: "token"))
        #expect(configuration.region == "eu-west-1")
        #expect(configuration.endpoint.description == "http://127.0.0.1:8333")  // the S3-specific variable wins
        #expect(configuration.addressing == .path)

        environment["AWS_ENDPOINT_URL_S3"] = nil
        #expect(try S3Configuration.fromEnvironment(environment).endpoint.authority == "general.example:9000")
    }

    @Test func awsItselfIsAddressedByVirtualHostUnlessTheBucketHasDots() throws {
        var environment = Self.credentials
        environment["AWS_DEFAULT_REGION"] = "us-west-2"
        let plain = try S3Configuration.fromEnvironment(environment, bucket: "loom-data")
        #expect(plain.endpoint.description == "https://s3.us-west-2.amazonaws.com")
        #expect(plain.addressing == .virtualHost)
        #expect(try S3Configuration.fromEnvironment(environment, bucket: "loom.data").addressing == .path)
        #expect(try S3Configuration.fromEnvironment(Self.credentials).region == "us-east-1")

        let client = S3Client(configuration: plain)
        let request = client.request(for: .init(operation: "GET", method: .GET, bucket: "loom-data", key: "a b/c"))
        #expect(request.url == "https://loom-data.s3.us-west-2.amazonaws.com/a%20b/c")
        #expect(request.headers.first(name: "Host") == "loom-data.s3.us-west-2.amazonaws.com")
        #expect(request.headers.first(name: "Authorization")?.hasPrefix("AWS4-HMAC-SHA256 Credential=AKID/") == true)
    }

    @Test func pathStyleRequestsCarryBucketAndSortedQuery() throws {
        let configuration = try S3Configuration.fromEnvironment(Self.credentials.merging(["AWS_ENDPOINT_URL_S3": "http://127.0.0.1:8333"]) { $1 })
        let request = S3Client(configuration: configuration).request(for: .init(
            operation: "ListObjectsV2", method: .GET, bucket: "b-b", key: nil,
            query: [.init("prefix", "x/y z"), .init("list-type", "2")]))
        #expect(request.url == "http://127.0.0.1:8333/b-b?list-type=2&prefix=x%2Fy%20z")
        #expect(request.headers.first(name: "Host") == "127.0.0.1:8333")
        #expect(request.headers.first(name: "x-amz-content-sha256") == SigV4Signer.emptyPayloadHash)
    }

    @Test func missingCredentialsNameTheVariables() {
        let error = #expect(throws: ObjectStoreError.self) {
            try S3Configuration.fromEnvironment(["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "  "])
        }
        #expect(error?.code == .invalidInput)
        #expect(error?.description.hasPrefix("AWS_SECRET_ACCESS_KEY: not set") == true, "\(String(describing: error))")
    }

    @Test(arguments: ["ftp://host", "127.0.0.1:8333", "http://", "http://host/?x=1"])
    func badEndpointsNameTheVariable(_ text: String) {
        let error = #expect(throws: ObjectStoreError.self) {
            try S3Configuration.fromEnvironment(Self.credentials.merging(["AWS_ENDPOINT_URL": text]) { $1 })
        }
        #expect(error?.description.hasPrefix("AWS_ENDPOINT_URL: '\(text)'") == true, "\(String(describing: error))")
    }

    @Test func backoffGrowsAndStaysUnderItsCap() {
        let policy = RetryPolicy(maxAttempts: 10, initialBackoff: .milliseconds(100), maxBackoff: .seconds(1))
        for attempt in 1...9 {
            let ceiling = min(Duration.seconds(1), .milliseconds(100) * (1 << (attempt - 1)))
            for _ in 0..<50 {
                let pause = policy.backoff(after: attempt)
                #expect(pause <= ceiling && pause >= ceiling / 2, "attempt \(attempt): \(pause)")
            }
        }
        #expect(RetryPolicy(maxAttempts: 0).maxAttempts == 1)
    }

    @Test func errorsSayWhatWhereAndHowOften() {
        let error = ObjectStoreError(code: .unavailable, operation: "PUT", endpoint: "http://127.0.0.1:8333", bucket: "b",
                                     key: "shards/1", status: 503, s3Code: "SlowDown", reason: "Please reduce your request rate.",
                                     attempts: 6)
        #expect(error.description == "object store: PUT s3://b/shards/1 at http://127.0.0.1:8333 failed: "
            + "HTTP 503 SlowDown: Please reduce your request rate. (after 6 attempts)")
        // The codes are LoomStore's LoomErrorCode raw values, so LoomStore maps them one to one.
        #expect(ObjectStoreError.Code.allCases.map(\.rawValue) == ["not-found", "invalid-input", "conflict", "corrupt", "unavailable", "internal"])
    }

    @Test func xmlScannerReadsS3Answers() {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>
            <Contents><Key>a&amp;b &lt;c&gt; &#233;</Key><Size>12</Size><ETag>&quot;abc&quot;</ETag></Contents>
            <Contents><Key>d</Key><Size>0</Size></Contents>
            <NextContinuationToken>tok/en=</NextContinuationToken><Prefix/></ListBucketResult>
            """
        let contents = S3XML.elements("Contents", in: xml[...])
        #expect(contents.count == 2)
        #expect(S3XML.value("Key", in: contents[0]) == "a&b <c> \u{e9}")  // not <KeyCount>
        #expect(S3XML.value("ETag", in: contents[0]) == "\"abc\"")
        #expect(S3XML.value("NextContinuationToken", in: xml) == "tok/en=")
        #expect(S3XML.value("Prefix", in: xml) == "")
        #expect(S3XML.value("Missing", in: xml) == nil)
        #expect(S3XML.escape("<a & 'b'>") == "&lt;a &amp; &apos;b&apos;&gt;")
    }
}

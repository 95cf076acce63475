import Foundation
import LoomObjectStore
import Testing

/// The published AWS vectors: the SigV4 test suite (docs.aws.amazon.com/general/latest/gr/
/// signature-v4-test-suite.html, service "service", 2015-08-30) and the S3 examples of
/// "Signature Calculations for the Authorization Header: Transferring Payload in a Single Chunk"
/// (examplebucket, 2013-05-24). Expected values are copied from those pages, never computed here.
@Suite struct SigV4SignerTests {
    typealias Field = SigV4Request.Field

    static let suiteSigner = SigV4Signer(
        credentials: AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1", service: "service")
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z
    static let suiteHeaders = [Field("Host", "example.amazonaws.com"), Field("X-Amz-Date", "20150830T123600Z")]

    static let s3Signer = SigV4Signer(
        credentials: AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1", service: "s3")
    static let s3Date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z
    static let s3Headers = [
        Field("Host", "examplebucket.s3.amazonaws.com"),
        Field("x-amz-content-sha256", SigV4Signer.emptyPayloadHash),
        Field("x-amz-date", "20130524T000000Z"),
    ]

    @Test func amzDateIsUTCBasicFormat() {
        #expect(SigV4Signer.amzDate(Self.suiteDate) == "20150830T123600Z")
        #expect(SigV4Signer.amzDate(Self.s3Date) == "20130524T000000Z")
    }

    @Test func getVanilla() {
        let request = SigV4Request(method: "GET", path: "/", headers: Self.suiteHeaders, payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(Self.suiteSigner.canonicalRequest(request) == """
            GET
            /

            host:example.amazonaws.com
            x-amz-date:20150830T123600Z

            host;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(Self.suiteSigner.stringToSign(request, date: Self.suiteDate) == """
            AWS4-HMAC-SHA256
            20150830T123600Z
            20150830/us-east-1/service/aws4_request
            bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63
            """)
        #expect(Self.suiteSigner.authorization(request, date: Self.suiteDate)
            == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            + "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test func getVanillaQueryOrderKeyCase() {
        let request = SigV4Request(
            method: "GET", path: "/", query: [Field("Param2", "value2"), Field("Param1", "value1")],
            headers: Self.suiteHeaders, payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(Self.suiteSigner.canonicalRequest(request).split(separator: "\n", omittingEmptySubsequences: false)[2]
            == "Param1=value1&Param2=value2")
        #expect(Self.suiteSigner.stringToSign(request, date: Self.suiteDate).hasSuffix(
            "\n816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"))
        #expect(Self.suiteSigner.signature(request, date: Self.suiteDate)
            == "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
    }

    @Test func getVanillaQueryUnreserved() {
        let unreserved = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        let request = SigV4Request(
            method: "GET", path: "/", query: [Field(unreserved, unreserved)],
            headers: Self.suiteHeaders, payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(Self.suiteSigner.signature(request, date: Self.suiteDate)
            == "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197")
    }

    @Test func getUTF8PathIsPercentEncoded() {
        let request = SigV4Request(method: "GET", path: "/\u{1234}", headers: Self.suiteHeaders, payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(Self.suiteSigner.canonicalRequest(request).hasPrefix("GET\n/%E1%88%B4\n"))
        #expect(Self.suiteSigner.signature(request, date: Self.suiteDate)
            == "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85")
    }

    @Test func getHeaderValueTrim() {
        let request = SigV4Request(
            method: "GET", path: "/",
            headers: [Self.suiteHeaders[0], Field("My-Header1", " value1"), Field("My-Header2", " \"a   b   c\""), Self.suiteHeaders[1]],
            payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(Self.suiteSigner.canonicalRequest(request) == """
            GET
            /

            host:example.amazonaws.com
            my-header1:value1
            my-header2:"a b c"
            x-amz-date:20150830T123600Z

            host;my-header1;my-header2;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(Self.suiteSigner.authorization(request, date: Self.suiteDate)
            == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            + "SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736")
    }

    @Test func getHeaderKeyDuplicateJoinsValuesInOrder() {
        let request = SigV4Request(
            method: "GET", path: "/",
            headers: [Self.suiteHeaders[0], Field("My-Header1", "value2"), Field("My-Header1", "value2"),
                      Field("My-Header1", "value1"), Self.suiteHeaders[1]],
            payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(Self.suiteSigner.canonicalRequest(request).contains("\nmy-header1:value2,value2,value1\n"))
        #expect(Self.suiteSigner.signature(request, date: Self.suiteDate)
            == "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea")
    }

    @Test func postXWWWFormURLEncoded() {
        let body = Array("Param1=value1".utf8)
        let hash = SigV4Signer.payloadHash(body)
        #expect(hash == "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e")
        // The suite's .authz signs content-type, host and x-amz-date (its .creq, which also lists
        // content-length, belongs to an older revision of the case).
        let request = SigV4Request(
            method: "POST", path: "/",
            headers: [Field("Content-Type", "application/x-www-form-urlencoded")] + Self.suiteHeaders, payloadHash: hash)
        #expect(Self.suiteSigner.authorization(request, date: Self.suiteDate)
            == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            + "SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a")
    }

    @Test func postVanillaQuery() {
        let request = SigV4Request(
            method: "POST", path: "/", query: [Field("Param1", "value1")],
            headers: Self.suiteHeaders, payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(Self.suiteSigner.signature(request, date: Self.suiteDate)
            == "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11")
    }

    // MARK: S3

    @Test func s3GetObjectWithRange() {
        var headers = Self.s3Headers
        headers.insert(Field("Range", "bytes=0-9"), at: 1)
        let request = SigV4Request(method: "GET", path: "/test.txt", headers: headers, payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(Self.s3Signer.stringToSign(request, date: Self.s3Date) == """
            AWS4-HMAC-SHA256
            20130524T000000Z
            20130524/us-east-1/s3/aws4_request
            7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972
            """)
        #expect(Self.s3Signer.signature(request, date: Self.s3Date)
            == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func s3PutObjectEncodesTheDollarInTheKey() {
        let hash = SigV4Signer.payloadHash(Array("Welcome to Amazon S3.".utf8))
        #expect(hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let request = SigV4Request(
            method: "PUT", path: "/test$file.text",
            headers: [
                Field("Host", "examplebucket.s3.amazonaws.com"), Field("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                Field("x-amz-date", "20130524T000000Z"), Field("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                Field("x-amz-content-sha256", hash),
            ],
            payloadHash: hash)
        #expect(Self.s3Signer.canonicalRequest(request) == """
            PUT
            /test%24file.text

            date:Fri, 24 May 2013 00:00:00 GMT
            host:examplebucket.s3.amazonaws.com
            x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072
            x-amz-date:20130524T000000Z
            x-amz-storage-class:REDUCED_REDUNDANCY

            date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class
            44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072
            """)
        #expect(Self.s3Signer.stringToSign(request, date: Self.s3Date).hasSuffix(
            "\n9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"))
        #expect(Self.s3Signer.signature(request, date: Self.s3Date)
            == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func s3GetBucketLifecycleSignsAValuelessParameter() {
        let request = SigV4Request(
            method: "GET", path: "/", query: [Field("lifecycle", "")], headers: Self.s3Headers,
            payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(Self.s3Signer.canonicalRequest(request).hasPrefix("GET\n/\nlifecycle=\n"))
        #expect(Self.s3Signer.stringToSign(request, date: Self.s3Date).hasSuffix(
            "\n9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca"))
        #expect(Self.s3Signer.signature(request, date: Self.s3Date)
            == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func s3ListObjectsSortsTheQuery() {
        let request = SigV4Request(
            method: "GET", path: "/", query: [Field("prefix", "J"), Field("max-keys", "2")], headers: Self.s3Headers,
            payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(Self.s3Signer.canonicalRequest(request).hasPrefix("GET\n/\nmax-keys=2&prefix=J\n"))
        #expect(Self.s3Signer.stringToSign(request, date: Self.s3Date).hasSuffix(
            "\ndf57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7"))
        #expect(Self.s3Signer.signature(request, date: Self.s3Date)
            == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    /// What ``SigV4Signer/sign(_:date:)`` adds on the wire reproduces the published GET Object
    /// example (its Authorization names the same signed headers and signature).
    @Test func signAddsDateContentHashAndAuthorization() {
        let request = SigV4Request(
            method: "GET", path: "/test.txt",
            headers: [Field("Host", "examplebucket.s3.amazonaws.com"), Field("Range", "bytes=0-9")],
            payloadHash: SigV4Signer.emptyPayloadHash)
        let headers = Self.s3Signer.sign(request, date: Self.s3Date)
        #expect(headers.first { $0.name == "x-amz-date" }?.value == "20130524T000000Z")
        #expect(headers.first { $0.name == "x-amz-content-sha256" }?.value == SigV4Signer.emptyPayloadHash)
        #expect(!headers.contains { $0.name == "x-amz-security-token" })
        #expect(headers.last?.value == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")

        var temporary = Self.s3Signer
        temporary.credentials.sessionToken = "token/with+chars"
        let withToken = temporary.sign(request, date: Self.s3Date)
        #expect(withToken.first { $0.name == "x-amz-security-token" }?.value == "token/with+chars")
        #expect(withToken.last?.value.contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date;x-amz-security-token,") == true)
    }
}

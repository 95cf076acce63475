// libFuzzer target `multipart`: POST /v1/images uploads. The first line of the input is the
// Content-Type header, the rest the body (boundary "b" when the header gives none).

@_cdecl("LLVMFuzzerTestOneInput")
public func multipartFuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let newline = input.firstIndex(of: 0x0A) ?? input.count
    let contentType = String(decoding: input[..<newline], as: UTF8.self)
    let body = Array(input[min(newline + 1, input.count)...])
    let boundary = MultipartForm.boundary(contentType: contentType) ?? "b"
    precondition((1...70).contains(boundary.utf8.count), "boundary of \(boundary.utf8.count) bytes accepted")
    guard let form = try? MultipartForm(body: body, boundary: boundary) else { return 0 }
    let separator = Array("\r\n--\(boundary)".utf8)
    for part in form.parts {
        precondition(part.bytes.startIndex >= 0 && part.bytes.endIndex <= body.count)
        // A part ends at the first separator after its headers: none can be inside it.
        precondition(MultipartForm.find(separator, in: Array(part.bytes), from: 0) == nil, "a part holds its own boundary")
    }
    return 0
}

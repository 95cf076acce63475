/// `http:URL` backends: an OpenAI-compatible server for captions, an AUTOMATIC1111-style
/// txt2img API for images.
enum HTTPBackend {
    static func captioner(url: String) throws -> any Captioner {
        throw PipelineError("http: backends are not implemented yet (\(url))")
    }

    static func generator(url: String) throws -> any Generator {
        throw PipelineError("http: backends are not implemented yet (\(url))")
    }
}

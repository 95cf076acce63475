/// `http:URL` backends: an OpenAI-compatible server for captions, an AUTOMATIC1111-style
/// txt2img API for images.
enum HTTPBackend {
    static func captioner(url: String) throws -> any Captioner {
        throw Backends.unknown("http:" + url, role: "captioner", available: Backends.captionerKinds)
    }

    static func generator(url: String) throws -> any Generator {
        throw Backends.unknown("http:" + url, role: "generator", available: Backends.generatorKinds)
    }
}

import Foundation
import LoomImage
import LoomStore

/// `http:URL` backends: an OpenAI-compatible chat server for captions, an AUTOMATIC1111-style
/// txt2img API for images.
///
/// Spec: `http:BASE_URL[?option=value&...]`; the query is Loom's options, not sent to the
/// server (values percent-decoded, `+` is a space, write `&` as `%26`):
///
/// - Captioner, e.g. `http:http://127.0.0.1:8000/v1?model=llava-hf/llava-1.5-7b-hf` (vLLM,
///   Ollama's `/v1`, llama.cpp server): `POST BASE_URL/chat/completions` with the prompt and the
///   image as a `data:` URL, temperature 0. Options: `model` (sent as the model and used as the
///   captioner's name; when left out, the first id `GET BASE_URL/models` lists), `prompt`
///   (default ``HTTPCaptioner/defaultPrompt``), `max_tokens` (default 128), `timeout` (seconds
///   per request, default 300). The images of a batch are sent concurrently.
/// - Generator, e.g. `http:http://127.0.0.1:7860?model=sdxl-base`: one
///   `POST BASE_URL/sdapi/v1/txt2img` per image (prompt, seed, steps, cfg_scale, width, height,
///   batch_size 1), answered with `{"images": ["<base64 PNG or JPEG>"]}`. Options: `model` (the
///   generator's name, default `a1111-txt2img`), `sampler` (sent as `sampler_name`), `timeout`
///   (seconds per image, default 600). The version is the server's `sd_model_checkpoint`
///   (`GET BASE_URL/sdapi/v1/options`) when it answers, else empty.
///
/// A bearer token is sent when `LOOM_HTTP_TOKEN` (or else `OPENAI_API_KEY`) is set. HTTP errors,
/// unreachable servers, time-outs, non-JSON answers and missing fields fail only the image
/// concerned, with the URL, status and start of the body in the error; the stage's own retry
/// and resume logic takes it from there.
enum HTTPBackend {
    static func captioner(url: String) throws -> any Captioner {
        try HTTPCaptioner(spec: url)
    }

    static func generator(url: String) throws -> any Generator {
        try HTTPGenerator(spec: url)
    }
}

/// `http:` captioner: an OpenAI-compatible `chat/completions` endpoint with image input.
final class HTTPCaptioner: Captioner {
    static let defaultPrompt = "Describe this image in one detailed sentence."
    static let options = ["model", "prompt", "max_tokens", "timeout"]

    let name: String
    let version = ""
    let params: [String: String]
    let backend: String
    let model: String
    let prompt: String
    let maxTokens: Int
    private let spec: HTTPSpec
    private let client: HTTPClient
    private let endpoint: URL

    init(spec text: String) throws {
        spec = try HTTPSpec(text, role: "captioner", allowed: Self.options, available: Backends.captionerKinds)
        client = HTTPClient(timeout: try spec.seconds("timeout", default: 300), token: HTTPClient.tokenFromEnvironment())
        prompt = spec.options["prompt"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultPrompt
        maxTokens = try spec.int("max_tokens", default: 128, range: 1...100_000)
        endpoint = try spec.url("/chat/completions")
        if let model = spec.options["model"], !model.isEmpty {
            self.model = model
        } else {
            model = try Self.firstModel(spec: spec, client: client)
        }
        name = model
        params = ["prompt": prompt, "max_tokens": "\(maxTokens)", "temperature": "0"]
        backend = spec.spec
    }

    /// The first model `GET BASE_URL/models` lists (`{"data": [{"id": ...}]}`).
    static func firstModel(spec: HTTPSpec, client: HTTPClient) throws -> String {
        let url = try spec.url("/models")
        let answer: [String: Any]
        do {
            answer = try client.send(url, timeout: min(client.timeout, 30))
        } catch {
            throw PipelineError(.unavailable, "no model given in \(spec.spec) (add ?model=NAME) and the server did not list one: \(error)")
        }
        guard let data = answer["data"] as? [[String: Any]], let id = data.first?["id"] as? String, !id.isEmpty else {
            throw PipelineError(.invalidInput, "no model given in \(spec.spec) (add ?model=NAME) and GET \(url.absoluteString) lists none")
        }
        return id
    }

    func body(for input: CaptionInput) -> [String: Any] {
        let dataURL = "data:\(input.mediaType);base64,\(Data(input.bytes).base64EncodedString())"
        return [
            "model": model,
            "messages": [[
                "role": "user",
                "content": [
                    ["type": "text", "text": prompt],
                    ["type": "image_url", "image_url": ["url": dataURL]],
                ] as [[String: Any]],
            ] as [String: Any]],
            "max_tokens": maxTokens,
            "temperature": 0,
        ]
    }

    func caption(_ batch: [CaptionInput]) -> [Result<String, any Error>] {
        let pending = batch.map { client.start(endpoint, json: body(for: $0)) }
        return pending.map { request in
            Result {
                let answer = try request.wait()
                return try Self.text(of: answer, from: "POST \(endpoint.absoluteString)")
            }
        }
    }

    /// `choices[0].message.content`, trimmed (a string, or a list of `{"type": "text"}` parts).
    static func text(of answer: [String: Any], from source: String) throws -> String {
        if let error = answer["error"] {
            throw PipelineError(.unavailable, "\(source): the server answered with an error: \(error)")
        }
        guard let choices = answer["choices"] as? [[String: Any]], let first = choices.first,
              let message = first["message"] as? [String: Any] else {
            throw PipelineError(.internal, "\(source): the answer has no choices[0].message (keys: \(answer.keys.sorted().joined(separator: ", ")))")
        }
        let text: String
        if let content = message["content"] as? String {
            text = content
        } else if let parts = message["content"] as? [[String: Any]] {
            text = parts.compactMap { $0["text"] as? String }.joined(separator: " ")
        } else {
            throw PipelineError(.internal, "\(source): choices[0].message.content is missing or not text")
        }
        let tidy = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !tidy.isEmpty else { throw PipelineError(.internal, "\(source): the model returned an empty caption") }
        return tidy
    }
}

/// `http:` generator: AUTOMATIC1111's `sdapi/v1/txt2img` (also served by Forge, SD.Next and
/// several wrappers), one request per image.
final class HTTPGenerator: Generator {
    static let options = ["model", "sampler", "timeout"]

    let name: String
    let version: String
    let params: [String: String]
    let backend: String
    let sampler: String?
    private let client: HTTPClient
    private let endpoint: URL
    private let jpeg: JPEGDecoder

    init(spec text: String) throws {
        let spec = try HTTPSpec(text, role: "generator", allowed: Self.options, available: Backends.generatorKinds)
        client = HTTPClient(timeout: try spec.seconds("timeout", default: 600), token: HTTPClient.tokenFromEnvironment())
        name = spec.options["model"].flatMap { $0.isEmpty ? nil : $0 } ?? "a1111-txt2img"
        sampler = spec.options["sampler"].flatMap { $0.isEmpty ? nil : $0 }
        params = sampler.map { ["sampler": $0] } ?? [:]
        backend = spec.spec
        endpoint = try spec.url("/sdapi/v1/txt2img")
        jpeg = try JPEGDecoder()
        // Best effort: the checkpoint the server has loaded.
        let options = try? client.send(try spec.url("/sdapi/v1/options"), timeout: min(client.timeout, 10))
        version = (options?["sd_model_checkpoint"] as? String) ?? ""
    }

    func body(for request: GenerationRequest) -> [String: Any] {
        var body: [String: Any] = [
            "prompt": request.prompt, "seed": request.seed, "steps": request.steps, "cfg_scale": request.guidance,
            "width": request.width, "height": request.height, "batch_size": 1, "n_iter": 1,
        ]
        if let sampler { body["sampler_name"] = sampler }
        return body
    }

    func generate(_ batch: [GenerationRequest]) -> [Result<GeneratedImage, any Error>] {
        batch.map { request in
            Result {
                let start = ContinuousClock.now
                let answer = try client.send(endpoint, json: body(for: request))
                let (bytes, mediaType) = try image(in: answer, from: "POST \(endpoint.absoluteString)")
                return GeneratedImage(bytes: bytes, mediaType: mediaType, seconds: (ContinuousClock.now - start) / .seconds(1))
            }
        }
    }

    /// `images[0]`, base64-decoded and checked to be a PNG or JPEG whose header parses.
    func image(in answer: [String: Any], from source: String) throws -> ([UInt8], String) {
        guard let images = answer["images"] as? [Any], let first = images.first else {
            let detail = answer["error"].map { ": \($0)" } ?? answer["detail"].map { ": \($0)" }
                ?? " (keys: \(answer.keys.sorted().joined(separator: ", ")))"
            throw PipelineError(.internal, "\(source): the answer has no images\(detail)")
        }
        guard var encoded = first as? String else { throw PipelineError(.internal, "\(source): images[0] is not a base64 string") }
        if encoded.hasPrefix("data:"), let comma = encoded.firstIndex(of: ",") {
            encoded = String(encoded[encoded.index(after: comma)...])
        }
        guard let data = Data(base64Encoded: encoded, options: .ignoreUnknownCharacters), !data.isEmpty else {
            throw PipelineError(.internal, "\(source): images[0] is not valid base64")
        }
        let bytes = [UInt8](data)
        let format: ImageFormat
        do {
            format = try bytes.withUnsafeBytes { raw in
                let format = try ImageFormat.sniff(raw)
                switch format {
                case .png: _ = try PNGCodec.readHeader(raw)
                case .jpeg: _ = try jpeg.readHeader(raw)
                }
                return format
            }
        } catch {
            throw PipelineError(.internal, "\(source): images[0] is not a readable PNG or JPEG (\(bytes.count) bytes): \(error)")
        }
        return (bytes, format.mediaType)
    }
}

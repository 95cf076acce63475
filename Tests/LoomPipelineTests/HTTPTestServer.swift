import Foundation
import LoomTestSupport
import Testing

/// A fake model server for the `http:` backend tests: a Python `http.server` script (python3
/// only, no packages) on 127.0.0.1 at a port the OS picks, started with `Process` and stopped by
/// ``stop()`` (and on release).
///
/// Routes, each also under `/garbage`, `/missing` and `/slow` prefixes that answer non-JSON, a
/// JSON object without the expected fields, or after 3 seconds:
/// - `GET /v1/models`: `{"data": [{"id": "served-vlm"}]}`
/// - `POST /v1/chat/completions`: checks the body (model, text prompt, image as a `data:` URL
///   of a JPEG/PNG) and answers `caption by MODEL: N bytes, prompt=PROMPT`; 400 with the reason
///   when the body is wrong.
/// - `GET /sdapi/v1/options`: `{"sd_model_checkpoint": "fake-sd.safetensors [0123abcd]"}`
/// - `POST /sdapi/v1/txt2img`: checks the fields, answers 500 for prompts containing `FAIL_WORD`,
///   `images` = the PNG file given at start otherwise; `/notimage` answers base64 text.
/// Every POST body is appended to `requests.jsonl` (path, body).
final class HTTPTestServer {
    let directory: TemporaryDirectory
    let process: Process
    let input = Pipe()
    let port: Int
    private var stopped = false
    var base: String { "http://127.0.0.1:\(port)" }

    static let script = #"""
import base64, json, os, signal, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

directory, png_path, fail_word = sys.argv[1], sys.argv[2], sys.argv[3]
# Die with the test: on SIGTERM (possibly inherited as ignored) and when stdin closes.
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
def watch_stdin():
    sys.stdin.buffer.read()
    os._exit(0)
threading.Thread(target=watch_stdin, daemon=True).start()
with open(png_path, "rb") as f:
    PNG = base64.b64encode(f.read()).decode()
LOG = os.path.join(directory, "requests.jsonl")

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: no keep-alive state to go wrong
    def log_message(self, *args):
        pass

    def reply(self, status, payload, raw=None):
        body = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def split(self):
        path = self.path.split("?")[0]
        for mode in ("/garbage", "/missing", "/slow", "/notimage"):
            if path.startswith(mode + "/"):
                return mode[1:], path[len(mode):]
        return "", path

    def do_GET(self):
        mode, path = self.split()
        if path == "/v1/models":
            self.reply(200, {"object": "list", "data": [{"id": "served-vlm", "object": "model"}]})
        elif path == "/sdapi/v1/options":
            self.reply(200, {"sd_model_checkpoint": "fake-sd.safetensors [0123abcd]", "CLIP_stop_at_last_layers": 1})
        else:
            self.reply(404, {"detail": "Not Found"})

    def do_POST(self):
        mode, path = self.split()
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except Exception as e:
            return self.reply(400, {"error": "bad json: %s" % e})
        with open(LOG, "a") as f:
            f.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"), "body": body}) + "\n")
        if mode == "slow":
            time.sleep(3)
        if mode == "garbage":
            return self.reply(200, None, raw=b"<html>502 Bad Gateway from a proxy</html>")
        if mode == "missing":
            return self.reply(200, {"object": "nothing here"})
        if path == "/v1/chat/completions":
            return self.chat(body)
        if path == "/sdapi/v1/txt2img":
            return self.txt2img(mode, body)
        self.reply(404, {"detail": "Not Found"})

    def chat(self, body):
        try:
            model = body["model"]
            assert body["temperature"] == 0 and isinstance(body["max_tokens"], int)
            (message,) = body["messages"]
            assert message["role"] == "user"
            text = [p["text"] for p in message["content"] if p["type"] == "text"][0]
            url = [p["image_url"]["url"] for p in message["content"] if p["type"] == "image_url"][0]
            head, data = url.split(",", 1)
            assert head in ("data:image/jpeg;base64", "data:image/png;base64"), head
            image = base64.b64decode(data, validate=True)
            assert image[:3] == b"\xff\xd8\xff" or image[:8] == b"\x89PNG\r\n\x1a\n", "not an image"
        except Exception as e:
            return self.reply(400, {"error": {"message": "bad request: %r" % (e,)}})
        caption = "  caption by %s: %d bytes, prompt=%s\n" % (model, len(image), text)
        self.reply(200, {"id": "x", "object": "chat.completion", "model": model,
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": caption}}]})

    def txt2img(self, mode, body):
        try:
            assert isinstance(body["prompt"], str) and isinstance(body["seed"], int)
            assert isinstance(body["steps"], int) and isinstance(body["cfg_scale"], (int, float))
            assert isinstance(body["width"], int) and isinstance(body["height"], int) and body["batch_size"] == 1
        except Exception as e:
            return self.reply(422, {"detail": "bad request: %r" % (e,)})
        if fail_word in body["prompt"]:
            return self.reply(500, {"error": "OutOfMemoryError", "detail": "CUDA out of memory (test)"})
        image = base64.b64encode(b"just some text").decode() if mode == "notimage" else PNG
        self.reply(200, {"images": [image], "parameters": body, "info": "{}"})

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(os.path.join(directory, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(directory, "port.tmp"), os.path.join(directory, "port"))
server.serve_forever()
"""#

    init(png: [UInt8], failWord: String = "\u{1}never") throws {
        directory = try TemporaryDirectory(prefix: "loom-http-test-")
        let scriptPath = try directory.write(Self.script, to: "server.py")
        let pngPath = try directory.write(png, to: "image.png")
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", scriptPath, directory.path, pngPath, failWord]
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = input
        try process.run()
        // Wait until the server has bound its port (it writes the port file after listen()).
        let portFile = directory.appending("port")
        let deadline = Date().addingTimeInterval(10)
        var found: Int?
        while Date() < deadline, process.isRunning {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let value = Int(text) {
                found = value
                break
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        guard let found else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            throw TestServerError(message: "the test server did not start (python3 on PATH?)")
        }
        port = found
    }

    struct TestServerError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// The POSTs the server received, in order: (path, Authorization header, body).
    func requests() throws -> [(path: String, auth: String?, body: [String: Any])] {
        guard let text = try? String(contentsOfFile: directory.appending("requests.jsonl"), encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return (try #require(object["path"] as? String), object["auth"] as? String, try #require(object["body"] as? [String: Any]))
        }
    }

    /// Kills the server (SIGKILL: nothing to save) without waiting on Foundation's `Process`
    /// bookkeeping, so a stuck child cannot hang the test run; the server also exits when this
    /// process's end of its stdin closes.
    func stop() {
        guard !stopped else { return }
        stopped = true
        kill(process.processIdentifier, SIGKILL)
    }

    deinit { stop() }
}

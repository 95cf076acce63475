import Foundation
import Glibc
import LoomServer
import LoomTestSupport
import Testing

/// A store with everything the gallery shows, made through the CLI: real images, builtin:stats
/// captions, class-caption prompts and builtin:procedural images (``ServerFixture``'s pipeline),
/// a finished one-epoch experiment with its report, and a hostile caption (markup and quotes)
/// with its own prompt and image, to prove everything is escaped.
final class GalleryFixture {
    let base: ServerFixture
    let reports: String
    var experimentID = 0
    var trainID = 0
    static let hostileCaption = #"<script>alert("x")</script> & <b>bold</b> 'quoted'"#

    init() throws {
        base = try ServerFixture(classes: ["cat", "dog"], trainPerClass: 3, valPerClass: 2, pipeline: true)
        reports = base.scratch.appending("reports")
        let experiment = try base.loom(["experiment", "--dataset", "pets", "--strategies", "class-name,class-caption", "--epochs", "1",
                                        "--size", "16", "--batch", "4", "--threads", "1", "--image-size", "32", "--name", "gallery-exp",
                                        "--reports", reports, "--json"])
        let summary = try #require(try experiment.json() as? [String: Any])
        experimentID = try #require(summary["run_id"] as? Int)
        let results = try #require(summary["results"] as? [[String: Any]])
        trainID = try #require((results.first?["summary"] as? [String: Any])?["run_id"] as? Int)

        let first = try #require(try base.loom(["ls", "--dataset", "pets", "--split", "train", "--json"]).jsonLines().first as? [String: Any])
        let digest = try #require(first["digest"] as? String)
        let line = try JSONSerialization.data(withJSONObject: ["digest": digest, "caption": Self.hostileCaption])
        try base.scratch.write(Array(line) + [0x0A], to: "hostile.jsonl")
        try base.loom(["caption", "import", base.scratch.appending("hostile.jsonl"), "--dataset", "pets", "--captioner", "hostile"])
        try base.loom(["prompts", "--dataset", "pets", "--strategy", "hostile", "--template", "{class} <i>{caption}</i>", "--captioner", "hostile"])
        try base.loom(["generate", "--dataset", "pets", "--prompts", "hostile", "--backend", "builtin:procedural", "--per-prompt", "2",
                       "--seed", "0", "--size", "32x32"])
        try base.start(token: false, extra: ["--reports", reports])
    }

    /// The JSON API's answer, to compare the pages with.
    func api(_ target: String) throws -> [String: Any] {
        let reply = try base.get(target)
        guard reply.status == 200 else { throw TestFailure("\(target): \(reply)") }
        return try reply.json()
    }

    /// The first real training image with a builtin:stats caption and the hostile one (the
    /// hostile caption went onto the first `loom ls` image).
    func captionedImage() throws -> String {
        let first = try #require(try base.loom(["ls", "--dataset", "pets", "--split", "train", "--json"]).jsonLines().first as? [String: Any])
        return try #require(first["digest"] as? String)
    }

    deinit { _ = try? base.stop() }
}

/// `chromium` (Debian's package) or `$CHROMIUM`, found on PATH.
let chromiumPath: String? = {
    let environment = ProcessInfo.processInfo.environment
    if let explicit = environment["CHROMIUM"], FileManager.default.isExecutableFile(atPath: explicit) { return explicit }
    for directory in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
    }
    return nil
}()

/// Headless Chromium, one page per call.
struct Browser {
    let executable: String
    let profile: String

    /// Runs Chromium to the end with stdout in a file; kills it after `timeout` seconds.
    func run(_ arguments: [String], timeout: Double = 90) throws -> String {
        let output = profile + "-\(UUID().uuidString).out"
        FileManager.default.createFile(atPath: output, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                             "--user-data-dir=\(profile)", "--window-size=1200,900", "--hide-scrollbars"] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("chromium \(arguments) exited \(process.terminationStatus)") }
        return String(decoding: FileManager.default.contents(atPath: output) ?? Data(), as: UTF8.self)
    }

    /// The DOM after the page loaded, serialised.
    func dom(_ url: String) throws -> String { try run(["--dump-dom", url]) }

    /// A PNG of the first 1200x900 pixels.
    func screenshot(_ url: String, to path: String) throws {
        _ = try run(["--screenshot=\(path)", url])
        guard let data = FileManager.default.contents(atPath: path), data.starts(with: [0x89, 0x50, 0x4E, 0x47]) else {
            throw TestFailure("no PNG screenshot of \(url) at \(path)")
        }
    }
}

extension String {
    func occurrences(of needle: String) -> Int { components(separatedBy: needle).count - 1 }

    /// HTML-escaped as the templates escape text (`< > & " '`).
    var htmlEscaped: String {
        var out = ""
        for character in self {
            switch character {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// As a browser serialises a text node (`--dump-dom`): `& < >` escaped, quotes as they are.
    var domEscaped: String {
        replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}

extension ServerTests {
    @Test("gallery pages over HTTP: escaped, strict, errors as HTML pages, the chart served only from the report folder")
    func galleryOverHTTP() throws {
        let gallery = try GalleryFixture()
        let fixture = gallery.base

        // No template writes a value unescaped.
        for (name, text) in LoomServer.galleryTemplates {
            #expect(!text.contains("{{{") && !text.contains("{{&"), "template \(name) has an unescaped variable")
        }

        let index = try fixture.get("/")
        #expect(index.status == 200 && index.header("content-type") == "text/html; charset=utf-8")
        #expect(index.header("content-security-policy")?.contains("default-src 'none'") == true)
        #expect(index.text.contains(#"<a href="/datasets/pets">pets</a>"#), "\(index.text.prefix(3000))")

        // The hostile caption is text on the page, never markup; so is the prompt made from it.
        let digest = try gallery.captionedImage()
        let page = try fixture.get("/images/\(digest)")
        #expect(page.status == 200)
        #expect(page.text.contains(GalleryFixture.hostileCaption.htmlEscaped), "\(page.text)")
        #expect(!page.text.contains("<script>") && !page.text.contains("<b>bold") && !page.text.contains("<i>"))

        // Errors are pages too, with their status.
        let missing = try fixture.get("/datasets/nope")
        #expect(missing.status == 404 && missing.header("content-type") == "text/html; charset=utf-8")
        #expect(missing.text.contains("no dataset named &quot;nope&quot;"), "\(missing.text)")
        #expect(try fixture.get("/images/xyz").status == 400)
        #expect(try fixture.get("/runs/abc").status == 400)
        #expect(try fixture.get("/runs/99999").status == 404)
        #expect(try fixture.get("/?x=1").status == 400)
        #expect(try fixture.get("/datasets/..%2Fetc").status == 400)

        // The chart: the experiment's report.svg and nothing else; a train run has none.
        let chart = try fixture.get("/runs/\(gallery.experimentID)/chart.svg")
        #expect(chart.status == 200 && chart.header("content-type") == "image/svg+xml")
        let onDisk = try String(contentsOfFile: gallery.reports + "/gallery-exp/report.svg", encoding: .utf8)
        #expect(chart.text == onDisk)
        #expect(try fixture.get("/runs/\(gallery.trainID)/chart.svg").status == 404)
        try FileManager.default.removeItem(atPath: gallery.reports + "/gallery-exp/report.svg")
        #expect(try fixture.get("/runs/\(gallery.experimentID)/chart.svg").status == 404)
        let withoutChart = try fixture.get("/runs/\(gallery.experimentID)")
        #expect(withoutChart.status == 200 && withoutChart.text.contains(#"class="note chart-missing">No chart: the report chart is missing"#),
                "\(withoutChart.text)")
    }

    @Test("the gallery in headless Chromium: datasets, a real image's captions, prompts and synthetic images, a synthetic image's lineage, an experiment's report, a training run's epochs",
          .enabled(if: chromiumPath != nil, "chromium is not installed (Debian: apt-get install chromium); set CHROMIUM=PATH to use another"))
    func galleryInChromium() throws {
        let gallery = try GalleryFixture()
        let fixture = gallery.base
        let browser = Browser(executable: try #require(chromiumPath), profile: fixture.scratch.appending("chromium-profile"))
        let url = "http://127.0.0.1:\(fixture.port)"
        let shots = fixture.scratch.appending("screenshots")
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)

        // /: the dataset with its classes and their counts.
        let index = try browser.dom(url + "/")
        #expect(index.contains(#"<a href="/datasets/pets">pets</a>"#))
        let classes = try #require(try gallery.api("/v1/classes?dataset=pets")["classes"] as? [[String: Any]])
        for entry in classes {
            let name = try #require(entry["name"] as? String), images = try #require(entry["images"] as? Int)
            #expect(index.contains(#"\#(name) <span class="muted">\#(images)</span>"#), "class \(name) with \(images) images")
        }

        // /datasets/pets: a section per class, real thumbnails and synthetic ones.
        let dataset = try browser.dom(url + "/datasets/pets")
        #expect(dataset.occurrences(of: #"<section class="class""#) == classes.count)
        #expect(dataset.occurrences(of: #"<div class="thumbs real">"#) == classes.count)
        #expect(dataset.occurrences(of: #"<div class="thumbs synthetic">"#) == classes.count)
        #expect(dataset.occurrences(of: #"src="/v1/blobs/"#) >= 10)
        try browser.screenshot(url + "/datasets/pets", to: shots + "/dataset.png")

        // /images/{real}: the image beside its captions, each caption's prompts, each prompt's images.
        let digest = try gallery.captionedImage()
        let lineage = try gallery.api("/v1/lineage/\(digest)")
        let captions = try #require(lineage["captions"] as? [[String: Any]])
        #expect(captions.count == 2, "builtin:stats and the hostile one")
        let real = try browser.dom(url + "/images/\(digest)")
        var synthetic = 0, firstSynthetic: String? = nil
        for caption in captions {
            let text = try #require(caption["text"] as? String)
            #expect(real.contains(text.domEscaped), "caption \(text)")
            for prompt in try #require(caption["prompts"] as? [[String: Any]]) {
                #expect(real.contains(try #require(prompt["text"] as? String).domEscaped), "prompt \(prompt["text"] ?? "")")
                let images = try #require(prompt["synthetic"] as? [[String: Any]])
                synthetic += images.count
                firstSynthetic = firstSynthetic ?? images.first?["digest"] as? String
            }
        }
        #expect(synthetic >= 3)
        #expect(real.occurrences(of: "<img ") == 1 + synthetic, "the image itself and every synthetic image made from it")
        #expect(real.occurrences(of: #"<div class="caption">"#) == captions.count)
        #expect(!real.contains("<script>"), "the hostile caption stays text")
        try browser.screenshot(url + "/images/\(digest)", to: shots + "/image.png")

        // /images/{synthetic}: its prompt, its caption, its real source.
        let fake = try #require(firstSynthetic)
        let fakeLineage = try gallery.api("/v1/lineage/\(fake)")
        let fakePage = try browser.dom(url + "/images/\(fake)")
        let prompt = try #require((fakeLineage["prompt"] as? [String: Any])?["text"] as? String)
        let caption = try #require((fakeLineage["caption"] as? [String: Any])?["text"] as? String)
        #expect(fakePage.contains(#"<td class="prompt-text">\#(prompt.domEscaped)</td>"#), "\(fakePage)")
        #expect(fakePage.contains(caption.domEscaped))
        #expect(fakePage.contains(#"<a href="/images/\#(digest)""#), "a link to the real source")

        // /runs: one row per run.
        let runs = try browser.dom(url + "/runs")
        let runCount = try #require((try gallery.api("/v1/sql?q=SELECT%20count(*)%20AS%20n%20FROM%20runs")["rows"] as? [[String: Any]])?.first?["n"] as? Int)
        #expect(runs.occurrences(of: #"<tr><td class="num"><a href="/runs/"#) == runCount)

        // /runs/{experiment}: the models table, the chart, per-class accuracy.
        let experiment = try browser.dom(url + "/runs/\(gallery.experimentID)")
        #expect(experiment.occurrences(of: #"<tr class="model">"#) == 2)
        #expect(experiment.contains("<td>class-name</td>") && experiment.contains("<td>class-caption</td>"))
        #expect(experiment.contains(#"<img class="chart" src="/runs/\#(gallery.experimentID)/chart.svg""#))
        #expect(experiment.occurrences(of: "<tr><td>cat</td>") == 1 && experiment.occurrences(of: "<tr><td>dog</td>") == 1)
        try browser.screenshot(url + "/runs/\(gallery.experimentID)", to: shots + "/experiment.png")

        // /runs/{train}: its epochs.
        let train = try browser.dom(url + "/runs/\(gallery.trainID)")
        #expect(train.occurrences(of: #"<tr class="epoch">"#) == 1)
        #expect(train.contains(#"part of <a href="/runs/\#(gallery.experimentID)">"#))

        // Screenshots for people: $LOOM_GALLERY_SCREENSHOTS keeps them past the scratch directory.
        if let keep = ProcessInfo.processInfo.environment["LOOM_GALLERY_SCREENSHOTS"], !keep.isEmpty {
            try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
            for name in ["dataset.png", "image.png", "experiment.png"] {
                let target = keep + "/" + name
                try? FileManager.default.removeItem(atPath: target)
                try FileManager.default.copyItem(atPath: shots + "/" + name, toPath: target)
            }
        }
    }
}

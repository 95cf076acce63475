import Mustache

/// The gallery's Mustache templates, compiled into the binary: `loom serve` needs no files at
/// run time.
///
/// Every value is written with `{{name}}`, which HTML-escapes `< > & " '`; no template uses the
/// unescaped forms (`{{{name}}}`, `{{&name}}`), and a test keeps it that way. Pages inherit the
/// layout (`{{<layout}}` with `{{$title}}` and `{{$body}}` blocks), so no rendered HTML is ever
/// passed through a variable either. URLs in attributes are built in Swift from hex digests,
/// numbers and percent-encoded names.
enum GalleryTemplates {
    static let layout = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{$title}}Loom{{/title}} · Loom</title>
        <style>
        :root { --ink: #1d2330; --muted: #667085; --line: #e4e7ec; --soft: #f6f7f9; --accent: #3056d3; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #fff; }
        header { display: flex; gap: 24px; align-items: baseline; padding: 12px 28px; border-bottom: 1px solid var(--line); background: var(--soft); }
        header .brand { font-weight: 700; font-size: 18px; color: var(--ink); }
        header nav a { margin-right: 16px; }
        main { padding: 20px 28px 48px; max-width: 1200px; }
        a { color: var(--accent); text-decoration: none; }
        a:hover { text-decoration: underline; }
        h1 { font-size: 22px; margin: 4px 0 12px; }
        h2 { font-size: 18px; margin: 28px 0 8px; }
        h3 { font-size: 15px; margin: 18px 0 6px; }
        .muted { color: var(--muted); }
        .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 13px; word-break: break-all; }
        table { border-collapse: collapse; margin: 8px 0 16px; }
        th, td { border-bottom: 1px solid var(--line); padding: 5px 12px 5px 0; text-align: left; vertical-align: top; }
        th { font-weight: 600; color: var(--muted); font-size: 13px; }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 16px; }
        .card { border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
        .pill { display: inline-block; background: var(--soft); border: 1px solid var(--line); border-radius: 999px; padding: 1px 9px; margin: 2px 4px 2px 0; font-size: 13px; }
        .thumbs { display: flex; flex-wrap: wrap; gap: 6px; margin: 6px 0; }
        .thumbs img { width: 88px; height: 88px; object-fit: cover; border-radius: 4px; border: 1px solid var(--line); image-rendering: pixelated; background: var(--soft); }
        .thumbs .kind { writing-mode: vertical-rl; transform: rotate(180deg); font-size: 11px; color: var(--muted); text-align: center; }
        .hero { display: flex; gap: 28px; align-items: flex-start; flex-wrap: wrap; }
        .hero > img { width: 320px; max-width: 100%; border-radius: 6px; border: 1px solid var(--line); image-rendering: pixelated; }
        .caption { border-left: 3px solid var(--accent); padding: 4px 0 4px 14px; margin: 14px 0; }
        .caption .text { font-size: 16px; }
        .prompt { margin: 10px 0 10px 8px; }
        .prompt .text { font-style: italic; }
        .chart { max-width: 100%; border: 1px solid var(--line); border-radius: 6px; }
        .note { background: #fff8e6; border: 1px solid #f5d78e; border-radius: 6px; padding: 8px 12px; }
        pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 10px; overflow-x: auto; font-size: 12px; }
        </style>
        </head>
        <body>
        <header><a class="brand" href="/">Loom</a><nav><a href="/">Datasets</a><a href="/runs">Runs</a><a href="/v1/openapi.yaml">API</a></nav></header>
        <main>
        {{$body}}{{/body}}
        </main>
        </body>
        </html>
        """#

    static let index = #"""
        {{<layout}}{{$title}}Datasets{{/title}}{{$body}}
        <h1>Datasets</h1>
        {{^datasets}}<p class="muted">The store has no datasets yet: <span class="mono">loom ingest ROOT --dataset NAME</span>.</p>{{/datasets}}
        <div class="cards">
        {{#datasets}}
        <section class="card dataset">
          <h2><a href="{{href}}">{{name}}</a></h2>
          <p>{{images}} images in {{classCount}} classes · {{splits}}<br>
          <span class="muted">{{captions}} captions · {{prompts}} prompts · {{synthetic}} synthetic images</span></p>
          <div>{{#classes}}<a class="pill" href="{{href}}">{{name}} <span class="muted">{{images}}</span></a>{{/classes}}</div>
        </section>
        {{/datasets}}
        </div>
        <p class="muted"><a href="/runs">{{runCount}} runs</a> (ingests, captions, generations, trainings, experiments).</p>
        {{/body}}{{/layout}}
        """#

    static let dataset = #"""
        {{<layout}}{{$title}}{{name}}{{/title}}{{$body}}
        <h1>{{name}}</h1>
        <p>{{images}} images in {{classCount}} classes · {{splits}} · <span class="muted">{{captions}} captions · {{prompts}} prompts · {{synthetic}} synthetic images</span></p>
        {{#classes}}
        <section class="class" id="{{anchor}}">
          <h2>{{name}} <span class="muted">· label {{label}} · {{images}} real, {{syntheticCount}} synthetic</span></h2>
          <div class="thumbs real"><span class="kind">real</span>{{#real}}<a href="{{href}}" title="{{title}}"><img src="{{src}}" alt="{{title}}" loading="lazy"></a>{{/real}}</div>
          {{#hasSynthetic}}<div class="thumbs synthetic"><span class="kind">synthetic</span>{{#synthetic}}<a href="{{href}}" title="{{title}}"><img src="{{src}}" alt="{{title}}" loading="lazy"></a>{{/synthetic}}</div>{{/hasSynthetic}}
        </section>
        {{/classes}}
        {{/body}}{{/layout}}
        """#

    static let image = #"""
        {{<layout}}{{$title}}{{kind}} image {{short}}{{/title}}{{$body}}
        <h1>{{kind}} image <span class="mono">{{short}}</span></h1>
        <div class="hero">
          <img src="{{src}}" alt="image {{digest}}">
          <div>
            <p class="mono">{{digest}}</p>
            {{#real}}
            <table>
              <tr><th>dataset</th><th>split</th><th>class</th><th>path</th></tr>
              {{#rows}}<tr><td><a href="{{datasetHref}}">{{dataset}}</a></td><td>{{split}}</td><td><a href="{{classHref}}">{{className}}</a></td><td class="mono">{{path}}</td></tr>{{/rows}}
            </table>
            {{/real}}
            {{#synthetic}}
            <table class="facts">
              <tr><th>prompt</th><td class="prompt-text">{{prompt}}</td></tr>
              <tr><th>strategy</th><td>{{strategy}} <span class="muted mono">{{template}}</span></td></tr>
              {{#fullText}}<tr><th>uncut prompt</th><td>{{fullText}}</td></tr>{{/fullText}}
              <tr><th>caption</th><td class="caption-text">{{#caption}}{{caption}} <span class="muted">({{captioner}})</span>{{/caption}}{{^caption}}<span class="muted">none: a class-level prompt</span>{{/caption}}</td></tr>
              <tr><th>class</th><td><a href="{{classHref}}">{{className}}</a> · <a href="{{datasetHref}}">{{dataset}}</a></td></tr>
              <tr><th>generator</th><td>{{generator}} · seed {{seed}} · {{steps}} steps · guidance {{guidance}} · {{size}}</td></tr>
            </table>
            {{/synthetic}}
          </div>
        </div>
        {{#synthetic}}{{#source}}
        <h2>Real source</h2>
        <div class="thumbs source"><a href="{{href}}" title="{{title}}"><img src="{{src}}" alt="{{title}}"></a></div>
        <p class="mono">{{title}}</p>
        {{/source}}{{/synthetic}}
        {{#real}}
        <h2>Captions, their prompts, and the images made from them</h2>
        {{^captions}}<p class="muted">No captions yet: <span class="mono">loom caption --dataset D</span>.</p>{{/captions}}
        {{#captions}}
        <div class="caption">
          <div class="text caption-text">{{text}}</div>
          <div class="muted">{{captioner}}</div>
          {{^prompts}}<p class="muted">No prompts from this caption yet.</p>{{/prompts}}
          {{#prompts}}
          <div class="prompt">
            <div><span class="pill">{{strategy}}</span> <span class="text prompt-text">{{text}}</span> <span class="muted">· {{count}} images</span></div>
            <div class="thumbs synthetic">{{#images}}<a href="{{href}}" title="{{title}}"><img src="{{src}}" alt="{{title}}" loading="lazy"></a>{{/images}}</div>
          </div>
          {{/prompts}}
        </div>
        {{/captions}}
        {{/real}}
        {{/body}}{{/layout}}
        """#

    static let runs = #"""
        {{<layout}}{{$title}}Runs{{/title}}{{$body}}
        <h1>Runs</h1>
        {{^runs}}<p class="muted">No runs yet.</p>{{/runs}}
        <table class="runs">
          <tr><th class="num">id</th><th>stage</th><th>name</th><th>dataset</th><th>status</th><th>started</th><th>finished</th><th class="num">parent</th></tr>
          {{#runs}}<tr><td class="num"><a href="{{href}}">{{id}}</a></td><td>{{stage}}</td><td>{{name}}</td><td>{{dataset}}</td><td>{{status}}</td><td class="muted">{{started}}</td><td class="muted">{{finished}}</td><td class="num">{{#parentHref}}<a href="{{parentHref}}">{{parent}}</a>{{/parentHref}}</td></tr>{{/runs}}
        </table>
        {{#truncated}}<p class="muted">The newest {{limit}} runs; <a href="/v1/runs">/v1/runs</a> pages through all.</p>{{/truncated}}
        {{/body}}{{/layout}}
        """#

    static let run = #"""
        {{<layout}}{{$title}}Run {{id}}{{/title}}{{$body}}
        <h1>Run {{id}}: {{stage}}{{#name}} <span class="muted">{{name}}</span>{{/name}}</h1>
        <p>{{status}} · {{dataset}} · started {{started}}{{#finished}} · finished {{finished}}{{/finished}}{{#parentHref}} · part of <a href="{{parentHref}}">run {{parent}}</a>{{/parentHref}}</p>
        {{#experiment}}
        <h2>Models</h2>
        {{#builtin}}<p class="note">Built-in offline stand-ins (<span class="mono">{{captioner}}</span>, <span class="mono">{{generator}}</span>), not BLIP-2 and Stable Diffusion: these numbers test the pipeline, not the paper's claim.</p>{{/builtin}}
        <table class="models">
          <tr><th>strategy</th><th>selection</th><th class="num">train images</th><th class="num">epochs</th><th class="num">top-1 %</th><th class="num">top-5 %</th><th class="num">time s</th><th class="num">run</th></tr>
          {{#models}}<tr class="model"><td>{{label}}</td><td class="mono">{{selection}}</td><td class="num">{{trainImages}}</td><td class="num">{{epochs}}</td><td class="num">{{top1}}</td><td class="num">{{top5}}</td><td class="num">{{seconds}}</td><td class="num"><a href="{{runHref}}">{{runID}}</a></td></tr>{{/models}}
        </table>
        <h2>Chart</h2>
        {{#chartHref}}<img class="chart" src="{{chartHref}}" alt="accuracy per model and eval top-1 per epoch">{{/chartHref}}
        {{#chartMissing}}<p class="note chart-missing">No chart: {{chartMissing}}</p>{{/chartMissing}}
        <h2>Per-class accuracy (top-1 %)</h2>
        <table class="per-class">
          <tr><th>class</th>{{#modelNames}}<th class="num">{{.}}</th>{{/modelNames}}</tr>
          {{#perClass}}<tr><td>{{name}}</td>{{#cells}}<td class="num">{{.}}</td>{{/cells}}</tr>{{/perClass}}
        </table>
        {{/experiment}}
        {{#train}}
        <h2>Epochs</h2>
        <table class="epochs">
          <tr><th class="num">epoch</th><th class="num">loss</th><th class="num">train top-1 %</th><th class="num">eval top-1 %</th><th class="num">eval top-5 %</th><th class="num">img/s</th><th class="num">s</th></tr>
          {{#epochs}}<tr class="epoch"><td class="num">{{epoch}}</td><td class="num">{{loss}}</td><td class="num">{{trainTop1}}</td><td class="num">{{evalTop1}}</td><td class="num">{{evalTop5}}</td><td class="num">{{imagesPerS}}</td><td class="num">{{seconds}}</td></tr>{{/epochs}}
        </table>
        {{^epochs}}<p class="muted">No finished epoch.</p>{{/epochs}}
        {{#hasClasses}}
        <h2>Per-class accuracy (final evaluation)</h2>
        <table class="per-class">
          <tr><th>class</th><th class="num">correct</th><th class="num">total</th><th class="num">top-1 %</th></tr>
          {{#classes}}<tr><td>{{name}}</td><td class="num">{{correct}}</td><td class="num">{{total}}</td><td class="num">{{accuracy}}</td></tr>{{/classes}}
        </table>
        {{/hasClasses}}
        {{#hasCheckpoints}}
        <h2>Checkpoints</h2>
        <table>
          <tr><th class="num">epoch</th><th>blob</th><th>cursor</th><th>created</th></tr>
          {{#checkpoints}}<tr><td class="num">{{epoch}}</td><td class="mono">{{digest}}</td><td class="mono">{{cursor}}</td><td class="muted">{{created}}</td></tr>{{/checkpoints}}
        </table>
        {{/hasCheckpoints}}
        {{/train}}
        {{#hasChildren}}<p>Runs of this one: {{#children}}<a href="{{href}}">{{id}}</a> {{/children}}</p>{{/hasChildren}}
        <h2>Config</h2>
        <pre>{{config}}</pre>
        <h2>Summary</h2>
        <pre>{{summary}}</pre>
        {{/body}}{{/layout}}
        """#

    static let error = #"""
        {{<layout}}{{$title}}{{status}}{{/title}}{{$body}}
        <h1>{{status}}</h1>
        <p class="error">{{message}}</p>
        <p><a href="/">Datasets</a> · <a href="/runs">Runs</a></p>
        {{/body}}{{/layout}}
        """#

    /// Every template by name (the pages' names are what ``GalleryRoutes`` renders).
    static let all: [String: String] = [
        "layout": layout, "index": index, "dataset": dataset, "image": image, "runs": runs, "run": run, "error": error,
    ]

    /// The compiled library. The templates are constants of this file: a parse error is a bug
    /// that the gallery test catches at once.
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in all {
            do {
                try library.register(text, named: name)
            } catch {
                fatalError("gallery template \(name) does not parse: \(error)")
            }
        }
        return library
    }()
}

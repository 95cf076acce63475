-- Loom catalog, migration 3: the caption -> prompt -> generate pipeline and its provenance.
-- Every row says where it came from: a caption names its real image and its captioner, a prompt
-- its class, strategy and (for caption strategies) its caption, a synthetic image its prompt,
-- generator, seed and sampling settings, so any image can be traced and regenerated.

-- A captioner is its name plus the parameters that change its output.
CREATE TABLE captioners (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    params     TEXT NOT NULL DEFAULT '{}',            -- JSON, keys sorted
    backend    TEXT NOT NULL,                          -- builtin:... | process:... | http:... | import
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (name, params)
);

CREATE TABLE captions (
    id            INTEGER PRIMARY KEY,
    real_image_id INTEGER NOT NULL REFERENCES real_images(id) ON DELETE CASCADE,
    captioner_id  INTEGER NOT NULL REFERENCES captioners(id),
    text          TEXT    NOT NULL,
    seconds       REAL,                                -- time the model took, when known
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (real_image_id, captioner_id)
);
CREATE INDEX captions_by_captioner ON captions(captioner_id);

-- One prompt per (strategy, template, class, caption). `text` is what the generator receives,
-- cut to the text encoder's limit; `full_text` keeps the uncut text when a cut happened.
CREATE TABLE prompts (
    id          INTEGER PRIMARY KEY,
    dataset_id  INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    class_id    INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    caption_id  INTEGER REFERENCES captions(id) ON DELETE CASCADE,
    strategy    TEXT    NOT NULL,
    template    TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    tokens      INTEGER NOT NULL,                      -- length of `text` in the counting rule below
    token_rule  TEXT    NOT NULL,                      -- how tokens were counted (e.g. clip-words-v1)
    truncated   INTEGER NOT NULL DEFAULT 0,
    full_text   TEXT,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE UNIQUE INDEX prompts_unique ON prompts(strategy, template, class_id, coalesce(caption_id, 0));
CREATE INDEX prompts_by_dataset ON prompts(dataset_id, strategy);
CREATE INDEX prompts_by_caption ON prompts(caption_id);      -- lineage of a real image; caption deletes

CREATE TABLE generators (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    version    TEXT NOT NULL DEFAULT '',
    params     TEXT NOT NULL DEFAULT '{}',
    backend    TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (name, version, params)
);

CREATE TABLE synthetic_images (
    id           INTEGER PRIMARY KEY,
    blob_id      INTEGER NOT NULL REFERENCES blobs(id),
    prompt_id    INTEGER NOT NULL REFERENCES prompts(id) ON DELETE CASCADE,
    generator_id INTEGER NOT NULL REFERENCES generators(id),
    seed         INTEGER NOT NULL,
    steps        INTEGER NOT NULL,
    guidance     REAL    NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    params       TEXT    NOT NULL DEFAULT '{}',
    seconds      REAL,
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (prompt_id, generator_id, seed, steps, guidance, width, height)
);
CREATE INDEX synthetic_by_blob ON synthetic_images(blob_id);

-- A plan of jobs per run, so a killed stage resumes with the missing jobs only.
CREATE TABLE jobs (
    id       INTEGER PRIMARY KEY,
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key      TEXT    NOT NULL,                          -- what the job makes, e.g. prompt:seed
    state    TEXT    NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error    TEXT,
    UNIQUE (run_id, key)
);

DROP VIEW v_blob_roots;
CREATE VIEW v_blob_roots AS
    SELECT blob_id FROM real_images
    UNION ALL
    SELECT blob_id FROM synthetic_images;

-- Which caption produced which synthetic image, and from which real image: one row per synthetic
-- image. `loom lineage` and `loom synthetic` read it too, so this is the one place these joins live.
CREATE VIEW v_lineage AS
    SELECT s.id AS synthetic_id, s.blob_id, lower(hex(sb.digest)) AS digest,
           s.prompt_id, p.strategy, p.template, p.text AS prompt, p.truncated, p.full_text,
           c.text AS caption, cr.name AS captioner,
           nullif(lower(hex(rb.digest)), '') AS real_digest, r.path AS real_path, sp.name AS real_split,
           cl.wnid AS class, cl.label, cl.name AS class_name, cl.prompt_name AS class_prompt_name, d.name AS dataset,
           g.name AS generator, g.version AS generator_version,
           s.seed, s.steps, s.guidance, s.width, s.height
    FROM synthetic_images s
    JOIN blobs sb ON sb.id = s.blob_id
    JOIN prompts p ON p.id = s.prompt_id
    JOIN classes cl ON cl.id = p.class_id
    JOIN datasets d ON d.id = p.dataset_id
    JOIN generators g ON g.id = s.generator_id
    LEFT JOIN captions c ON c.id = p.caption_id
    LEFT JOIN captioners cr ON cr.id = c.captioner_id
    LEFT JOIN real_images r ON r.id = c.real_image_id
    LEFT JOIN splits sp ON sp.id = r.split_id
    LEFT JOIN blobs rb ON rb.id = r.blob_id;

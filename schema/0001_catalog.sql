-- Loom catalog, migration 1: shards and blobs, datasets and their real images, runs.
-- The catalog is the only source of truth for what exists; shard bytes that no row points at
-- are garbage (left by a crash or by deletes) and `loom gc` reclaims them.
-- SQL here stays portable where that costs nothing (a PostgreSQL catalog is a later step).

CREATE TABLE shards (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a reader may still hold a removed shard open
    name            TEXT    NOT NULL UNIQUE,          -- file name under shards/
    format_version  INTEGER NOT NULL,
    committed_bytes INTEGER NOT NULL,                 -- end of the last committed record
    sealed_bytes    INTEGER,                          -- file size with index + trailer; NULL while open
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE blobs (
    id          INTEGER PRIMARY KEY,
    digest      BLOB    NOT NULL UNIQUE CHECK (length(digest) = 32),  -- SHA-256 of the original bytes
    shard_id    INTEGER NOT NULL REFERENCES shards(id),
    offset      INTEGER NOT NULL,                     -- of the record header in the shard
    stored_size INTEGER NOT NULL,                     -- payload bytes in the shard
    raw_size    INTEGER NOT NULL,                     -- original bytes
    codec       TEXT    NOT NULL CHECK (codec IN ('raw', 'lz4')),
    media_type  TEXT    NOT NULL,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX blobs_by_location ON blobs(shard_id, offset);

CREATE TABLE datasets (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE splits (
    id         INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    UNIQUE (dataset_id, name)
);

-- Labels are dense per dataset, assigned in sorted folder-name order (torchvision's rule).
CREATE TABLE classes (
    id          INTEGER PRIMARY KEY,
    dataset_id  INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    label       INTEGER NOT NULL,
    wnid        TEXT    NOT NULL,                     -- the folder name (an ImageNet wnid or any id)
    name        TEXT    NOT NULL,                     -- display name ("tench, Tinca tinca")
    prompt_name TEXT    NOT NULL,                     -- name used in prompts ("tench")
    UNIQUE (dataset_id, wnid),
    UNIQUE (dataset_id, label)
);

CREATE TABLE real_images (
    id            INTEGER PRIMARY KEY,
    split_id      INTEGER NOT NULL REFERENCES splits(id) ON DELETE CASCADE,
    class_id      INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    blob_id       INTEGER NOT NULL REFERENCES blobs(id),
    path          TEXT    NOT NULL,                   -- relative to the ingest root, '/'-separated
    name          TEXT    NOT NULL,                   -- relative to the class folder (export keeps it)
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    format        TEXT    NOT NULL,                   -- jpeg | png
    color_space   TEXT    NOT NULL,                   -- gray | rgb | cmyk | gray-alpha | rgba
    file_size     INTEGER NOT NULL,
    file_mtime_ns INTEGER NOT NULL,                   -- with file_size: skip unchanged files on re-ingest
    UNIQUE (split_id, path)
);
CREATE INDEX real_images_by_blob ON real_images(blob_id);
CREATE INDEX real_images_by_class ON real_images(class_id);

-- One row per run of a stage (ingest now; caption, generate, train later).
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    stage       TEXT NOT NULL,
    dataset_id  INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
    config      TEXT NOT NULL,                        -- JSON
    status      TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
    summary     TEXT,                                 -- JSON
    started_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at TEXT
);

-- Every column that keeps a blob alive. Later migrations that add such columns recreate it;
-- `loom gc` deletes the blobs that appear nowhere here.
CREATE VIEW v_blob_refs AS
    SELECT blob_id FROM real_images;

-- Real images with their names resolved, for `loom sql` and people.
CREATE VIEW v_real_images AS
    SELECT r.id, d.name AS dataset, s.name AS split, c.label, c.wnid AS class, c.name AS class_name,
           lower(hex(b.digest)) AS digest, r.path, r.width, r.height, r.format, b.raw_size AS bytes
    FROM real_images r
    JOIN splits s ON s.id = r.split_id
    JOIN datasets d ON d.id = s.dataset_id
    JOIN classes c ON c.id = r.class_id
    JOIN blobs b ON b.id = r.blob_id;

-- Training: a `runs` row with stage 'train' per trained model, 'experiment' per experiment.
-- A train run's config (JSON) holds the model, selections, hyper-parameters and seed; its
-- summary the final metrics. An experiment's train runs point at it through parent_id.
ALTER TABLE runs ADD COLUMN parent_id INTEGER REFERENCES runs(id) ON DELETE SET NULL;
CREATE INDEX runs_by_parent ON runs(parent_id);

-- One row per finished epoch: what `loom train --json` prints.
CREATE TABLE train_epochs (
    run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch        INTEGER NOT NULL,                       -- 1-based: the epoch just finished
    loss         REAL    NOT NULL,                       -- mean training loss over the epoch
    train_top1   REAL    NOT NULL,                       -- fraction, on the augmented training batches
    eval_top1    REAL,                                   -- fraction, on the eval selection (NULL: no eval)
    eval_top5    REAL,
    images_per_s REAL    NOT NULL,                       -- training images per second of the epoch
    seconds      REAL    NOT NULL,
    PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;

-- The model, optimizer and loader cursor after an epoch, as one blob (docs/checkpoint-format.md).
CREATE TABLE checkpoints (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch      INTEGER NOT NULL,                         -- epochs completed
    blob_id    INTEGER NOT NULL REFERENCES blobs(id),
    cursor     TEXT    NOT NULL,                         -- the loader's resume token for the next epoch
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (run_id, epoch)
);

-- Exactly which images a run trained on (real or synthetic): with v_lineage this answers which
-- prompts and captions a model saw. A weighted mixture lists each image once. A run does not keep
-- its images alive: once their dataset is removed and `loom gc` drops the blobs, the rows go too
-- (the run's config still holds the count and digest of its sample set).
CREATE TABLE run_samples (
    run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    blob_id INTEGER NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
    label   INTEGER NOT NULL,
    PRIMARY KEY (run_id, blob_id)
) WITHOUT ROWID;
CREATE INDEX run_samples_by_blob ON run_samples(blob_id);

-- Per-class accuracy of a run's final evaluation.
CREATE TABLE eval_classes (
    run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    label   INTEGER NOT NULL,
    correct INTEGER NOT NULL,
    total   INTEGER NOT NULL,
    PRIMARY KEY (run_id, label)
) WITHOUT ROWID;

DROP VIEW v_blob_roots;
CREATE VIEW v_blob_roots AS
    SELECT blob_id FROM real_images
    UNION ALL
    SELECT blob_id FROM synthetic_images
    UNION ALL
    SELECT blob_id FROM checkpoints;

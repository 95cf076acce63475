-- Loom catalog, migration 2: the pixel cache.
-- A cached sample is the evaluation transform's resized image (short side `short_side`, before
-- the centre crop), raw RGB8, stored as a blob (LZ4 when it pays). The loader uses it instead of
-- decoding the JPEG; evaluation pixels from the cache are bit-identical to a fresh decode.

CREATE TABLE pixel_cache (
    blob_id       INTEGER NOT NULL REFERENCES blobs(id),   -- the encoded original
    short_side    INTEGER NOT NULL,
    cache_blob_id INTEGER NOT NULL REFERENCES blobs(id),   -- RGB8 pixels, width * height * 3 bytes
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    PRIMARY KEY (blob_id, short_side)
);
CREATE INDEX pixel_cache_by_cache_blob ON pixel_cache(cache_blob_id);

-- Blobs that are data in their own right; everything else that keeps a blob alive derives from them.
CREATE VIEW v_blob_roots AS
    SELECT blob_id FROM real_images;

DROP VIEW v_blob_refs;
CREATE VIEW v_blob_refs AS
    SELECT blob_id FROM v_blob_roots
    UNION ALL
    SELECT cache_blob_id FROM pixel_cache WHERE blob_id IN (SELECT blob_id FROM v_blob_roots);

-- Loom catalog on PostgreSQL, migration 2: the pixel cache (schema/0002_pixel_cache.sql).

CREATE TABLE pixel_cache (
    blob_id       BIGINT NOT NULL REFERENCES blobs(id),
    short_side    BIGINT NOT NULL,
    cache_blob_id BIGINT NOT NULL REFERENCES blobs(id),
    width         BIGINT NOT NULL,
    height        BIGINT NOT NULL,
    PRIMARY KEY (blob_id, short_side)
);
CREATE INDEX pixel_cache_by_cache_blob ON pixel_cache(cache_blob_id);

CREATE VIEW v_blob_roots AS
    SELECT blob_id FROM real_images;

DROP VIEW v_blob_refs;
CREATE VIEW v_blob_refs AS
    SELECT blob_id FROM v_blob_roots
    UNION ALL
    SELECT cache_blob_id FROM pixel_cache WHERE blob_id IN (SELECT blob_id FROM v_blob_roots);

-- Catalog token: a value every write to the tables a loader's sample table is read from
-- changes, so a sample table saved beside the store (Sources/LoomLoader/SampleTableFile.swift)
-- knows it is current without reading those rows again. Triggers, not the application, change
-- it: a write by any program, the sqlite3 shell included, counts. A random value, not a counter:
-- a catalog restored from a backup and written again cannot come back to a token a saved table
-- holds. Runs, jobs and training records are left out, so training does not make tables stale.
CREATE TABLE catalog_token (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    token INTEGER NOT NULL
);
INSERT INTO catalog_token (id, token) VALUES (1, random());

CREATE TRIGGER real_images_insert_token AFTER INSERT ON real_images BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER real_images_update_token AFTER UPDATE ON real_images BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER real_images_delete_token AFTER DELETE ON real_images BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER synthetic_images_insert_token AFTER INSERT ON synthetic_images BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER synthetic_images_update_token AFTER UPDATE ON synthetic_images BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER synthetic_images_delete_token AFTER DELETE ON synthetic_images BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER prompts_insert_token AFTER INSERT ON prompts BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER prompts_update_token AFTER UPDATE ON prompts BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER prompts_delete_token AFTER DELETE ON prompts BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER blobs_insert_token AFTER INSERT ON blobs BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER blobs_update_token AFTER UPDATE ON blobs BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER blobs_delete_token AFTER DELETE ON blobs BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER pixel_cache_insert_token AFTER INSERT ON pixel_cache BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER pixel_cache_update_token AFTER UPDATE ON pixel_cache BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER pixel_cache_delete_token AFTER DELETE ON pixel_cache BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER classes_insert_token AFTER INSERT ON classes BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER classes_update_token AFTER UPDATE ON classes BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER classes_delete_token AFTER DELETE ON classes BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER splits_insert_token AFTER INSERT ON splits BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER splits_update_token AFTER UPDATE ON splits BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER splits_delete_token AFTER DELETE ON splits BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER datasets_insert_token AFTER INSERT ON datasets BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER datasets_update_token AFTER UPDATE ON datasets BEGIN UPDATE catalog_token SET token = random(); END;
CREATE TRIGGER datasets_delete_token AFTER DELETE ON datasets BEGIN UPDATE catalog_token SET token = random(); END;

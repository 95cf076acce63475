-- Loom catalog on PostgreSQL, migration 5: job leases (schema/0005_job_leases.sql). Claims take
-- pending jobs whose lease is missing or past with SELECT ... FOR UPDATE SKIP LOCKED, so workers
-- never wait on each other's claims; the partial index keeps the scan to a run's pending jobs.
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at DOUBLE PRECISION;
CREATE INDEX jobs_pending ON jobs(run_id, id) WHERE state = 'pending';

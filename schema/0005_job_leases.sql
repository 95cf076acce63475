-- Job leases. On a fleet store (schema/postgres/0005_job_leases.sql) any number of workers claim
-- a run's pending jobs a few at a time: a claim sets lease_owner (the writer) and
-- lease_expires_at (seconds since 1970 on the catalog's clock), the owner renews it while it
-- lives, and a job whose lease has run out is claimable again. The embedded store has one writer
-- at a time, so a lease left by a killed writer never holds a job back there: claims ignore them.
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at REAL;

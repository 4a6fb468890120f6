-- Fencing for job runs (issue 16). Every claim of a job takes the next `fence` value; a run carries the
-- value it claimed with, and every write it makes checks that the job is still running under that
-- value. A run whose lease expired (and whose job another worker claimed) can then no longer write.
ALTER TABLE management.jobs ADD COLUMN fence bigint NOT NULL DEFAULT 0;

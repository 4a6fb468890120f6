-- The token is not coming back: nothing to restore.
SELECT 1;

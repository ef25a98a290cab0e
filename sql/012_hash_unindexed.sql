-- 012: no unique index on transactions.hash.
--
-- Nothing looks a record up by its hash, and the uniqueness it enforced
-- follows from the primary key: a record's hash covers its id (RECORD.md,
-- field 4), so two records with one hash would need one id or a SHA-256
-- collision. lcbctl verify recomputes every hash and its chain link; a
-- fork of a chain is refused by UNIQUE (chain_account_id, chain_seq).
-- The index cost a page of a random place in an index that outgrows the
-- buffer cache as the ledger grows: at a few hundred thousand
-- transactions it was the index read in most often per posting
-- (bench/throughput with PROFILE=1; docs/performance.md).

ALTER TABLE transactions DROP CONSTRAINT transactions_hash_key;

-- 009: a commit group's deposits prepared by a few statements over the
-- whole group, instead of a chain of plpgsql calls per posting.
--
-- lcbd prepared a group with one statement that called
-- lcb_prepare_terminal_outcome (007) or lcb_prepare_deposit (008) once per
-- member: four nested plpgsql calls and about twelve statements a posting,
-- each with its own executor start-up, which was a third of PostgreSQL's CPU
-- per posting (docs/performance.md, "Where the time goes").
-- lcb_prepare_deposits answers exactly what those answer for each member, in
-- the same order of checks, with three statements per group (a fourth when
-- a terminal's outcome is refused for good):
--   1. every check that needs no lock (the terminal's number, the first
--      replay check, the card or learner, the course or certificate);
--   2. the learners' chains locked, in the members' order (lcbd's lock
--      order, as before);
--   3. under the locks, with a snapshot taken after them: the replay check
--      again, the course not yet credited, the recognition rule, the amount;
--   4. a terminal's final refusals kept (007).
-- Members do not see each other here, as they did not before: a group never
-- holds two postings to one chain, and one that names a learner twice (by
-- card and by id) fails lcb_append_many and is retried member by member.
-- Two members under one idempotency key could see each other through 007's
-- refusals table, so such a group is prepared member by member, as before.
-- Both functions of a group keep one generic plan per session (below).

-- The refusals of a terminal's outcome that are final (SPEC.md 7.4), kept
-- so that a replay gets them again: 007's list.
CREATE FUNCTION lcb_outcome_refused_for_good(p_code text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_code IN ('card_not_found', 'card_lost', 'card_replaced', 'card_cancelled',
                      'course_not_found', 'course_not_owned')
$$;

CREATE FUNCTION lcb_prepare_deposits(p_institutions bigint[], p_keys text[], p_digests bytea[],
                                     p_cards text[], p_learners bigint[], p_items text[],
                                     p_kinds text[], p_results text[], p_completed_on date[],
                                     p_evidence bytea[], p_terminals text[] DEFAULT NULL,
                                     p_sequences numeric[] DEFAULT NULL)
    RETURNS SETOF lcb_prepared
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    n integer := cardinality(p_keys);
    distinct_keys integer;
    answers lcb_prepared[];
    learners bigint[];
    refused_for_good boolean;
BEGIN
    -- 1. A member refused (or found posted) here gets its final answer and
    -- no learner, so no lock. Unnest pads missing terminal arrays with NULL.
    -- The inner OFFSET 0 computes each member's answer once, not once for
    -- each aggregate that reads it.
    SELECT array_agg(c.answer ORDER BY c.ord),
           array_agg(CASE WHEN c.answer IS NULL THEN c.learner END ORDER BY c.ord),
           count(DISTINCT (c.institution, c.key)),
           bool_or(lcb_outcome_refused_for_good((c.answer).error_code))
        INTO answers, learners, distinct_keys, refused_for_good
    FROM (
        SELECT u.ord, u.institution, u.key, COALESCE(cr.learner_id, u.learner) AS learner,
            CASE
            WHEN u.terminal IS NOT NULL AND EXISTS (
                    SELECT 1 FROM taps WHERE institution_id = u.institution
                    AND terminal = u.terminal AND sequence = u.sequence) THEN
                lcb_refusal('sequence_replayed', 'sequence number ' || u.sequence
                            || ' was used for a tap')
            WHEN r.request_digest = u.digest THEN
                lcb_refusal(r.error_code, r.error_message)
            WHEN r.request_digest IS NOT NULL THEN
                lcb_refusal('sequence_replayed', 'sequence number ' || u.sequence
                            || ' was used for a different outcome')
            WHEN t.request_digest <> u.digest THEN
                lcb_refusal('idempotency_conflict', 'idempotency key ' || u.key
                            || ' was used for a different posting')
            WHEN t.id IS NOT NULL THEN
                lcb_duplicate(t.id, t.hash)
            WHEN u.card IS NOT NULL AND cr.error_code IS NOT NULL THEN
                lcb_refusal(cr.error_code, cr.error_message)
            WHEN u.card IS NULL AND NOT EXISTS (SELECT 1 FROM learners WHERE id = u.learner) THEN
                lcb_refusal('learner_not_found', 'no learner ' || u.learner)
            WHEN i.code IS NULL OR i.kind <> u.kind THEN
                lcb_refusal(u.kind || '_not_found', 'no ' || u.kind || ' with code ' || u.item)
            WHEN i.institution_id <> u.institution THEN
                lcb_refusal(u.kind || '_not_owned',
                            u.kind || ' ' || u.item || ' belongs to another institution')
            END AS answer
        FROM unnest(p_institutions, p_keys, p_digests, p_cards, p_learners, p_items, p_kinds,
                    p_terminals, p_sequences)
             WITH ORDINALITY AS u(institution, key, digest, card, learner, item, kind, terminal,
                                  sequence, ord)
        LEFT JOIN lcb_card_refusals(p_cards) cr ON cr.ord = u.ord
        LEFT JOIN LATERAL (
            SELECT * FROM terminal_outcome_refusals WHERE institution_id = u.institution
            AND terminal = u.terminal AND sequence = u.sequence OFFSET 0) r ON true
        LEFT JOIN LATERAL (
            SELECT * FROM transactions WHERE institution_id = u.institution
            AND idempotency_key = u.key OFFSET 0) t ON true
        LEFT JOIN LATERAL (SELECT * FROM catalogue WHERE code = u.item OFFSET 0) i ON true
        OFFSET 0
    ) c;

    -- Two members under one key: nothing is locked or written yet, so start
    -- again, member by member.
    IF distinct_keys <> n THEN
        IF p_terminals IS NULL THEN
            RETURN QUERY
            SELECT p.* FROM unnest(p_institutions, p_keys, p_digests, p_cards, p_learners, p_items,
                                   p_kinds, p_results, p_completed_on, p_evidence)
                WITH ORDINALITY AS u(institution, key, digest, card, learner, item, kind, result,
                                     completed_on, evidence, ord)
            CROSS JOIN LATERAL lcb_prepare_deposit(u.institution, u.key, u.digest, u.card,
                                                   u.learner, u.item, u.kind, u.result,
                                                   u.completed_on, u.evidence) AS p
            ORDER BY u.ord;
        ELSE
            RETURN QUERY
            SELECT p.* FROM unnest(p_institutions, p_keys, p_digests, p_cards, p_learners, p_items,
                                   p_kinds, p_results, p_completed_on, p_evidence, p_terminals,
                                   p_sequences)
                WITH ORDINALITY AS u(institution, key, digest, card, learner, item, kind, result,
                                     completed_on, evidence, terminal, sequence, ord)
            CROSS JOIN LATERAL lcb_prepare_terminal_outcome(u.institution, u.key, u.digest,
                                                            u.card, u.learner, u.item, u.kind,
                                                            u.result, u.completed_on,
                                                            u.evidence, u.terminal,
                                                            u.sequence) AS p
            ORDER BY u.ord;
        END IF;
        RETURN;
    END IF;

    -- 2. Locked in the members' order: unnest gives them in order, and each
    -- lock is an index probe made as its member comes (a join could hash
    -- the whole accounts table and lock in its own order).
    PERFORM 1 FROM unnest(learners) AS l(learner)
    CROSS JOIN LATERAL (
        SELECT a.id FROM accounts a WHERE a.learner_id = l.learner FOR UPDATE) locked;

    -- 3. A new statement, so a new snapshot: it sees what the lock holders
    -- we waited for committed. (An OFFSET 0 fence like 1's made groups
    -- several times slower here: the planner's own plan is kept.)
    SELECT array_agg(c.answer ORDER BY c.ord) INTO answers
    FROM (
        SELECT u.ord,
            CASE
            WHEN u.learner IS NULL THEN answers[u.ord]
            WHEN t.request_digest <> u.digest THEN
                lcb_refusal('idempotency_conflict', 'idempotency key ' || u.key
                            || ' was used for a different posting')
            WHEN t.id IS NOT NULL THEN
                lcb_duplicate(t.id, t.hash)
            WHEN i.kind = 'course' AND EXISTS (
                    SELECT 1 FROM transactions d JOIN entries e ON e.transaction_id = d.id
                    WHERE d.chain_account_id = a.id AND d.kind = 'deposit'
                      AND d.item_code = i.code AND e.account_id = a.id AND e.unit = i.unit
                      AND e.amount > 0
                      AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses = d.id)) THEN
                lcb_refusal('course_already_credited', 'the credits of course ' || i.code
                            || ' were deposited for this learner already')
            ELSE
                ROW(NULL, NULL, NULL, NULL, a.id, a.head_seq, a.head_hash, 'deposit', u.item,
                    u.result, u.completed_on, u.evidence, NULL,
                    CASE WHEN rule.result IS NOT NULL THEN
                        'recognition:' || i.code || '/' || rule.result || '@' || rule.version
                    ELSE '' END,
                    ARRAY[issuer.id, a.id], ARRAY[i.unit, i.unit],
                    ARRAY[-COALESCE(rule.credit_value, i.credit_value),
                          COALESCE(rule.credit_value, i.credit_value)])::lcb_prepared
            END AS answer
        FROM unnest(p_institutions, p_keys, p_digests, learners, p_items, p_results,
                    p_completed_on, p_evidence)
             WITH ORDINALITY AS u(institution, key, digest, learner, item, result, completed_on,
                                  evidence, ord)
        LEFT JOIN LATERAL (
            SELECT * FROM accounts WHERE learner_id = u.learner OFFSET 0) a ON true
        LEFT JOIN LATERAL (
            SELECT * FROM transactions WHERE institution_id = u.institution
            AND idempotency_key = u.key OFFSET 0) t ON u.learner IS NOT NULL
        LEFT JOIN LATERAL (SELECT * FROM catalogue WHERE code = u.item OFFSET 0) i
            ON u.learner IS NOT NULL
        LEFT JOIN LATERAL (
            SELECT * FROM recognition_rules r
            WHERE r.certificate_id = i.id AND r.result = u.result AND r.valid_from <= current_date
            ORDER BY r.version DESC LIMIT 1) rule ON i.kind = 'certificate'
        LEFT JOIN LATERAL (
            SELECT * FROM accounts WHERE institution_id = u.institution OFFSET 0) issuer
            ON u.learner IS NOT NULL
    ) c;

    -- 4. 007's final refusals of a terminal's outcome, kept for its replays;
    -- all of them come from 1.
    IF p_terminals IS NOT NULL AND refused_for_good THEN
        INSERT INTO terminal_outcome_refusals (institution_id, terminal, sequence, request_digest,
                                               error_code, error_message)
            SELECT p_institutions[m], p_terminals[m], p_sequences[m], p_digests[m],
                   (answers[m]).error_code, (answers[m]).error_message
            FROM generate_subscripts(answers, 1) AS m
            WHERE lcb_outcome_refused_for_good((answers[m]).error_code)
            ON CONFLICT DO NOTHING;
    END IF;

    FOR i IN 1 .. n LOOP
        RETURN NEXT answers[i];
    END LOOP;
END $$;

-- A replay's answer: the transaction already recorded under the key.
CREATE FUNCTION lcb_duplicate(p_id uuid, p_hash bytea) RETURNS lcb_prepared
LANGUAGE sql IMMUTABLE AS $$
    SELECT ROW(NULL, NULL, p_id, p_hash, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               NULL, NULL, NULL, NULL)::lcb_prepared
$$;

-- 006's group append, planned once per session. Its statements over
-- unnest() of the group's arrays were planned afresh at every call while
-- the fresh plans looked cheaper than the generic one, as they do for small
-- groups (a fresh plan sees the arrays' real lengths, the generic one
-- guesses ten rows): about 180 us of PostgreSQL's CPU for a group of one.
-- The generic plans probe unique indexes row by row, which is right for any
-- group; only the stored-balance upsert hashes the accounts table instead
-- while that table is small (a few thousand accounts), which is as cheap.
ALTER FUNCTION lcb_append_many(uuid[], text[], bigint[], bigint[], bytea[], bigint[], bigint[],
                               text[], bytea[], text[], text[], date[], bytea[], uuid[], text[],
                               bytea[], text[], bytea[], integer[], bigint[], text[], bigint[])
    SET plan_cache_mode = force_generic_plan;

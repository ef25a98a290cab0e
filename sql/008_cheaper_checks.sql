-- 008: the same checks, at a fraction of their cost per posting. Measured
-- with pg_stat_statements and track_functions under bench/throughput
-- (docs/performance.md, "Where the time goes"): per posting,
-- lcb_card_refusal and lcb_course_credited cost about 33 us each, because a
-- LANGUAGE sql function that is not inlined is planned again at every call;
-- a deposit's prepare nested five plpgsql calls, each dearer than the
-- lookup it wraps; the per-row double-entry trigger ran one query per entry
-- at commit; and a batch of balance inquiries hashed the whole cards table
-- twice, since for a few hundred cards the planner prices index probes
-- above a scan.

-- Why each card of a list cannot be used, or a NULL code, in the order
-- given; now also the learner of each usable card, so that a batch of
-- balance inquiries reads cards once. OFFSET 0 keeps each card a probe of
-- cards_pkey: without it the planner may scan and hash the whole table.
DROP FUNCTION lcb_card_refusals(text[]);
CREATE FUNCTION lcb_card_refusals(p_cards text[])
    RETURNS TABLE (ord bigint, error_code text, error_message text, learner_id bigint)
LANGUAGE sql STABLE AS $$
    SELECT q.ord,
           CASE WHEN c.number IS NULL THEN 'card_not_found'
                WHEN c.status <> 'active' THEN 'card_' || c.status END,
           CASE WHEN c.number IS NULL THEN 'no card ' || q.card
                WHEN c.status <> 'active' THEN 'card ' || q.card || ' is ' || c.status
                    || CASE WHEN c.replaced_by IS NOT NULL THEN '; use card ' || c.replaced_by
                            ELSE '' END END,
           CASE WHEN c.status = 'active' THEN c.learner_id END
    FROM unnest(p_cards) WITH ORDINALITY AS q(card, ord)
    LEFT JOIN LATERAL (SELECT * FROM cards WHERE cards.number = q.card OFFSET 0) c ON true
$$;

-- plpgsql keeps the plan of its query (with lcb_card_refusals inlined in it)
-- for the session; the LANGUAGE sql form of 006 was planned at every call.
CREATE OR REPLACE FUNCTION lcb_card_refusal(p_card text) RETURNS lcb_prepared
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT lcb_refusal(r.error_code, r.error_message)
            FROM lcb_card_refusals(ARRAY[p_card]) r
            WHERE r.error_code IS NOT NULL);
END $$;

-- A batch of balance inquiries (daemon/balances.c): one row per balance of
-- each card, or one row with the card's refusal or with a NULL unit (a card
-- with no balances yet), in the order asked. OFFSET 0 as above: each
-- learner's balances are index probes, never a hash of the whole table.
-- Planning this query took about half as long as running it for 50 cards,
-- and a custom plan was made at every call (the array's length changes the
-- estimates); the OFFSET 0 probes leave the planner one shape, so one
-- generic plan per session serves every batch.
CREATE FUNCTION lcb_card_balances(p_cards text[])
    RETURNS TABLE (ord bigint, error_code text, error_message text, unit text, amount bigint,
                   scale integer)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY
    SELECT r.ord, r.error_code, r.error_message, b.unit, b.amount, b.scale
    FROM lcb_card_refusals(p_cards) r
    LEFT JOIN LATERAL (
        SELECT b.unit, b.amount, u.scale
        FROM accounts a
        JOIN balances b ON b.account_id = a.id
        JOIN units u ON u.code = b.unit
        WHERE a.learner_id = r.learner_id
        OFFSET 0) b ON true
    ORDER BY r.ord, b.unit;
END $$;

-- Same question as 004's, in plpgsql so that its plan is kept.
CREATE OR REPLACE FUNCTION lcb_course_credited(p_chain_account bigint, p_course text, p_unit text)
    RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM transactions t JOIN entries e ON e.transaction_id = t.id
        WHERE t.chain_account_id = p_chain_account AND t.kind = 'deposit'
          AND t.item_code = p_course AND e.account_id = p_chain_account AND e.unit = p_unit
          AND e.amount > 0
          AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses = t.id));
END $$;

-- The chain lock and the replay check in one function rather than three
-- nested calls; a plpgsql call costs more than the lookups it wraps.
CREATE OR REPLACE FUNCTION lcb_lock_chain_for(p_learner_id bigint, p_institution_id bigint,
                                              p_key text, p_digest bytea) RETURNS lcb_prepared
LANGUAGE plpgsql AS $$
DECLARE
    answer lcb_prepared;
    replay lcb_prepared;
BEGIN
    SELECT a.id, a.head_seq, a.head_hash INTO answer.chain_account, answer.head_seq, answer.head_hash
        FROM accounts a WHERE a.learner_id = p_learner_id FOR UPDATE;
    replay := lcb_replay(p_institution_id, p_key, p_digest);
    IF NOT (replay IS NULL) THEN
        RETURN replay;
    END IF;
    RETURN answer;
END $$;

-- 004's deposit, with the card's refusal and its learner read by one
-- statement instead of lcb_card_refusal and a second lookup of the card.
CREATE OR REPLACE FUNCTION lcb_prepare_deposit(p_institution_id bigint, p_key text, p_digest bytea,
                                               p_card text, p_learner_id bigint, p_item_code text,
                                               p_item_kind text, p_result text, p_completed_on date,
                                               p_evidence bytea) RETURNS lcb_prepared
LANGUAGE plpgsql AS $$
DECLARE
    answer lcb_prepared := lcb_replay(p_institution_id, p_key, p_digest);
    learner bigint := p_learner_id;
    refused text;
    refused_why text;
    item catalogue;
    rule recognition_rules;
    issuer bigint;
    amount bigint;
BEGIN
    IF NOT (answer IS NULL) THEN
        RETURN answer;
    END IF;
    IF p_card IS NOT NULL THEN
        SELECT r.error_code, r.error_message, r.learner_id INTO refused, refused_why, learner
            FROM lcb_card_refusals(ARRAY[p_card]) r;
        IF refused IS NOT NULL THEN
            RETURN lcb_refusal(refused, refused_why);
        END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM learners WHERE id = learner) THEN
        RETURN lcb_refusal('learner_not_found', 'no learner ' || p_learner_id);
    END IF;
    SELECT * INTO item FROM catalogue WHERE code = p_item_code;
    IF NOT FOUND OR item.kind <> p_item_kind THEN
        RETURN lcb_refusal(p_item_kind || '_not_found', 'no ' || p_item_kind || ' with code ' || p_item_code);
    END IF;
    IF item.institution_id <> p_institution_id THEN
        RETURN lcb_refusal(p_item_kind || '_not_owned',
                           p_item_kind || ' ' || p_item_code || ' belongs to another institution');
    END IF;
    answer := lcb_lock_chain_for(learner, p_institution_id, p_key, p_digest);
    IF lcb_is_final(answer) THEN
        RETURN answer;
    END IF;
    IF item.kind = 'course' AND lcb_course_credited(answer.chain_account, item.code, item.unit) THEN
        RETURN lcb_refusal('course_already_credited',
                           'the credits of course ' || item.code || ' were deposited for this learner already');
    END IF;
    answer.reason := '';
    amount := item.credit_value;
    IF item.kind = 'certificate' THEN
        SELECT * INTO rule FROM recognition_rules r
            WHERE r.certificate_id = item.id AND r.result = p_result AND r.valid_from <= current_date
            ORDER BY r.version DESC LIMIT 1;
        IF FOUND THEN
            amount := rule.credit_value;
            answer.reason := 'recognition:' || item.code || '/' || rule.result || '@' || rule.version;
        END IF;
    END IF;
    SELECT a.id INTO issuer FROM accounts a WHERE a.institution_id = p_institution_id;
    answer.kind := 'deposit';
    answer.item_code := p_item_code;
    answer.result := p_result;
    answer.completed_on := p_completed_on;
    answer.evidence_sha256 := p_evidence;
    answer.accounts := ARRAY[issuer, answer.chain_account];
    answer.units := ARRAY[item.unit, item.unit];
    answer.amounts := ARRAY[-amount, amount];
    RETURN answer;
END $$;

-- Double entry, checked once per INSERT statement over every transaction it
-- touched, instead of once per entry row at commit. Entries are append-only,
-- so a transaction that balances when its statement ends stays balanced,
-- and an entry added later to any transaction is checked with all of that
-- transaction's entries. What changes: a transaction's entries must now all
-- be inserted by one statement, as lcb_append_many (006) does; a
-- transaction built from two INSERTs is refused at the first.
DROP TRIGGER entries_balanced ON entries;
DROP FUNCTION lcb_check_balanced();

CREATE FUNCTION lcb_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    unbalanced uuid;
BEGIN
    SELECT e.transaction_id INTO unbalanced
    FROM entries e
    WHERE e.transaction_id IN (SELECT DISTINCT transaction_id FROM added_entries)
    GROUP BY e.transaction_id, e.unit
    HAVING sum(e.amount) <> 0
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'LCB00',
            MESSAGE = 'unbalanced: transaction ' || unbalanced || ' does not sum to zero';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER entries_balanced AFTER INSERT ON entries
    REFERENCING NEW TABLE AS added_entries
    FOR EACH STATEMENT EXECUTE FUNCTION lcb_check_balanced();

-- 007: one sequence counter per terminal for TAP, OUTCOME and uploaded taps
-- (protocol/SPEC.md 7.4: "(terminal id, sequence) is the idempotency key";
-- a number used before with other content is refused sequence_replayed).
-- Until now a tap's number was remembered in taps, an outcome's only when
-- it was posted (as its transaction's key "outcome:TERMINAL:SEQ"), and each
-- was blind to the other: a number a tap had used was taken again by an
-- outcome, and one an outcome had used, or had been refused with, by a tap
-- or by an outcome with other content. Found by bench/authz-test
-- (docs/reliability.md, Authorization matrix).

-- The final refusals of terminals' outcomes, kept for ever like taps, so
-- that a replay answers the original refusal and other content under the
-- same number is sequence_replayed.
CREATE TABLE terminal_outcome_refusals (
    institution_id bigint NOT NULL REFERENCES institutions (id),
    terminal       text NOT NULL CHECK (terminal ~ '^[A-Za-z0-9_.-]{1,32}$'),
    sequence       numeric(20, 0) NOT NULL CHECK (sequence BETWEEN 1 AND 18446744073709551615),
    request_digest bytea NOT NULL CHECK (octet_length(request_digest) = 32),
    error_code     text NOT NULL CHECK (error_code ~ '^[a-z][a-z0-9_]{0,31}$'),
    error_message  text NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (institution_id, terminal, sequence)
);

CREATE TRIGGER terminal_outcome_refusals_append_only
    BEFORE UPDATE OR DELETE ON terminal_outcome_refusals
    FOR EACH ROW EXECUTE FUNCTION lcb_refuse_change();
CREATE TRIGGER terminal_outcome_refusals_no_truncate BEFORE TRUNCATE ON terminal_outcome_refusals
    FOR EACH STATEMENT EXECUTE FUNCTION lcb_refuse_change();

-- Did this terminal use the number for an OUTCOME (posted, or refused for good)?
CREATE FUNCTION lcb_terminal_outcome_seen(p_institution_id bigint, p_terminal text,
                                          p_sequence numeric) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM transactions WHERE institution_id = p_institution_id
                   AND idempotency_key = 'outcome:' || p_terminal || ':' || p_sequence)
        OR EXISTS (SELECT 1 FROM terminal_outcome_refusals WHERE institution_id = p_institution_id
                   AND terminal = p_terminal AND sequence = p_sequence)
$$;

-- 005's lcb_tap_check, and a number an OUTCOME used is sequence_replayed
-- for a tap (a tap's answer is then never recorded, as for any replay).
-- 005's callers name lcb_tap_check, so the new check takes the name and
-- asks the old one, kept as lcb_tap_check_005, first.
ALTER FUNCTION lcb_tap_check(bigint, text, numeric, text, text, text, bigint, integer)
    RENAME TO lcb_tap_check_005;

CREATE FUNCTION lcb_tap_check(p_institution_id bigint, p_terminal text, p_sequence numeric,
                              p_card text, p_session text, p_direction text,
                              p_terminal_ms bigint, p_window_s integer) RETURNS lcb_tap_check
LANGUAGE plpgsql STABLE AS $$
DECLARE
    answer lcb_tap_check := lcb_tap_check_005(p_institution_id, p_terminal, p_sequence, p_card,
                                              p_session, p_direction, p_terminal_ms,
                                              p_window_s);
BEGIN
    IF NOT answer.seen AND lcb_terminal_outcome_seen(p_institution_id, p_terminal, p_sequence) THEN
        answer := ROW(true, 'sequence_replayed', NULL, NULL, NULL)::lcb_tap_check;
    END IF;
    RETURN answer;
END $$;

-- A terminal's OUTCOME (key "outcome:TERMINAL:SEQ"): lcb_prepare_deposit's
-- ten parameters, then the terminal and its sequence number. A number a
-- tap used is sequence_replayed; one refused for good before answers that
-- refusal again (same content) or sequence_replayed (other content); a
-- posted one is lcb_prepare_deposit's replay (duplicate, or
-- idempotency_conflict, which lcbd calls sequence_replayed on LCBP).
CREATE FUNCTION lcb_prepare_terminal_outcome(p_institution_id bigint, p_key text, p_digest bytea,
                                             p_card text, p_learner_id bigint, p_item_code text,
                                             p_item_kind text, p_result text,
                                             p_completed_on date, p_evidence bytea,
                                             p_terminal text, p_sequence numeric)
    RETURNS lcb_prepared
LANGUAGE plpgsql AS $$
DECLARE
    refused terminal_outcome_refusals;
    answer lcb_prepared;
BEGIN
    IF EXISTS (SELECT 1 FROM taps WHERE institution_id = p_institution_id
               AND terminal = p_terminal AND sequence = p_sequence) THEN
        RETURN lcb_refusal('sequence_replayed', 'sequence number ' || p_sequence
                           || ' was used for a tap');
    END IF;
    SELECT * INTO refused FROM terminal_outcome_refusals WHERE institution_id = p_institution_id
        AND terminal = p_terminal AND sequence = p_sequence;
    IF FOUND AND refused.request_digest = p_digest THEN
        RETURN lcb_refusal(refused.error_code, refused.error_message);
    ELSIF FOUND THEN
        RETURN lcb_refusal('sequence_replayed', 'sequence number ' || p_sequence
                           || ' was used for a different outcome');
    END IF;
    answer := lcb_prepare_deposit(p_institution_id, p_key, p_digest, p_card, p_learner_id,
                                  p_item_code, p_item_kind, p_result, p_completed_on, p_evidence);
    -- the final refusals of SPEC.md 7.4 that an outcome can get
    IF answer.error_code IN ('card_not_found', 'card_lost', 'card_replaced', 'card_cancelled',
                             'course_not_found', 'course_not_owned') THEN
        INSERT INTO terminal_outcome_refusals (institution_id, terminal, sequence, request_digest,
                                               error_code, error_message)
            VALUES (p_institution_id, p_terminal, p_sequence, p_digest, answer.error_code,
                    answer.error_message)
            ON CONFLICT DO NOTHING;
    END IF;
    RETURN answer;
END $$;

REVOKE ALL ON terminal_outcome_refusals FROM lcb_app;
GRANT SELECT, INSERT ON terminal_outcome_refusals TO lcb_app;

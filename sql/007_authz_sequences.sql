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
CREATE OR REPLACE FUNCTION lcb_tap_check(p_institution_id bigint, p_terminal text,
                                         p_sequence numeric, p_card text, p_session text,
                                         p_direction text, p_terminal_ms bigint,
                                         p_window_s integer) RETURNS lcb_tap_check
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t taps;
    s course_sessions;
    answer lcb_tap_check := ROW(false, NULL, NULL, NULL, NULL)::lcb_tap_check;
    now_ms bigint := lcb_time_ms(now());
    refusal lcb_prepared;
BEGIN
    SELECT * INTO t FROM taps WHERE institution_id = p_institution_id AND terminal = p_terminal
        AND sequence = p_sequence;
    IF FOUND THEN
        answer.seen := true;
        answer.seen_status := CASE WHEN t.card = p_card AND t.session = p_session
                                        AND t.direction = p_direction
                                        AND t.terminal_time_ms = p_terminal_ms
                                   THEN t.status ELSE 'sequence_replayed' END;
        answer.learner_id := t.learner_id;
        answer.catalogue_id := t.catalogue_id;
        RETURN answer;
    END IF;
    IF lcb_terminal_outcome_seen(p_institution_id, p_terminal, p_sequence) THEN
        answer.seen := true;
        answer.seen_status := 'sequence_replayed';
        RETURN answer;
    END IF;
    SELECT learner_id INTO answer.learner_id FROM cards WHERE number = p_card;
    SELECT * INTO s FROM course_sessions WHERE code = p_session;
    answer.catalogue_id := s.catalogue_id;
    refusal := lcb_card_refusal(p_card);
    IF NOT (refusal IS NULL) THEN
        answer.refusal := refusal.error_code;
    ELSIF s.id IS NULL THEN
        answer.refusal := 'session_not_found';
    ELSIF s.institution_id <> p_institution_id THEN
        answer.refusal := 'course_not_owned';
    ELSIF p_terminal_ms > now_ms + lcb_clock_tolerance_ms() THEN
        answer.refusal := 'tap_in_future';
    ELSIF p_terminal_ms < now_ms - coalesce(p_window_s, 604800) * 1000::bigint THEN
        answer.refusal := 'tap_too_old';
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
